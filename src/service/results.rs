//! Recording results: from a vendor (polling, callbacks, the sandbox page) or pushed by a caller
//! through `PATCH /orders/{id}/result`. Every change is one store transaction with its event.

use chrono::DateTime;
use serde_json::{json, Value};

use super::{orders::subject_of, tenancy::Caller, Gateway, ServiceError};
use crate::{
    domain::{
        now,
        result::{outcome_result, status_for_result_value, status_result},
        AssessmentResult, OrderStatus, ResultCandidate, UpdateResultRequest, VendorOutcome,
    },
    store::{NewEvent, OrderChange, OrderRecord},
};

use super::deliveries::delivery_for;

/// The account's `pass_mark` setting (0–100), if any.
pub fn pass_mark(settings: &Value) -> Option<f64> {
    settings.get("pass_mark").and_then(Value::as_f64)
}

/// An order's result as the unified API shows it: the stored result, or the state so far.
pub fn current_result(order: &OrderRecord) -> AssessmentResult {
    order
        .result
        .clone()
        .unwrap_or_else(|| status_result(&subject_of(order), order.status))
}

fn check_date(field: &str, value: &Option<String>) -> Result<(), ServiceError> {
    match value.as_deref() {
        Some(v) if DateTime::parse_from_rfc3339(v).is_err() => Err(ServiceError::invalid(format!(
            "{field}: '{v}' is not an RFC 3339 date-time"
        ))),
        _ => Ok(()),
    }
}

impl Gateway {
    /// Records what a vendor reported about an order. Returns the updated order, or `None` when
    /// the report changes nothing (no news, the same result again, or a state the order has
    /// already left, e.g. a late "in progress" after completion).
    pub async fn apply_outcome(
        &self,
        order: &OrderRecord,
        outcome: &VendorOutcome,
        pass_mark: Option<f64>,
        origin: &str,
    ) -> Result<Option<OrderRecord>, ServiceError> {
        if outcome.status == OrderStatus::Invited
            || order.status.check_transition(outcome.status).is_err()
        {
            return Ok(None);
        }
        let result = outcome_result(&subject_of(order), outcome, pass_mark);
        if order.status == outcome.status && order.result.as_ref() == Some(&result) {
            return Ok(None);
        }
        let at = now();
        let next_poll_at = outcome
            .status
            .is_open()
            .then(|| crate::domain::later(at, super::spread(self.config.poll_interval, 0.1)));
        let verdict = result
            .result
            .as_ref()
            .and_then(|r| r.value.clone())
            .unwrap_or_default();
        let change = OrderChange {
            status: outcome.status,
            remote_id: None,
            test_url: None,
            provider_data: None,
            delivery: delivery_for(order, &result, at),
            result: Some(result),
            failure_reason: None,
            next_poll_at,
            at,
            event: NewEvent::with_data(
                format!("{origin}: {} ({verdict})", outcome.status),
                json!({"source": outcome.source}),
            ),
        };
        self.record_change(order, &change).await
    }

    /// Applies a state change (with its delivery, if any) and wakes the delivery worker.
    pub async fn record_change(
        &self,
        order: &OrderRecord,
        change: &OrderChange,
    ) -> Result<Option<OrderRecord>, ServiceError> {
        let updated = self
            .store
            .update_order(order.id, order.status, change)
            .await?;
        if let Some(updated) = updated.as_ref().filter(|u| u.status != order.status) {
            super::orders::counted(updated);
        }
        if updated.is_some() && change.delivery.is_some() {
            self.wake.deliveries.notify_one();
        }
        Ok(updated)
    }

    /// `PATCH /orders/{id}/result`: a result pushed by the provider side (or an operator's tool)
    /// in StackOne's shape. Moves the order to the matching state.
    pub async fn push_result(
        &self,
        caller: &Caller,
        id: &str,
        update: UpdateResultRequest,
    ) -> Result<(), ServiceError> {
        update.check_limits().map_err(ServiceError::Invalid)?;
        check_date("start_date", &update.start_date)?;
        check_date("submission_date", &update.submission_date)?;
        let order = self.caller_order(caller, id).await?;
        if order.erased_at.is_some() {
            return Err(super::actions::erased(&order));
        }
        if !order.status.is_placed() {
            return Err(ServiceError::Conflict(format!(
                "order {} has no invitation yet (status {})",
                order.id, order.status
            )));
        }
        let target = update
            .result
            .as_ref()
            .and_then(|r| r.value.as_deref())
            .and_then(status_for_result_value)
            .unwrap_or(order.status);
        order
            .status
            .check_transition(target)
            .map_err(|e| ServiceError::Conflict(format!("order {}: {e}", order.id)))?;
        let subject = subject_of(&order);
        let candidate = update.candidate.map(|c| ResultCandidate {
            id: c.id.or(subject.candidate_id.clone()),
            remote_id: c.remote_id,
            profile_url: c.profile_url.or(subject.candidate_profile_url.clone()),
        });
        let result = AssessmentResult {
            id: Some(subject.order_id.clone()),
            remote_id: subject.remote_id.clone(),
            candidate: candidate.or_else(|| status_result(&subject, target).candidate),
            score: update.score,
            start_date: update.start_date,
            submission_date: update.submission_date,
            summary: update.summary,
            result: update
                .result
                .or_else(|| status_result(&subject, target).result),
            result_url: update.result_url,
            attachments: update.attachments,
        };
        let at = now();
        let change = OrderChange {
            status: target,
            remote_id: None,
            test_url: None,
            provider_data: None,
            delivery: delivery_for(&order, &result, at),
            result: Some(result),
            failure_reason: None,
            next_poll_at: if target.is_open() {
                order.next_poll_at
            } else {
                None
            },
            at,
            event: NewEvent::new(format!("result pushed through the unified API: {target}")),
        };
        self.record_change(&order, &change).await?.ok_or_else(|| {
            ServiceError::Conflict(format!("order {} changed meanwhile; retry", order.id))
        })?;
        Ok(())
    }
}
