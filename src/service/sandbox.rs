//! The sandbox's candidate page: a person starts the test and submits a score, and the result
//! is recorded exactly like a vendor's.

use serde_json::json;

use super::{results::pass_mark, Gateway, ServiceError};
use crate::{
    domain::{now, OrderStatus, VendorOutcome},
    providers::{sandbox::submitted_outcome, ProviderKind},
    store::OrderRecord,
};

impl Gateway {
    /// The sandbox order behind a test link token.
    pub async fn sandbox_order(&self, token: &str) -> Result<OrderRecord, ServiceError> {
        self.store
            .find_order_by_remote_id(ProviderKind::Sandbox.as_str(), token)
            .await?
            .ok_or_else(|| ServiceError::not_found("no sandbox test behind this link"))
    }

    /// The candidate opened the test.
    pub async fn sandbox_start(&self, token: &str) -> Result<OrderRecord, ServiceError> {
        let order = self.sandbox_order(token).await?;
        if order.status != OrderStatus::Invited {
            return Ok(order);
        }
        let outcome = VendorOutcome {
            start_date: Some(now()),
            ..VendorOutcome::status_only(OrderStatus::InProgress, json!({"status": "started"}))
        };
        self.record_sandbox(&order, &outcome, "candidate started the sandbox test")
            .await
    }

    /// The candidate submitted the test with `score` (0–100).
    pub async fn sandbox_submit(
        &self,
        token: &str,
        score: f64,
    ) -> Result<OrderRecord, ServiceError> {
        if !(0.0..=100.0).contains(&score) {
            return Err(ServiceError::invalid(
                "score: expected a number from 0 to 100",
            ));
        }
        let order = self.sandbox_order(token).await?;
        if !order.status.is_open() {
            return Err(ServiceError::Conflict(format!(
                "this test is {} and takes no more answers",
                order.status
            )));
        }
        let started = order
            .result
            .as_ref()
            .and_then(|r| r.start_date.as_deref())
            .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&chrono::Utc));
        let outcome = submitted_outcome(score, started, now());
        self.record_sandbox(&order, &outcome, "candidate submitted the sandbox test")
            .await
    }

    async fn record_sandbox(
        &self,
        order: &OrderRecord,
        outcome: &VendorOutcome,
        origin: &str,
    ) -> Result<OrderRecord, ServiceError> {
        let account = self.account(order.account_id).await?;
        let updated = self
            .apply_outcome(order, outcome, pass_mark(&account.settings), origin)
            .await?;
        match updated {
            Some(order) => Ok(order),
            None => {
                self.sandbox_order(order.remote_id.as_deref().unwrap_or_default())
                    .await
            }
        }
    }
}
