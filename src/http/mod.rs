//! The HTTP layer: the only place axum lives.

pub mod admin;
pub mod admin_deliveries;
pub mod auth;
pub mod error;
mod json;
pub mod openapi;
pub mod ops;
mod pagination;
pub mod sandbox;
pub mod unified;
pub mod webhooks;

use axum::{extract::DefaultBodyLimit, middleware, Router};
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};

use crate::service::Gateway;

/// Requests larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .merge(unified::routes())
        .merge(admin::routes())
        .merge(admin_deliveries::routes())
        .merge(sandbox::routes())
        .merge(ops::routes())
        .merge(webhooks::routes())
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::new())
        .layer(middleware::map_response(error::normalize_error_bodies))
        .layer(TraceLayer::new_for_http())
        .with_state(gateway)
}
