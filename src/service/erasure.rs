//! Erasing a candidate's personal data: on request, every order of a project for one email; by
//! retention, orders closed longer ago than the project keeps them. An open order is closed as
//! `cancelled` first (its ATS is told, as for any cancellation); then the order, its timeline, its
//! deliveries and their attempts are scrubbed in one transaction (`domain::erasure` says what
//! stays). With `at_vendor`, the vendor is asked to delete the candidate too, before the scrub,
//! while the order still holds what the vendor needs to find them.

use uuid::Uuid;

use super::{
    actions::{cancellation, order_ref},
    Gateway, ServiceError,
};
use crate::{
    domain::{
        erasure::{erasable, erased_request, erased_result, Scrubber},
        limits, now, OrderStatus,
    },
    providers::ProviderError,
    store::{DeliveryFilter, OrderErasure, OrderRecord},
};

/// What the vendor did when asked to delete the candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorErasure {
    pub provider: String,
    /// The vendor's id of the candidate or invitation, to finish there by hand if need be.
    pub remote_id: Option<String>,
    /// `deleted`, `unsupported` (the vendor documents no deletion), `refused` (the vendor keeps
    /// this candidate, e.g. TestInvite after a login) or `failed` (try again at the vendor).
    pub outcome: &'static str,
    pub message: Option<String>,
}

/// One order erased.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasedOrder {
    pub order_id: Uuid,
    /// Its status once erased (an open order is `cancelled`).
    pub status: OrderStatus,
    /// Set when the vendor was asked.
    pub vendor: Option<VendorErasure>,
}

/// Deliveries and attempts of one order are few; this bounds the read all the same.
const MAX_DELIVERIES: i64 = 10_000;

fn checked_email(email: &str) -> Result<&str, ServiceError> {
    if crate::domain::patterns::is_blank(email) {
        return Err(ServiceError::invalid("email: required"));
    }
    if email.chars().count() > limits::EMAIL {
        return Err(ServiceError::invalid(format!(
            "email: at most {} characters",
            limits::EMAIL
        )));
    }
    Ok(email.trim())
}

impl Gateway {
    /// Erases every order of `project_id` whose candidate has `email` (in any case). Refused with
    /// nothing changed while one of them is still being placed at its vendor.
    pub async fn erase_candidate(
        &self,
        project_id: Uuid,
        email: &str,
        at_vendor: bool,
    ) -> Result<Vec<ErasedOrder>, ServiceError> {
        let email = checked_email(email)?;
        self.project(project_id).await?;
        let orders = self.store.find_orders_by_email(project_id, email).await?;
        if let Some(placing) = orders.iter().find(|o| !erasable(o.status)) {
            return Err(ServiceError::Conflict(format!(
                "order {} of this candidate is being placed at its vendor; retry in a few seconds",
                placing.id
            )));
        }
        let mut erased = Vec::with_capacity(orders.len());
        for order in orders {
            erased.push(self.erase_order(order, at_vendor).await?);
        }
        Ok(erased)
    }

    /// Erases one order (not `pending`): at its vendor first when asked, then closed if open,
    /// then scrubbed.
    pub async fn erase_order(
        &self,
        order: OrderRecord,
        at_vendor: bool,
    ) -> Result<ErasedOrder, ServiceError> {
        let vendor = if at_vendor {
            Some(self.erase_at_vendor(&order).await)
        } else {
            None
        };
        let order = self.closed_for_erasure(order).await?;
        let erasure = self.erasure_of(&order).await?;
        self.store.erase_order(&erasure).await?;
        tracing::info!(order_id = %order.id, at_vendor, "an order's personal data was erased");
        Ok(ErasedOrder {
            order_id: order.id,
            status: order.status,
            vendor,
        })
    }

    async fn erase_at_vendor(&self, order: &OrderRecord) -> VendorErasure {
        let reported = |outcome, message: Option<String>| VendorErasure {
            provider: order.provider.clone(),
            remote_id: order.remote_id.clone(),
            outcome,
            message,
        };
        if order.remote_id.is_none() {
            return reported("deleted", Some("the vendor never had this order".into()));
        }
        let (provider, context) = match self
            .account(order.account_id)
            .await
            .and_then(|account| self.account_context(&account))
        {
            Ok(found) => found,
            Err(error) => {
                return reported(
                    "failed",
                    Some(format!("the linked account cannot be used: {error}")),
                )
            }
        };
        let order_id = order.id.to_string();
        let done = provider
            .erase_candidate(&context, &order_ref(order, &order_id))
            .await;
        self.health.note(order.account_id, &done);
        match done {
            Ok(()) => reported("deleted", None),
            Err(ProviderError::Unsupported { message }) => reported("unsupported", Some(message)),
            Err(error @ ProviderError::Conflict { .. }) => {
                reported("refused", Some(error.to_string()))
            }
            Err(error) => reported("failed", Some(error.to_string())),
        }
    }

    /// The order, closed: an open one becomes `cancelled`, with its delivery to the ATS.
    async fn closed_for_erasure(
        &self,
        mut order: OrderRecord,
    ) -> Result<OrderRecord, ServiceError> {
        // A vendor report may move the order meanwhile; a few rounds settle it.
        for _ in 0..5 {
            if !order.status.is_open() {
                return Ok(order);
            }
            let change = cancellation(&order, "closed: the candidate's data is erased on request");
            if let Some(closed) = self.record_change(&order, &change).await? {
                return Ok(closed);
            }
            order =
                self.store.get_order(order.id).await?.ok_or_else(|| {
                    ServiceError::not_found(format!("no order with id {}", order.id))
                })?;
        }
        Err(ServiceError::Conflict(format!(
            "order {} keeps changing; retry the erasure",
            order.id
        )))
    }

    /// What the order becomes, and every text recorded about it, scrubbed.
    async fn erasure_of(&self, order: &OrderRecord) -> Result<OrderErasure, ServiceError> {
        let scrubber = Scrubber::for_order(
            &order.candidate_email,
            &order.request,
            order.result.as_ref(),
        );
        let events = self.store.list_order_events(order.id).await?;
        let deliveries = self
            .store
            .list_deliveries(&DeliveryFilter {
                order_id: Some(order.id),
                limit: MAX_DELIVERIES,
                ..Default::default()
            })
            .await?;
        let mut attempt_errors = Vec::new();
        for delivery in &deliveries {
            for attempt in self.store.list_attempts(delivery.id).await? {
                attempt_errors.push((attempt.id, attempt.error.map(|e| scrubber.text(&e))));
            }
        }
        Ok(OrderErasure {
            order_id: order.id,
            at: now(),
            request: erased_request(&order.request),
            result: order.result.as_ref().map(erased_result),
            provider_data: scrubber.json(&order.provider_data),
            failure_reason: order.failure_reason.as_deref().map(|r| scrubber.text(r)),
            event_messages: events
                .iter()
                .map(|e| (e.id, scrubber.text(&e.message)))
                .collect(),
            deliveries: deliveries
                .iter()
                .map(|d| {
                    let body = match serde_json::from_str(&d.body) {
                        Ok(body) => scrubber.json(&body).to_string(),
                        Err(_) => scrubber.text(&d.body),
                    };
                    (
                        d.id,
                        body,
                        d.last_error.as_deref().map(|e| scrubber.text(e)),
                    )
                })
                .collect(),
            attempt_errors,
        })
    }
}
