//! Polls vendors for the results of open orders whose poll is due (design.md §6): claims a batch
//! with a lease so that other workers or instances skip it, asks each vendor, records changes.

use std::time::Duration;

use tokio::sync::watch;

use serde_json::{json, Value};

use crate::{
    domain::{now, OrderStatus, VendorOutcome},
    service::{actions::order_ref, results::pass_mark, Gateway, ServiceError},
    store::OrderRecord,
};

/// How long a claimed poll stays invisible to other workers.
const LEASE: Duration = Duration::from_secs(120);
const BATCH: i64 = 32;
/// Sleep between claims when nothing was due: at most one database query a second when idle.
const IDLE: Duration = Duration::from_secs(1);
/// How often orders abandoned in `pending` are looked for.
const ABANDONED_CHECK: Duration = Duration::from_secs(30);

pub async fn run(gateway: Gateway, mut stop: watch::Receiver<bool>) {
    let mut last_abandoned_check: Option<tokio::time::Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        if last_abandoned_check.is_none_or(|at| at.elapsed() >= ABANDONED_CHECK) {
            last_abandoned_check = Some(tokio::time::Instant::now());
            match gateway.fail_abandoned_orders().await {
                Ok(0) => {}
                Ok(count) => tracing::warn!(
                    count,
                    "orders abandoned during their vendor call were marked failed"
                ),
                Err(error) => tracing::warn!(%error, "looking for abandoned orders failed"),
            }
        }
        let claimed = match poll_due(&gateway).await {
            Ok(count) => count,
            Err(error) => {
                tracing::warn!(%error, "polling failed");
                0
            }
        };
        if claimed as i64 == BATCH {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(IDLE) => {}
            _ = gateway.wake.polls.notified() => {}
            _ = stop.changed() => break,
        }
    }
}

/// Claims and polls one batch of due orders; returns how many were claimed.
pub async fn poll_due(gateway: &Gateway) -> Result<usize, ServiceError> {
    let at = now();
    let lease = chrono::Duration::from_std(LEASE).unwrap_or_default();
    let orders = gateway.store.claim_due_polls(at, at + lease, BATCH).await?;
    for order in &orders {
        if let Err(error) = poll_order(gateway, order).await {
            tracing::warn!(order_id = %order.id, provider = %order.provider, %error, "poll failed");
            let retry = chrono::Duration::from_std(crate::service::spread(
                gateway.config.poll_interval,
                0.1,
            ))
            .unwrap_or_default();
            gateway
                .store
                .set_next_poll(order.id, Some(now() + retry))
                .await?;
        }
    }
    Ok(orders.len())
}

/// Whether an order was invited longer ago than the account's `validity` setting.
fn past_validity(settings: &Value, order: &OrderRecord) -> bool {
    settings
        .get("validity")
        .and_then(Value::as_str)
        .and_then(|v| crate::config::parse_duration(v).ok())
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .is_some_and(|validity| now() > order.created_at + validity)
}

async fn poll_order(gateway: &Gateway, order: &OrderRecord) -> Result<(), ServiceError> {
    let Some(account) = gateway.store.get_account(order.account_id).await? else {
        // The account was deleted: nobody can ask the vendor any more.
        gateway.store.set_next_poll(order.id, None).await?;
        return Ok(());
    };
    let (provider, context) = gateway.account_context(&account)?;
    let order_id = order.id.to_string();
    let mut outcome = provider
        .fetch_result(&context, &order_ref(order, &order_id))
        .await?;
    if outcome.status == OrderStatus::Invited && past_validity(&account.settings, order) {
        // Never started within the account's `validity`: the invitation is over.
        outcome = VendorOutcome::status_only(
            OrderStatus::Expired,
            json!({"status": "not started within the validity", "vendor": outcome.source}),
        );
    }
    let applied = gateway
        .apply_outcome(order, &outcome, pass_mark(&account.settings), "vendor poll")
        .await?;
    if applied.is_none() {
        let wait = provider
            .first_poll_after(&context, &order.request)
            .map_or(gateway.config.poll_interval, |d| {
                d.min(gateway.config.poll_interval)
            });
        let wait =
            chrono::Duration::from_std(crate::service::spread(wait, 0.1)).unwrap_or_default();
        gateway
            .store
            .set_next_poll(order.id, Some(now() + wait))
            .await?;
    }
    Ok(())
}
