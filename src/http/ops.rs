//! Health, readiness and the API description.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::service::Gateway;

pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
        .route("/docs/redoc.standalone.js", get(redoc_script))
}

/// `/`: where a person who opens the gateway's address can go from here.
#[utoipa::path(get, path = "/", tag = "Operations", responses((status = 200, description = "Links to the console, the API document and the health endpoints", content_type = "text/html")))]
pub async fn home() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>assessment-gateway</title></head><body>",
        "<h1>assessment-gateway</h1>",
        "<p>One StackOne-compatible API in front of assessment vendors.</p><ul>",
        "<li><a href=\"/console\">Console</a>: orders, deliveries, accounts, projects, audit (sign in with the admin token)</li>",
        "<li><a href=\"/docs\">API documentation</a> and its <a href=\"/openapi.json\">OpenAPI document</a></li>",
        "<li><a href=\"/healthz\">/healthz</a> (the process is up) and <a href=\"/readyz\">/readyz</a> (the database answers)</li>",
        "</ul></body></html>"
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[utoipa::path(get, path = "/healthz", tag = "Operations", responses((status = 200, body = Health, description = "The process is up")))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/readyz", tag = "Operations",
    responses((status = 200, body = Health, description = "The database answers"), (status = 503, body = super::error::ErrorBody)))]
pub async fn readyz(State(gateway): State<Gateway>) -> Result<Json<Health>, ApiError> {
    match gateway.store.ping().await {
        Ok(()) => Ok(Json(Health {
            status: "ok".into(),
        })),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not reachable",
            ))
        }
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "Operations", responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document_json(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/docs", tag = "Operations", responses((status = 200, description = "A page rendering /openapi.json", content_type = "text/html")))]
pub async fn docs() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>assessment-gateway API</title></head>\
         <body><redoc spec-url=\"/openapi.json\"></redoc>\
         <script src=\"/docs/redoc.standalone.js\"></script>\
         <noscript><a href=\"/openapi.json\">openapi.json</a></noscript></body></html>",
    )
}

/// Redoc's renderer, embedded at build time (assets/redoc): `/docs` needs no internet.
const REDOC: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

#[utoipa::path(get, path = "/docs/redoc.standalone.js", tag = "Operations", responses((status = 200, description = "The renderer of /docs (Redoc), served by the gateway", content_type = "text/javascript")))]
pub async fn redoc_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        REDOC,
    )
        .into_response()
}
