//! `/unified/ats/assessments/*`: the StackOne-compatible API.

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::HeaderMap,
    routing::{get, patch, post},
    Json, Router,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{auth::UnifiedCaller, error::ApiError, json::parse_json};
use crate::{
    domain::{
        now, rfc3339, AssessmentOrder, AssessmentPackage, AssessmentResult, CreateOrderResult,
        OrderRequest, UpdateResultRequest,
    },
    service::{packages::PackageListing, results::current_result, Gateway},
    store::OrderRecord,
};

pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/unified/ats/assessments/packages", get(list_packages))
        .route("/unified/ats/assessments/packages/{id}", get(get_package))
        .route("/unified/ats/assessments/orders", post(order_assessment))
        .route("/unified/ats/assessments/orders/{id}", get(get_order))
        .route(
            "/unified/ats/assessments/orders/{id}/results",
            get(get_results),
        )
        .route(
            "/unified/ats/assessments/orders/{id}/result",
            patch(update_result),
        )
}

/// `AssessmentPackagePaginated`
#[derive(Debug, Serialize, ToSchema)]
pub struct PackagePage {
    pub data: Vec<AssessmentPackage>,
    /// The cursor of the next page; `null` on the last page.
    pub next: Option<String>,
}

/// `AssessmentPackageResult`
#[derive(Debug, Serialize, ToSchema)]
pub struct PackageEnvelope {
    pub data: AssessmentPackage,
}

/// `AssessmentOrderResult`
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderEnvelope {
    pub data: AssessmentOrder,
}

/// `AssessmentResultsResult`
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultEnvelope {
    pub data: AssessmentResult,
}

/// `UpdateResult`
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateResult {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub message: String,
    pub timestamp: String,
}

/// Query values by name; the first occurrence wins and unknown names are ignored (StackOne's
/// SDK flattens `proxy` keys into the query).
fn query_value<'a>(pairs: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    })
}

#[utoipa::path(
    get, path = "/unified/ats/assessments/packages", tag = "Unified",
    params(
        ("x-account-id" = String, Header, description = "Linked account id"),
        ("page_size" = Option<u8>, Query, minimum = 1, maximum = 200, description = "Results per page (default 25, at most 200)"),
        ("next" = Option<String>, Query, pattern = "^[1-9][0-9]{0,8}$", description = "The cursor of the next page, as `next` gave it"),
        ("updated_after" = Option<String>, Query, format = DateTime, description = "RFC 3339; also accepted as filter[updated_after]"),
    ),
    responses(
        (status = 200, body = PackagePage),
        (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody, description = "The account's quota at the vendor is spent"),
        (status = 404, body = super::error::ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn list_packages(
    State(gateway): State<Gateway>,
    UnifiedCaller(caller): UnifiedCaller,
    RawQuery(query): RawQuery,
) -> Result<Json<PackagePage>, ApiError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let listing = PackageListing {
        page_size: query_value(&pairs, &["page_size"]),
        next: query_value(&pairs, &["next"]),
        updated_after: query_value(&pairs, &["filter[updated_after]", "updated_after"]),
    };
    let page = gateway.list_packages(&caller, listing).await?;
    Ok(Json(PackagePage {
        data: page.packages,
        next: page.next,
    }))
}

#[utoipa::path(
    get, path = "/unified/ats/assessments/packages/{id}", tag = "Unified",
    params(("x-account-id" = String, Header), ("id" = String, Path, description = "The vendor's package id")),
    responses((status = 200, body = PackageEnvelope),
        (status = 403, body = super::error::ErrorBody, description = "The account's quota at the vendor is spent"),
        (status = 404, body = super::error::ErrorBody)),
    security(("basic" = []))
)]
pub async fn get_package(
    State(gateway): State<Gateway>,
    UnifiedCaller(caller): UnifiedCaller,
    Path(id): Path<String>,
) -> Result<Json<PackageEnvelope>, ApiError> {
    let data = gateway.get_package(&caller, &id).await?;
    Ok(Json(PackageEnvelope { data }))
}

#[utoipa::path(
    post, path = "/unified/ats/assessments/orders", tag = "Unified",
    params(
        ("x-account-id" = String, Header),
        ("Idempotency-Key" = Option<String>, Header, description = "Overrides the body id as the idempotency key"),
    ),
    request_body = OrderRequest,
    responses(
        (status = 200, body = CreateOrderResult, description = "The order (also for a replay of the same request)"),
        (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody, description = "The account's quota at the vendor is spent"),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody, description = "The same id with another body; or the vendor answered with an invitation that is another order's or whose attempt is over (with `provider_errors`)"),
        (status = 413, body = super::error::ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn order_assessment(
    State(gateway): State<Gateway>,
    UnifiedCaller(caller): UnifiedCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CreateOrderResult>, ApiError> {
    let (request, value) = parse_json::<OrderRequest>(&body)?;
    let idempotency_key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let created = gateway
        .place_order(&caller, request, &value, idempotency_key)
        .await?;
    Ok(Json(created))
}

fn order_view(order: OrderRecord) -> AssessmentOrder {
    let request = order.request;
    AssessmentOrder {
        id: order.id.to_string(),
        client_order_id: order.client_key,
        remote_id: order.remote_id,
        test_url: order.test_url,
        status: order.status.as_str().to_string(),
        package: request.package,
        application: request.application,
        job: request.job,
        candidate: request.candidate,
        requester: request.requester,
        results_update_url: order.results_update_url,
        created_at: rfc3339(order.created_at),
        updated_at: rfc3339(order.updated_at),
    }
}

#[utoipa::path(
    get, path = "/unified/ats/assessments/orders/{id}", tag = "Unified",
    params(("x-account-id" = String, Header), ("id" = String, Path, description = "Gateway order id, or the caller's own order id")),
    responses((status = 200, body = OrderEnvelope), (status = 404, body = super::error::ErrorBody)),
    security(("basic" = []))
)]
pub async fn get_order(
    State(gateway): State<Gateway>,
    UnifiedCaller(caller): UnifiedCaller,
    Path(id): Path<String>,
) -> Result<Json<OrderEnvelope>, ApiError> {
    let order = gateway.caller_order(&caller, &id).await?;
    Ok(Json(OrderEnvelope {
        data: order_view(order),
    }))
}

#[utoipa::path(
    get, path = "/unified/ats/assessments/orders/{id}/results", tag = "Unified",
    params(("x-account-id" = String, Header), ("id" = String, Path)),
    responses((status = 200, body = ResultEnvelope), (status = 404, body = super::error::ErrorBody)),
    security(("basic" = []))
)]
pub async fn get_results(
    State(gateway): State<Gateway>,
    UnifiedCaller(caller): UnifiedCaller,
    Path(id): Path<String>,
) -> Result<Json<ResultEnvelope>, ApiError> {
    let order = gateway.caller_order(&caller, &id).await?;
    Ok(Json(ResultEnvelope {
        data: current_result(&order),
    }))
}

#[utoipa::path(
    patch, path = "/unified/ats/assessments/orders/{id}/result", tag = "Unified",
    params(("x-account-id" = String, Header), ("id" = String, Path)),
    request_body = UpdateResultRequest,
    responses(
        (status = 200, body = UpdateResult),
        (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn update_result(
    State(gateway): State<Gateway>,
    UnifiedCaller(caller): UnifiedCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<UpdateResult>, ApiError> {
    let (update, _) = parse_json::<UpdateResultRequest>(&body)?;
    gateway.push_result(&caller, &id, update).await?;
    Ok(Json(UpdateResult {
        status_code: 200,
        message: "Record updated successfully.".into(),
        timestamp: rfc3339(now()),
    }))
}
