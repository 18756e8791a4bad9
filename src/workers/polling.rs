//! Polls vendors for the results of open orders whose poll is due (ARCHITECTURE.md, "Vendor truth"
//! and "Leases"): claims them with a lease so that other workers or instances skip them, asks each
//! vendor, records changes.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::{sync::watch, time::Instant};
use tracing::Instrument;
use uuid::Uuid;

use super::{
    in_flight::{self, LeasedWork, Limits},
    shares::{Share, Shares},
};
use crate::{
    domain::{now, OrderStatus, VendorOutcome},
    service::{actions::order_ref, results::pass_mark, tenancy::Caller, Gateway, ServiceError},
    store::{ClaimSkip, OrderRecord},
};

/// How long a claimed poll stays invisible to other workers, in `PROVIDER_TIMEOUT`s (2 minutes
/// at its default); a poll still running at three quarters of it is cut off.
const LEASE_IN_TIMEOUTS: u32 = 6;
/// Vendor reads in flight at once in one process (each account's rate limit still applies).
const MAX_IN_FLIGHT: usize = 32;
/// The most slots one vendor account may hold: the rest stay free for other accounts.
const SHARE: usize = MAX_IN_FLIGHT * 3 / 4;
const CLAIM_WHEN_FREE: usize = 8;
/// How often orders abandoned in `pending` are looked for.
const ABANDONED_CHECK: Duration = Duration::from_secs(30);

/// Polls of one process: up to 32 vendor reads in flight, so a slow vendor holds only its own
/// slots and one poll never waits for another.
pub async fn run(gateway: Gateway, stop: watch::Receiver<bool>) {
    let limits = Limits::new(MAX_IN_FLIGHT, CLAIM_WHEN_FREE);
    let wake = gateway.wake.clone();
    let poller = Poller {
        lease: gateway.config.provider_timeout * LEASE_IN_TIMEOUTS,
        gateway,
        last_abandoned_check: Mutex::new(None),
        accounts: Shares::new(SHARE),
        held_back: AtomicBool::new(false),
    };
    in_flight::run(Arc::new(poller), &wake.polls, limits, stop).await;
}

struct Poller {
    gateway: Gateway,
    last_abandoned_check: Mutex<Option<Instant>>,
    lease: Duration,
    accounts: Arc<Shares<Uuid>>,
    /// The last claim left polls due for an account at its share.
    held_back: AtomicBool,
}

impl Poller {
    /// Whether it is time to look for abandoned orders again (every `ABANDONED_CHECK`).
    fn abandoned_check_due(&self) -> bool {
        let Ok(mut last) = self.last_abandoned_check.lock() else {
            return false;
        };
        if last.is_some_and(|at| at.elapsed() < ABANDONED_CHECK) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

impl LeasedWork for Poller {
    type Item = (OrderRecord, DateTime<Utc>, Share<Uuid>);
    type Lease = (Uuid, DateTime<Utc>);
    const WHAT: &'static str = "polls";

    async fn claim(&self, limit: usize) -> Result<Vec<Self::Item>, ServiceError> {
        if self.abandoned_check_due() {
            match self.gateway.fail_abandoned_orders().await {
                Ok(0) => {}
                Ok(count) => tracing::warn!(
                    count,
                    "orders abandoned during their vendor call were marked failed"
                ),
                Err(error) => tracing::warn!(%error, "looking for abandoned orders failed"),
            }
        }
        let at = now();
        let lease = crate::domain::later(at, self.lease);
        // A callback makes its order due at once; waiting `CALLBACK_REREAD_DELAY` more lets the
        // vendor's read side catch up with the event and lets repeated callbacks share one read.
        // Regular polls start that much later too, which nothing notices.
        let settled = at
            - chrono::Duration::from_std(self.gateway.config.callback_reread_delay)
                .unwrap_or_default();
        let skip = ClaimSkip {
            account_id: self.accounts.full(),
            ..ClaimSkip::default()
        };
        let mut held_back = skip.account_id.is_some();
        let orders = self
            .gateway
            .store
            .claim_due_polls_skipping(settled, lease, limit as i64, &skip)
            .await?;
        let mut items = Vec::with_capacity(orders.len());
        for order in orders {
            match self.accounts.try_take(order.account_id) {
                Some(share) => items.push((order, lease, share)),
                // This claim took more of one account than its share: the rest waits.
                None => {
                    held_back = true;
                    self.release((order.id, lease)).await
                }
            }
        }
        self.held_back.store(held_back, Ordering::Relaxed);
        Ok(items)
    }

    fn lease_of((order, lease, _): &Self::Item) -> Self::Lease {
        (order.id, *lease)
    }

    fn held_back(&self) -> bool {
        self.held_back.load(Ordering::Relaxed)
    }

    async fn process(self: Arc<Self>, (order, lease, _share): Self::Item) {
        // Cut off before the lease ends, so that no other worker polls the order meanwhile.
        let cutoff = self.lease.mul_f64(0.75);
        let error = match tokio::time::timeout(cutoff, poll_order(&self.gateway, &order, lease))
            .instrument(
                tracing::info_span!("poll", order_id = %order.id, provider = %order.provider),
            )
            .await
        {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("cut off after {cutoff:?}, before its lease ended"),
        };
        tracing::warn!(order_id = %order.id, provider = %order.provider, %error, "poll failed");
        let retry = self.gateway.config.poll_interval;
        if let Err(error) = poll_again_after(&self.gateway, order.id, lease, retry).await {
            tracing::warn!(order_id = %order.id, %error, "rescheduling a failed poll failed; its lease will expire");
        }
    }

    async fn release(&self, (id, lease): Self::Lease) {
        if let Err(error) = self
            .gateway
            .store
            .reschedule_claimed_poll(id, lease, Some(now()))
            .await
        {
            tracing::warn!(order_id = %id, %error, "releasing a poll failed; its lease will expire");
        }
    }
}

/// Whether an order was invited longer ago than the account's `validity` setting.
fn past_validity(settings: &Value, order: &OrderRecord) -> bool {
    settings
        .get("validity")
        .and_then(Value::as_str)
        .and_then(|v| crate::config::parse_duration(v).ok())
        .is_some_and(|validity| now() > crate::domain::later(order.created_at, validity))
}

/// Reads one claimed order's state from its vendor and records what changed; when nothing did,
/// schedules the next poll (unless a callback asked for an earlier one meanwhile).
async fn poll_order(
    gateway: &Gateway,
    order: &OrderRecord,
    lease: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let Some(Caller {
        account,
        context,
        provider,
        ..
    }) = gateway.opened_account(order.account_id).await?
    else {
        // The account was deleted: nobody can ask the vendor any more.
        gateway
            .store
            .reschedule_claimed_poll(order.id, lease, None)
            .await?;
        return Ok(());
    };
    let order_id = order.id.to_string();
    let outcome = provider
        .fetch_result(&context, &order_ref(order, &order_id))
        .await;
    gateway.health.note(account.id, &outcome);
    let mut outcome = outcome?;
    if outcome.status == OrderStatus::Invited
        && order.status == OrderStatus::Invited
        && past_validity(&account.settings, order)
    {
        // Never started within the account's `validity` (nothing newer seen, or the vendor's
        // record not seen at all): the invitation is over.
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
        poll_again_after(gateway, order.id, lease, wait).await?;
    }
    Ok(())
}

/// Schedules the next poll of a claimed order `wait` (±10 %, each order on its own) from now.
async fn poll_again_after(
    gateway: &Gateway,
    id: Uuid,
    lease: DateTime<Utc>,
    wait: Duration,
) -> Result<(), ServiceError> {
    let wait = crate::service::spread(wait, 0.1);
    gateway
        .store
        .reschedule_claimed_poll(id, lease, Some(crate::domain::later(now(), wait)))
        .await?;
    Ok(())
}
