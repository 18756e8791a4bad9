//! The gateway's Prometheus metrics (`agw_*`), recorded through the `metrics` facade from every
//! layer and rendered by the exporter on `METRICS_ADDR`. Label values come from fixed sets
//! (routes, providers, statuses, operations, outcomes): never ids or emails.

use std::{sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds, from a millisecond to half a minute: vendor calls, requests, deliveries.
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// Writes per database batch, up to the batchers' largest.
const BATCH_SIZE_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 256.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once; later calls get the same handle). `None` if another
/// recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&DURATION_BUCKETS)
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("agw_store_write_batch_size".into()),
                    &BATCH_SIZE_BUCKETS,
                )
                .ok()?
                .install_recorder()
                .ok()?;
            metrics::gauge!("agw_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(handle)
        })
        .clone()
}

/// One HTTP request answered: `route` is the matched route template.
pub fn http_request(route: &str, method: &str, status: u16, took: Duration) {
    let (route, method) = (route.to_string(), method.to_string());
    metrics::counter!("agw_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("agw_http_request_duration_seconds", "route" => route, "method" => method)
        .record(took.as_secs_f64());
}

/// An order reached `status`.
pub fn order_reached(provider: &str, status: &str) {
    metrics::counter!("agw_orders_total", "provider" => provider.to_string(), "status" => status.to_string())
        .increment(1);
}

/// One request to a vendor (or one not sent because the account's budget is spent).
pub fn vendor_request(provider: &str, operation: &str, outcome: &str, took: Duration) {
    let (provider, operation) = (provider.to_string(), operation.to_string());
    metrics::counter!("agw_vendor_requests_total", "provider" => provider.clone(), "operation" => operation.clone(), "outcome" => outcome.to_string())
        .increment(1);
    metrics::histogram!("agw_vendor_request_duration_seconds", "provider" => provider, "operation" => operation)
        .record(took.as_secs_f64());
}

/// A vendor callback received, and what became of it.
pub fn callback(provider: &str, outcome: &str) {
    metrics::counter!("agw_callbacks_total", "provider" => provider.to_string(), "outcome" => outcome.to_string())
        .increment(1);
}

/// A delivery attempt ended: `delivered`, `retried` or `dead`.
pub fn delivery(outcome: &str) {
    metrics::counter!("agw_deliveries_total", "outcome" => outcome.to_string()).increment(1);
}

/// A batch of writes went to the database as one commit (`order_insert`, `order_change`,
/// `delivered` on Postgres; `group_commit` on SQLite), carrying `size` writes.
pub fn store_write_batch(kind: &'static str, size: usize) {
    metrics::histogram!("agw_store_write_batch_size", "kind" => kind).record(size as f64);
}

/// The work waiting, read from the database at each scrape.
pub fn backlog(pending_deliveries: i64, dead_deliveries: i64, due_polls: i64) {
    metrics::gauge!("agw_delivery_backlog", "status" => "pending").set(pending_deliveries as f64);
    metrics::gauge!("agw_delivery_backlog", "status" => "dead").set(dead_deliveries as f64);
    metrics::gauge!("agw_poll_backlog").set(due_polls as f64);
}
