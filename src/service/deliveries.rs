//! The outbox side of results: what is enqueued for the ATS with each state change, and the
//! operator's view and replay of deliveries.

use serde_json::json;
use uuid::Uuid;

use super::{Gateway, ServiceError};
use crate::{
    domain::{now, rfc3339, AssessmentResult},
    store::{DeliveryFilter, DeliveryStatus, NewDelivery, OrderRecord},
};

/// The event type of every delivery.
pub const EVENT_TYPE: &str = "assessment.result.updated";

/// The delivery of `result` to the order's `results_update_url`, when the ATS gave one.
pub fn delivery_for(
    order: &OrderRecord,
    result: &AssessmentResult,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<NewDelivery> {
    let url = order.results_update_url.clone()?;
    let body = json!({"type": EVENT_TYPE, "timestamp": rfc3339(at), "data": result});
    Some(NewDelivery {
        id: Uuid::now_v7(),
        url,
        body: body.to_string(),
    })
}

/// At most this many dead deliveries are sent again by one bulk retry.
pub const BULK_RETRY_LIMIT: usize = 500;

/// What a bulk retry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkRetry {
    /// Queued to be sent again now.
    pub retried: usize,
    /// Not sent: a newer state of their order exists (it is sent instead).
    pub skipped: usize,
    /// More dead deliveries wait than one bulk retry takes.
    pub more: bool,
}

impl Gateway {
    /// Sends again the dead deliveries of a project, newest first, at most `BULK_RETRY_LIMIT`.
    pub async fn retry_dead_deliveries(&self, project_id: Uuid) -> Result<BulkRetry, ServiceError> {
        let dead = self
            .store
            .list_deliveries(&DeliveryFilter {
                status: Some(DeliveryStatus::Dead),
                project_id: Some(project_id),
                limit: BULK_RETRY_LIMIT as i64 + 1,
                ..Default::default()
            })
            .await?;
        let more = dead.len() > BULK_RETRY_LIMIT;
        let mut outcome = BulkRetry {
            retried: 0,
            skipped: 0,
            more,
        };
        let at = now();
        for delivery in dead.into_iter().take(BULK_RETRY_LIMIT) {
            match self.store.requeue_delivery(delivery.id, at).await? {
                Some(_) => outcome.retried += 1,
                None => outcome.skipped += 1,
            }
        }
        if outcome.retried > 0 {
            self.wake.deliveries.notify_one();
        }
        Ok(outcome)
    }

    /// Sends a dead (or delivered) delivery again now, if it is its order's newest state.
    pub async fn retry_delivery(&self, id: Uuid) -> Result<(), ServiceError> {
        let Some(delivery) = self.store.get_delivery(id).await? else {
            return Err(ServiceError::not_found(format!(
                "no delivery with id '{id}'"
            )));
        };
        match self.store.requeue_delivery(id, now()).await? {
            Some(_) => {
                self.wake.deliveries.notify_one();
                Ok(())
            }
            None => Err(ServiceError::Conflict(format!(
                "delivery {id} is {} or a newer state of its order exists; only the newest dead or delivered one can be sent again",
                delivery.status.as_str()
            ))),
        }
    }
}
