//! `/admin/deliveries`: what was sent to ATS receivers, and replays.

use axum::{
    extract::{Path, Query, State},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    auth::Operator,
    error::ApiError,
    pagination::{page, uuid_param},
};
use crate::{
    domain::rfc3339,
    service::{packages::parse_page_size, Gateway},
    store::{AttemptRecord, DeliveryFilter, DeliveryRecord, DeliveryStatus},
    workers::delivery::message_id,
};

pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/admin/deliveries", get(list_deliveries))
        .route("/admin/deliveries/{id}/retry", post(retry_delivery))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub at: String,
    /// The receiver's status code; absent when no answer came (network error, timeout, refusal).
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    /// The first 20 KB of the receiver's answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub order_id: Uuid,
    /// The `webhook-id` header of every attempt of this delivery.
    pub webhook_id: String,
    pub url: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// The body sent (the same for every attempt).
    pub body: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptView>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<DeliveryView>,
    pub next: Option<String>,
}

pub fn delivery_view(d: &DeliveryRecord, attempts: Option<Vec<AttemptRecord>>) -> DeliveryView {
    DeliveryView {
        id: d.id,
        order_id: d.order_id,
        webhook_id: message_id(d.id),
        url: d.url.clone(),
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.map(rfc3339),
        last_error: d.last_error.clone(),
        created_at: rfc3339(d.created_at),
        delivered_at: d.delivered_at.map(rfc3339),
        body: serde_json::from_str(&d.body).unwrap_or(serde_json::Value::Null),
        attempt_log: attempts.map(|list| {
            list.into_iter()
                .map(|a| AttemptView {
                    at: rfc3339(a.at),
                    status_code: a.status_code,
                    duration_ms: a.duration_ms,
                    response_body: a.response_body,
                    error: a.error,
                })
                .collect()
        }),
    }
}

/// Every delivery of an order with its attempts, newest first.
pub async fn order_deliveries(
    gateway: &Gateway,
    order_id: Uuid,
) -> Result<Vec<DeliveryView>, ApiError> {
    let filter = DeliveryFilter {
        order_id: Some(order_id),
        limit: 1000,
        ..Default::default()
    };
    let mut views = Vec::new();
    for delivery in gateway.store.list_deliveries(&filter).await? {
        let attempts = gateway.store.list_attempts(delivery.id).await?;
        views.push(delivery_view(&delivery, Some(attempts)));
    }
    Ok(views)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListQuery {
    #[param(value_type = Option<DeliveryStatus>)]
    pub status: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub order_id: Option<String>,
    /// Default 25, at most 200.
    #[param(value_type = Option<u8>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
    /// The `next` of the previous page.
    #[param(value_type = Option<Uuid>)]
    pub next: Option<String>,
}

#[utoipa::path(get, path = "/admin/deliveries", tag = "Admin", params(DeliveryListQuery),
    responses((status = 200, body = DeliveryList), (status = 400, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn list_deliveries(
    _: Operator,
    State(gateway): State<Gateway>,
    Query(query): Query<DeliveryListQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            DeliveryStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!("status: '{s}' is not a delivery status"))
            })
        })
        .transpose()?;
    let limit = parse_page_size(query.page_size.as_deref(), 25, 200)?;
    let filter = DeliveryFilter {
        status,
        order_id: uuid_param("order_id", query.order_id.as_deref())?,
        before: uuid_param("next", query.next.as_deref())?,
        limit: limit as i64 + 1,
        ..Default::default()
    };
    let (deliveries, next) = page(gateway.store.list_deliveries(&filter).await?, limit, |d| {
        d.id
    });
    Ok(Json(DeliveryList {
        data: deliveries.iter().map(|d| delivery_view(d, None)).collect(),
        next,
    }))
}

#[utoipa::path(post, path = "/admin/deliveries/{id}/retry", tag = "Admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = DeliveryView, description = "Queued to be sent again now"), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody, description = "Pending, superseded, or not the order's newest state")),
    security(("admin" = [])))]
pub async fn retry_delivery(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    let delivery_id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::not_found(format!("no delivery with id '{id}'")))?;
    gateway.retry_delivery(delivery_id).await?;
    let delivery = gateway
        .store
        .get_delivery(delivery_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no delivery with id '{id}'")))?;
    Ok(Json(delivery_view(&delivery, None)))
}
