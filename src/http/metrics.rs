//! Prometheus metrics: each request counted and timed by its route template, and the exporter's
//! `/metrics` on a listener of its own (`METRICS_ADDR`), kept apart from the public API.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::{domain::now, service::Gateway, telemetry};

/// Counts and times a request under its matched route (`unmatched` for the fall-back).
pub async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    telemetry::http_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The router of the metrics listener.
pub fn router(gateway: Gateway, handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((gateway, handle))
}

async fn scrape(State((gateway, handle)): State<(Gateway, PrometheusHandle)>) -> Response {
    match gateway.store.backlog(now()).await {
        Ok(b) => telemetry::backlog(b.pending_deliveries, b.dead_deliveries, b.due_polls),
        Err(error) => tracing::warn!(%error, "the backlog could not be read for the metrics"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
