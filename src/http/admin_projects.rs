//! A project's own settings: its name and retention (`PATCH /admin/projects/{id}`) and rotating
//! its signing secret.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    routing::{patch, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    admin::{path_id, project_view, ProjectView},
    auth::Operator,
    error::ApiError,
    json::parse_json,
};
use crate::{
    domain::rfc3339,
    service::{retention::ProjectPatch, Gateway},
};

pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/admin/projects/{id}", patch(update_project))
        .route(
            "/admin/projects/{id}/signing-secret",
            post(rotate_signing_secret),
        )
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Orders closed longer ago than this many days lose their personal data (as on an erasure
    /// request), checked every `RETENTION_INTERVAL`; null keeps them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 3650)]
    pub retention_days: Option<Option<i32>>,
}

/// A whole number that may be set to null: absent is `None`, null is `Some(None)`. JSON Schema
/// counts `30.0` as an integer, so it is read as 30.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i32>>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(Some(None));
    };
    let whole = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
            .map(|f| f as i64)
    });
    whole
        .map(|n| Some(Some(i32::try_from(n).unwrap_or(i32::MAX))))
        .ok_or_else(|| serde::de::Error::custom("expected a whole number"))
}

#[utoipa::path(patch, path = "/admin/projects/{id}", tag = "Admin", params(("id" = Uuid, Path)),
    request_body = UpdateProjectRequest,
    responses((status = 200, body = ProjectView), (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn update_project(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ProjectView>, ApiError> {
    let id = path_id(&id, "project")?;
    let (request, _) = parse_json::<UpdateProjectRequest>(&body)?;
    let project = gateway
        .update_project(
            id,
            ProjectPatch {
                name: request.name,
                retention_days: request.retention_days,
            },
        )
        .await?;
    Ok(Json(project_view(&project)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationRequest {
    /// How long the replaced secret still signs deliveries, e.g. `24h` (the default); at most `7d`.
    #[schema(example = "24h", max_length = 32)]
    pub overlap: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecretView {
    /// The new secret, shown this once.
    pub signing_secret: String,
    /// Until when deliveries also carry a signature with the replaced secret.
    pub previous_valid_until: String,
}

#[utoipa::path(post, path = "/admin/projects/{id}/signing-secret", tag = "Admin", params(("id" = Uuid, Path)),
    request_body(content = Option<RotationRequest>, description = "Optional; without a body (or with null) the overlap is 24h"),
    responses((status = 201, body = RotatedSecretView), (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn rotate_signing_secret(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<RotatedSecretView>), ApiError> {
    let id = path_id(&id, "project")?;
    let request = if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        RotationRequest::default()
    } else {
        parse_json::<RotationRequest>(&body)?.0
    };
    let rotated = gateway
        .rotate_signing_secret(id, request.overlap.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RotatedSecretView {
            signing_secret: rotated.signing_secret.expose().clone(),
            previous_valid_until: rfc3339(rotated.previous_valid_until),
        }),
    ))
}
