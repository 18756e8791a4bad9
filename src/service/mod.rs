//! The gateway's use cases: tenancy, packages, orders, results. Called by the HTTP layer and the
//! workers; calls the domain, the providers and the store. Knows nothing of HTTP.

pub mod actions;
pub mod callbacks;
pub mod deliveries;
mod error;
pub mod orders;
pub mod packages;
pub mod results;
pub mod sandbox;
pub mod tenancy;

use std::sync::Arc;

pub use error::ServiceError;

use crate::{config::Config, crypto::Cipher, providers::Providers, store::DynStore};

/// Everything the use cases need; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub store: DynStore,
    pub providers: Providers,
    pub cipher: Cipher,
    pub config: Arc<Config>,
    pub wake: Arc<Wakeups>,
}

/// Wakes this process's workers when work was queued, so that they need not wait for their
/// next look at the database.
#[derive(Default)]
pub struct Wakeups {
    pub deliveries: tokio::sync::Notify,
    pub polls: tokio::sync::Notify,
}

impl Gateway {
    pub fn new(store: DynStore, providers: Providers, config: Arc<Config>) -> Self {
        let cipher = Cipher::new(config.master_key.expose());
        Self {
            store,
            providers,
            cipher,
            config,
            wake: Arc::new(Wakeups::default()),
        }
    }
}
