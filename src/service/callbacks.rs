//! Vendor callbacks. A callback only says "look at this order again": the body is
//! checked for shape and for naming the order's invitation, then the order is queued for the
//! polling worker, which re-reads the result from the vendor with the account's credentials.

use super::{Gateway, ServiceError};
use crate::{
    crypto::sha256_hex,
    domain::now,
    providers::{ProviderError, ProviderKind},
};

impl Gateway {
    pub async fn receive_callback(
        &self,
        provider: &str,
        token: &str,
        body: &[u8],
    ) -> Result<(), ServiceError> {
        let received = self.queue_callback(provider, token, body).await;
        let outcome = match &received {
            Ok(queued) => *queued,
            Err(ServiceError::NotFound(_)) => "unknown",
            Err(ServiceError::Invalid(_)) => "malformed",
            Err(_) => "failed",
        };
        let provider = ProviderKind::parse(provider).map_or("unknown", ProviderKind::as_str);
        crate::telemetry::callback(provider, outcome);
        received.map(|_| ())
    }

    /// Checks a callback and queues its order's re-read; what became of it: `queued`, `shared`
    /// (a re-read was already due) or `closed` (the order is no longer open).
    async fn queue_callback(
        &self,
        provider: &str,
        token: &str,
        body: &[u8],
    ) -> Result<&'static str, ServiceError> {
        let unknown = || ServiceError::not_found("no order waits for a callback at this URL");
        let kind = ProviderKind::parse(provider).ok_or_else(unknown)?;
        let adapter = self.providers.get(kind).ok_or_else(unknown)?;
        let order = self
            .store
            .find_callback_target(&sha256_hex(token))
            .await?
            .filter(|o| o.provider == provider)
            .ok_or_else(unknown)?;
        let remote_id = match adapter.parse_callback(body) {
            Ok(id) => id,
            Err(ProviderError::Unsupported { .. }) => return Err(unknown()),
            Err(error) => {
                return Err(ServiceError::invalid(format!(
                    "malformed callback: {error}"
                )))
            }
        };
        if order
            .remote_id
            .as_deref()
            .is_some_and(|known| known != remote_id)
        {
            return Err(ServiceError::invalid(
                "the callback names another invitation than this order's",
            ));
        }
        if !order.status.is_open() {
            return Ok("closed");
        }
        let at = now();
        // An order already waiting for its re-read needs no second write: the one re-read
        // will see whatever this callback announces (vendors repeat callbacks; iMocha up to 5×).
        if order.next_poll_at.is_some_and(|due| due <= at) {
            return Ok("shared");
        }
        self.store.set_next_poll(order.order_id, Some(at)).await?;
        // The poller takes the order once `CALLBACK_REREAD_DELAY` has passed.
        let (wake, delay) = (self.wake.clone(), self.config.callback_reread_delay);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            wake.polls.notify_one();
        });
        Ok("queued")
    }
}
