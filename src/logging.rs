//! Logs and traces: log lines to stdout (text on a terminal, JSON lines otherwise; levels from
//! `RUST_LOG`), and, with `OTEL_EXPORTER_OTLP_ENDPOINT`, the same spans (each request, vendor
//! call, poll and delivery attempt) exported over OTLP/HTTP to a collector.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{trace::SdkTracerProvider, Resource};
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

use crate::config::LogFormat;

/// The trace exporter, to be shut down (which flushes its last spans) when the process ends.
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Sends the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(error) = provider.shutdown() {
                eprintln!("OTEL_EXPORTER_OTLP_ENDPOINT: the last spans could not be sent: {error}");
            }
        }
    }
}

/// Installs the process's subscriber; `otlp` is the collector's base URL (`…/v1/traces` is
/// appended, as OpenTelemetry's `OTEL_EXPORTER_OTLP_ENDPOINT` means it).
pub fn init(format: LogFormat, otlp: Option<&url::Url>) -> Result<Tracing, String> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let lines = match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
    };
    let provider = otlp
        .map(|base| {
            let endpoint = format!("{}/v1/traces", base.as_str().trim_end_matches('/'));
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .build()
                .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
            Ok::<_, String>(
                SdkTracerProvider::builder()
                    .with_resource(
                        Resource::builder()
                            .with_service_name("assessment-gateway")
                            .build(),
                    )
                    .with_batch_exporter(exporter)
                    .build(),
            )
        })
        .transpose()?;
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("assessment-gateway"))
            .with_filter(EnvFilter::new("info,sqlx=off,hyper=off,reqwest=off,h2=off"))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(traces)
        .try_init();
    Ok(Tracing { provider })
}
