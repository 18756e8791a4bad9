//! The gateway's use cases: tenancy, packages, orders, results. Called by the HTTP layer and the
//! workers; calls the domain, the providers and the store. Knows nothing of HTTP.

pub mod actions;
pub mod audit;
pub mod callbacks;
pub mod deliveries;
pub mod erasure;
mod error;
pub mod health;
pub mod orders;
pub mod packages;
pub mod request_limit;
pub mod results;
pub mod retention;
pub mod sandbox;
pub mod signing_secrets;
pub mod tenancy;
mod tenancy_cache;

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
    tenancy_cache: Arc<tenancy_cache::TenancyCache>,
    request_limit: Arc<request_limit::RequestLimiter>,
    /// What this process has seen of each account's vendor.
    pub health: Arc<health::VendorHealth>,
}

/// `delay` moved randomly by up to ±`fraction` of itself, so that work scheduled at the same
/// moment (a burst of orders, a burst of failures) does not come due at the same moment again.
pub fn spread(delay: std::time::Duration, fraction: f64) -> std::time::Duration {
    use rand::Rng;
    scaled(
        delay,
        rand::thread_rng().gen_range((1.0 - fraction)..=(1.0 + fraction)),
    )
}

/// `delay` lengthened randomly by up to `fraction` of itself: the spread of `spread` for a wait
/// that must not end early (a sandbox order completes only once its delay has passed).
pub fn spread_later(delay: std::time::Duration, fraction: f64) -> std::time::Duration {
    use rand::Rng;
    scaled(delay, rand::thread_rng().gen_range(1.0..=(1.0 + fraction)))
}

/// `delay × factor`, saturating instead of panicking on overflow.
fn scaled(delay: std::time::Duration, factor: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(delay.as_secs_f64() * factor)
        .unwrap_or(std::time::Duration::MAX)
}

/// Wakes this process's workers when work was queued, so that they need not wait for their
/// next look at the database.
#[derive(Default)]
pub struct Wakeups {
    pub deliveries: tokio::sync::Notify,
    pub polls: tokio::sync::Notify,
    /// An order's vendor call ended (invited or failed): duplicates waiting for it look again.
    pub placed: tokio::sync::Notify,
}

impl Gateway {
    pub fn new(store: DynStore, providers: Providers, config: Arc<Config>) -> Self {
        let cipher = Cipher::new(config.master_key.expose());
        let request_limit = Arc::new(request_limit::RequestLimiter::new(config.rate_limit));
        Self {
            store,
            providers,
            cipher,
            config,
            wake: Arc::new(Wakeups::default()),
            tenancy_cache: Arc::default(),
            request_limit,
            health: Arc::default(),
        }
    }
}
