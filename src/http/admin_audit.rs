//! `GET /admin/audit-events`: the audit trail of operators' actions, newest first.

use axum::{
    extract::{Query, State},
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::{
    openapi::{schema::Type, ObjectBuilder, RefOr, Schema},
    IntoParams, PartialSchema, ToSchema,
};
use uuid::Uuid;

use super::{auth::Operator, error::ApiError, pagination::uuid_param};
use crate::{
    domain::rfc3339,
    service::{audit::ACTIONS, packages::parse_page_size, Gateway},
    store::{AuditEvent, AuditFilter},
};

pub fn routes() -> Router<Gateway> {
    Router::new().route("/admin/audit-events", get(list_audit_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only actions on this project's data.
    #[param(value_type = Option<Uuid>)]
    pub project_id: Option<String>,
    /// Only this action, e.g. `order.cancel`.
    #[param(value_type = Option<AuditAction>)]
    pub action: Option<String>,
    /// Default 50, at most 200.
    #[param(value_type = Option<u8>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
    /// The `next` of the previous page.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub next: Option<String>,
}

/// The names of `service::audit::ACTIONS` as a schema.
pub struct AuditAction;

impl PartialSchema for AuditAction {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ACTIONS.iter().copied()))
            .description(Some("An action the audit trail records."))
            .into()
    }
}

impl ToSchema for AuditAction {}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    pub at: String,
    /// `admin_api`, `console:<session id>`, or `console` for a sign-in that opened no session.
    pub actor: String,
    #[schema(value_type = AuditAction)]
    pub action: String,
    /// `project:<id>`, `api_key:<id>`, `account:<id>`, `order:<id>`, `delivery:<id>`, or
    /// `client:<address>` for a console sign-in.
    pub target: Option<String>,
    pub project_id: Option<Uuid>,
    /// `succeeded`, `refused` (401, 403, 429) or `failed`.
    pub outcome: String,
    pub status_code: i32,
    /// The `x-request-id` of the action: its log lines carry it.
    pub request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    pub data: Vec<AuditEventView>,
    /// The cursor of the next (older) page, when there is one.
    pub next: Option<String>,
}

fn view(event: AuditEvent) -> AuditEventView {
    let AuditEvent { id, event } = event;
    AuditEventView {
        id,
        at: rfc3339(event.at),
        actor: event.actor,
        action: event.action,
        target: event.target,
        project_id: event.project_id,
        outcome: event.outcome,
        status_code: event.status_code,
        request_id: event.request_id,
    }
}

#[utoipa::path(get, path = "/admin/audit-events", tag = "Admin", params(AuditQuery),
    responses((status = 200, body = AuditEventList), (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn list_audit_events(
    _: Operator,
    State(gateway): State<Gateway>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditEventList>, ApiError> {
    let limit = parse_page_size(query.page_size.as_deref(), 50, 200)?;
    // Any positive 64-bit number is a cursor: the events below it.
    let before = query
        .next
        .as_deref()
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n > 0 && v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| ApiError::bad_request("next: not a cursor of this list"))
        })
        .transpose()?;
    let filter = AuditFilter {
        project_id: uuid_param("project_id", query.project_id.as_deref())?,
        action: query.action,
        before,
        limit: limit as i64 + 1,
    };
    let mut events = gateway.audit_events(&filter).await?;
    let next = (events.len() > limit).then(|| {
        events.truncate(limit);
        events.last().map(|e| e.id.to_string())
    });
    Ok(Json(AuditEventList {
        data: events.into_iter().map(view).collect(),
        next: next.flatten(),
    }))
}
