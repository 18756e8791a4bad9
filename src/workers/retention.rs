//! The retention sweep, every `RETENTION_INTERVAL`: orders closed longer ago than their project's
//! `retention_days` lose their personal data (`Gateway::erase_expired_orders`). Several instances
//! may sweep at once: erasing an erased order again changes nothing.

use tokio::sync::watch;

use crate::service::Gateway;

pub async fn run(gateway: Gateway, mut stop: watch::Receiver<bool>) {
    let interval = gateway.config.retention_interval;
    loop {
        match gateway.erase_expired_orders().await {
            Ok(0) => {}
            Ok(erased) => tracing::info!(erased, "retention erased the personal data of orders"),
            Err(error) => tracing::warn!(%error, "the retention sweep failed; it runs again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
