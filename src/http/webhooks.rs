//! `/webhooks/{provider}/{token}`: vendor callbacks.

use axum::{
    body::Bytes,
    extract::{Path, State},
    routing::post,
    Json, Router,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::service::Gateway;

pub fn routes() -> Router<Gateway> {
    Router::new().route("/webhooks/{provider}/{token}", post(receive))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub status: String,
}

/// Accepts a vendor's callback at once; the result is re-read from the vendor in the background.
#[utoipa::path(post, path = "/webhooks/{provider}/{token}", tag = "Webhooks",
    params(("provider" = String, Path, description = "testinvite or interviewmocha"), ("token" = String, Path, description = "The order's secret callback token")),
    request_body(content = Object, description = "The vendor's callback body (a hint only)"),
    responses((status = 200, body = Accepted), (status = 400, body = super::error::ErrorBody, description = "Malformed body"),
              (status = 404, body = super::error::ErrorBody, description = "Unknown token")))]
pub async fn receive(
    State(gateway): State<Gateway>,
    Path((provider, token)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Accepted>, ApiError> {
    gateway.receive_callback(&provider, &token, &body).await?;
    Ok(Json(Accepted {
        status: "accepted".into(),
    }))
}
