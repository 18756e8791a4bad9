//! What operators do to an order at its vendor: cancel, reject, refresh.

use uuid::Uuid;

use super::{results::pass_mark, Gateway, ServiceError};
use crate::{
    domain::{now, result::status_result, OrderStatus},
    providers::OrderRef,
    store::{NewEvent, OrderChange, OrderRecord},
};

use super::{deliveries::delivery_for, orders::subject_of};

/// The adapter's view of a stored order.
pub fn order_ref<'a>(order: &'a OrderRecord, order_id: &'a str) -> OrderRef<'a> {
    OrderRef {
        order_id,
        remote_id: order.remote_id.as_deref().unwrap_or_default(),
        email: &order.candidate_email,
        package_id: &order.package_id,
        provider_data: &order.provider_data,
        invited_at: order.created_at,
    }
}

/// The change that closes an open order as `cancelled`, with its delivery to the ATS.
pub(super) fn cancellation(order: &OrderRecord, event: &str) -> OrderChange {
    let at = now();
    let result = status_result(&subject_of(order), OrderStatus::Cancelled);
    OrderChange {
        status: OrderStatus::Cancelled,
        remote_id: None,
        test_url: None,
        provider_data: None,
        delivery: delivery_for(order, &result, at),
        result: Some(result),
        failure_reason: None,
        next_poll_at: None,
        at,
        event: NewEvent::new(event),
    }
}

/// The refusal of a change to an erased order.
pub fn erased(order: &OrderRecord) -> ServiceError {
    ServiceError::Conflict(format!(
        "order {}: its candidate's data was erased; it takes no more changes",
        order.id
    ))
}

impl Gateway {
    /// An order an operator can act on at its vendor: not one whose candidate was erased (the
    /// vendor would be asked about someone the gateway no longer knows).
    async fn stored_order(&self, id: Uuid) -> Result<OrderRecord, ServiceError> {
        let order = self
            .store
            .get_order(id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no order with id '{id}'")))?;
        if order.erased_at.is_some() {
            return Err(erased(&order));
        }
        Ok(order)
    }

    /// Withdraws an open invitation at the vendor; the order becomes `cancelled`.
    pub async fn cancel_order(&self, id: Uuid) -> Result<OrderRecord, ServiceError> {
        let order = self.stored_order(id).await?;
        if !order.status.is_open() {
            return Err(ServiceError::Conflict(format!(
                "order {id} is {} and cannot be cancelled",
                order.status
            )));
        }
        let account = self.account(order.account_id).await?;
        let (provider, context) = self.account_context(&account)?;
        let order_id = order.id.to_string();
        let cancelled = provider
            .cancel(&context, &order_ref(&order, &order_id))
            .await;
        self.health.note(account.id, &cancelled);
        cancelled?;
        let change = cancellation(&order, "cancelled at the vendor by an operator");
        self.record_change(&order, &change)
            .await?
            .ok_or_else(|| ServiceError::Conflict(format!("order {id} changed meanwhile; retry")))
    }

    /// Rejects the candidate at the vendor. The order keeps its status; the timeline records it.
    pub async fn reject_order(&self, id: Uuid) -> Result<OrderRecord, ServiceError> {
        let order = self.stored_order(id).await?;
        if !matches!(
            order.status,
            OrderStatus::Invited | OrderStatus::InProgress | OrderStatus::Completed
        ) {
            return Err(ServiceError::Conflict(format!(
                "order {id} is {} and cannot be rejected",
                order.status
            )));
        }
        let account = self.account(order.account_id).await?;
        let (provider, context) = self.account_context(&account)?;
        let order_id = order.id.to_string();
        let rejected = provider
            .reject(&context, &order_ref(&order, &order_id))
            .await;
        self.health.note(account.id, &rejected);
        rejected?;
        let change = OrderChange {
            status: order.status,
            remote_id: None,
            test_url: None,
            provider_data: None,
            result: None,
            failure_reason: None,
            next_poll_at: order.next_poll_at,
            at: now(),
            event: NewEvent::new("candidate rejected at the vendor by an operator"),
            delivery: None,
        };
        self.store
            .update_order(order.id, order.status, &change)
            .await?
            .ok_or_else(|| ServiceError::Conflict(format!("order {id} changed meanwhile; retry")))
    }

    /// Reads the order's result from the vendor now and records any change.
    pub async fn refresh_order(&self, id: Uuid) -> Result<OrderRecord, ServiceError> {
        let order = self.stored_order(id).await?;
        if !order.status.is_placed() {
            return Err(ServiceError::Conflict(format!(
                "order {id} is {} and has no invitation to read",
                order.status
            )));
        }
        let account = self.account(order.account_id).await?;
        let (provider, context) = self.account_context(&account)?;
        let order_id = order.id.to_string();
        let outcome = provider
            .fetch_result(&context, &order_ref(&order, &order_id))
            .await;
        self.health.note(account.id, &outcome);
        let outcome = outcome?;
        match self
            .apply_outcome(
                &order,
                &outcome,
                pass_mark(&account.settings),
                "refreshed by an operator",
            )
            .await?
        {
            Some(updated) => Ok(updated),
            None => Ok(order),
        }
    }
}
