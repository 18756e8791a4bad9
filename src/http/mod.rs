//! The HTTP layer: the only place axum lives.

pub mod admin;
pub mod admin_audit;
pub mod admin_deliveries;
pub mod admin_erasures;
pub mod admin_projects;
pub mod audit;
pub mod auth;
mod console;
pub mod error;
mod json;
pub mod metrics;
pub mod openapi;
mod openapi_errors;
pub mod ops;
mod pagination;
pub mod request_id;
mod request_schemas;
pub mod sandbox;
pub mod unified;
pub mod webhooks;

use axum::{
    extract::{DefaultBodyLimit, Request},
    middleware, Router,
};
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};

use crate::service::Gateway;

/// Requests larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router(gateway: Gateway) -> Router {
    let operators = Router::new()
        .merge(admin::routes())
        .merge(admin_deliveries::routes())
        .merge(admin_projects::routes())
        .merge(admin_audit::routes())
        .merge(admin_erasures::routes())
        .merge(console::routes())
        .route_layer(middleware::from_fn_with_state(
            gateway.clone(),
            audit::record,
        ));
    Router::new()
        .merge(unified::routes())
        .merge(operators)
        .merge(sandbox::routes())
        .merge(ops::routes())
        .merge(webhooks::routes())
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(metrics::record))
        .layer(CatchPanicLayer::new())
        .layer(middleware::map_response(error::normalize_error_bodies))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        // Outermost: the id is settled before the span above records it.
        .layer(middleware::from_fn(request_id::propagate))
        .with_state(gateway)
}

/// The span of a request: its method and its path with the secret part of tokenized paths (a
/// vendor callback's token, a sandbox test's token) left out, and no query string.
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get(&request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
        request_id = %id,
    )
}

/// `path` as logs may show it: `/webhooks/{provider}/…`, `/sandbox/tests/…`.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("webhooks"), Some(provider), Some(_)) => format!("/webhooks/{provider}/…").into(),
        (Some("sandbox"), Some("tests"), Some(_)) => "/sandbox/tests/…".into(),
        _ => path.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn tokenized_paths_are_logged_without_their_token() {
        assert_eq!(
            loggable_path("/webhooks/interviewmocha/cb_SECRET"),
            "/webhooks/interviewmocha/…"
        );
        assert_eq!(
            loggable_path("/sandbox/tests/sbx_SECRET/submit"),
            "/sandbox/tests/…"
        );
        assert_eq!(
            loggable_path("/unified/ats/assessments/orders"),
            "/unified/ats/assessments/orders"
        );
    }
}
