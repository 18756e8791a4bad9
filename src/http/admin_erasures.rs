//! `POST /admin/projects/{id}/erasures`: erase a candidate's personal data from every order of the
//! project, and at the vendors that document a deletion when asked.

use axum::{
    body::Bytes,
    extract::{Path, State},
    routing::post,
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{admin::path_id, auth::Operator, error::ApiError, json::parse_json};
use crate::{
    domain::OrderStatus,
    service::{
        erasure::{ErasedOrder, VendorErasure},
        Gateway,
    },
};

pub fn routes() -> Router<Gateway> {
    Router::new().route("/admin/projects/{id}/erasures", post(erase_candidate))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// The candidate's email, in any case.
    #[schema(min_length = 1, max_length = 254, example = "ada@example.com")]
    pub email: String,
    /// Also delete the candidate at vendors that document a deletion (TestGorilla, TestInvite).
    #[serde(default)]
    pub at_vendor: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorErasureView {
    pub provider: String,
    /// The vendor's id of the candidate or invitation.
    pub remote_id: Option<String>,
    /// `deleted`, `unsupported` (the vendor documents no deletion), `refused` (the vendor keeps
    /// this candidate) or `failed` (finish at the vendor).
    #[schema(example = "deleted")]
    pub outcome: String,
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErasedOrderView {
    pub id: Uuid,
    /// The order's status once erased: an open order is closed as `cancelled` first.
    pub status: OrderStatus,
    /// What the vendor did; only with `at_vendor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<VendorErasureView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureView {
    pub orders_erased: usize,
    pub orders: Vec<ErasedOrderView>,
}

fn vendor_view(vendor: VendorErasure) -> VendorErasureView {
    VendorErasureView {
        provider: vendor.provider,
        remote_id: vendor.remote_id,
        outcome: vendor.outcome.to_string(),
        message: vendor.message,
    }
}

fn order_view(order: ErasedOrder) -> ErasedOrderView {
    ErasedOrderView {
        id: order.order_id,
        status: order.status,
        vendor: order.vendor.map(vendor_view),
    }
}

#[utoipa::path(post, path = "/admin/projects/{id}/erasures", tag = "Admin", params(("id" = Uuid, Path)),
    request_body = ErasureRequest,
    responses((status = 200, body = ErasureView, description = "The orders erased (none when no order has that email)"),
        (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody, description = "An order of this candidate is being placed at its vendor; nothing was changed")),
    security(("admin" = [])))]
pub async fn erase_candidate(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ErasureView>, ApiError> {
    let project_id = path_id(&id, "project")?;
    let (request, _) = parse_json::<ErasureRequest>(&body)?;
    let erased = gateway
        .erase_candidate(project_id, &request.email, request.at_vendor)
        .await?;
    Ok(Json(ErasureView {
        orders_erased: erased.len(),
        orders: erased.into_iter().map(order_view).collect(),
    }))
}
