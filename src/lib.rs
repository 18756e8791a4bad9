//! assessment-gateway: one StackOne-compatible API in front of assessment vendors.
//!
//! `App::build` turns a `Config` into the running pieces (store, providers, HTTP router,
//! workers); `main.rs` and the integration tests both start the service through it.

pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod logging;
pub mod outbound;
pub mod providers;
pub mod secret;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod workers;

use std::{future::Future, sync::Arc};

use config::Config;
use providers::{
    http::VendorClient, interviewmocha::InterviewMocha, sandbox::SandboxProvider,
    testgorilla::TestGorilla, testinvite::TestInvite, Providers,
};
use service::Gateway;
use tokio::net::TcpListener;

/// Refuses a `MASTER_KEY` that cannot open what the database holds, before anything is served:
/// otherwise the first order would answer 500.
async fn check_master_key(gateway: &Gateway) -> Result<(), BuildError> {
    match gateway.store.list_projects().await?.first() {
        Some(project) if gateway.signing_secret(project).is_err() => {
            Err(BuildError::WrongMasterKey)
        }
        _ => Ok(()),
    }
}

/// The assembled service.
pub struct App {
    pub gateway: Gateway,
    delivery_client: reqwest::Client,
}

/// Why the service could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("the outbound HTTP client cannot be set up: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("MASTER_KEY: it cannot open the secrets this database holds; set the key the database was created with")]
    WrongMasterKey,
}

impl App {
    /// Builds the outbound HTTP clients, connects to the database (applying migrations) and
    /// wires the providers.
    pub async fn build(config: Config) -> Result<Self, BuildError> {
        let config = Arc::new(config);
        let vendors = VendorClient::new(config.provider_timeout)?;
        let delivery_client = workers::delivery::client(&config)?;
        let store = store::connect(config.database_url.expose()).await?;
        let providers = Providers::new(vec![
            Arc::new(SandboxProvider::new(&config.public_url)),
            Arc::new(TestGorilla::new(vendors.clone(), config.poll_interval)),
            Arc::new(InterviewMocha::new(vendors.clone(), config.poll_interval)),
            Arc::new(TestInvite::new(vendors.clone(), config.poll_interval)),
        ]);
        let gateway = Gateway::new(store, providers, config);
        check_master_key(&gateway).await?;
        Ok(Self {
            gateway,
            delivery_client,
        })
    }

    pub fn router(&self) -> axum::Router {
        http::router(self.gateway.clone())
    }

    /// Serves on `listener` (and runs the workers when `RUN_WORKERS`) until `shutdown`
    /// resolves; then stops accepting, finishes in-flight requests and stops the workers.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let metrics = match self.gateway.config.metrics_addr {
            Some(addr) => Some(self.serve_metrics(addr).await?),
            None => None,
        };
        let workers =
            self.gateway.config.run_workers.then(|| {
                workers::Workers::start(self.gateway.clone(), self.delivery_client.clone())
            });
        // The client's address is needed to limit wrong console sign-ins per address.
        let served = axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        if let Some(workers) = workers {
            workers.shutdown().await;
        }
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        served
    }

    /// Serves Prometheus `/metrics` on `addr`, a listener of its own.
    async fn serve_metrics(
        &self,
        addr: std::net::SocketAddr,
    ) -> std::io::Result<tokio::task::JoinHandle<()>> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("METRICS_ADDR: cannot listen on {addr}: {e}"),
            )
        })?;
        let handle = telemetry::install().ok_or_else(|| {
            std::io::Error::other(
                "METRICS_ADDR: another metrics recorder is installed in this process",
            )
        })?;
        let router = http::metrics::router(self.gateway.clone(), handle);
        Ok(tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "the metrics listener stopped");
            }
        }))
    }
}
