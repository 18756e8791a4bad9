//! The loop both workers run: leased work is done concurrently up to a cap, more is claimed as
//! soon as enough slots are free (so one slow receiver or vendor holds only its own slot, and
//! nothing waits for a whole batch), and at shutdown the work in flight gets a grace period before
//! the rest is stopped and its leases given back for another instance (or the next start).

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use tokio::{
    sync::{watch, Notify},
    task::{Id, JoinError, JoinSet},
    time::Instant,
};

use crate::service::ServiceError;

/// Work a worker claims under a lease and does one item at a time per slot.
pub trait LeasedWork: Send + Sync + 'static {
    type Item: Send + 'static;
    /// What a claim is given back with.
    type Lease: Send + 'static;
    /// What the log says is in flight ("deliveries", "polls").
    const WHAT: &'static str;

    /// Claims up to `limit` due items under a new lease.
    fn claim(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Self::Item>, ServiceError>> + Send;
    /// The claim an item holds.
    fn lease_of(item: &Self::Item) -> Self::Lease;
    /// Does one claimed item, its bookkeeping included; failures are logged, not returned.
    fn process(self: Arc<Self>, item: Self::Item) -> impl Future<Output = ()> + Send + 'static;
    /// Gives back a claim that shutdown cut short.
    fn release(&self, lease: Self::Lease) -> impl Future<Output = ()> + Send;
    /// Whether the last claim left due work behind because a project, receiver or account was
    /// at its share: a slot that frees up may make that work claimable, so the loop claims
    /// again as slots free up rather than waiting for the next wake-up or tick.
    fn held_back(&self) -> bool {
        false
    }
}

/// How much one worker does at once, and how it waits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_in_flight: usize,
    /// Claim again once this many slots are free: one claim query serves many items.
    pub claim_when_free: usize,
    /// Sleep between claims when nothing was due (at most one claim a second when idle).
    pub idle: Duration,
    /// After a claim that took all that was due, the least time before the next one, however
    /// often the worker is woken: a burst of wake-ups (a state change or callback each) becomes
    /// one claim query per gap instead of one per wake-up.
    pub claim_gap: Duration,
    /// How long the work in flight may take to finish once shutdown has begun.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// Up to `max_in_flight` at once, claiming again once `claim_when_free` slots are free; idle
    /// claims once a second, 20 ms between claims when woken, 10 s of grace at shutdown.
    pub fn new(max_in_flight: usize, claim_when_free: usize) -> Self {
        Self {
            max_in_flight,
            claim_when_free,
            idle: Duration::from_secs(1),
            claim_gap: Duration::from_millis(20),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Runs `work` until `stop` turns true; `wake` says new work may be due before the idle tick.
pub async fn run<W: LeasedWork>(
    work: Arc<W>,
    wake: &Notify,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let mut in_flight = InFlight::default();
    // Whether more may be due than the last claim took: it was full, `wake` was notified, or the
    // idle tick passed (retries and polls come due without a wake-up).
    let mut may_be_due = true;
    let mut tick = Instant::now() + limits.idle;
    let mut next_claim = Instant::now();
    loop {
        if *stop.borrow() {
            break;
        }
        let free = limits.max_in_flight.saturating_sub(in_flight.len());
        let can_claim = may_be_due && free >= limits.claim_when_free;
        if can_claim && Instant::now() >= next_claim {
            match work.claim(free).await {
                Ok(claimed) => {
                    may_be_due = claimed.len() == free;
                    for item in claimed {
                        let lease = W::lease_of(&item);
                        in_flight.spawn(work.clone().process(item), lease);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "claiming {} failed", W::WHAT);
                    may_be_due = false;
                }
            }
            tick = Instant::now() + limits.idle;
            if !may_be_due {
                next_claim = Instant::now() + limits.claim_gap;
            }
            continue;
        }
        tokio::select! {
            Some(done) = in_flight.tasks.join_next_with_id(), if !in_flight.is_empty() => {
                in_flight.finished(&done);
                if work.held_back() {
                    may_be_due = true;
                }
            }
            _ = wake.notified(), if !may_be_due => may_be_due = true,
            _ = tokio::time::sleep_until(tick), if !may_be_due => may_be_due = true,
            _ = tokio::time::sleep_until(next_claim), if can_claim => {}
            _ = stop.changed() => break,
        }
    }
    let cut_short = in_flight.finish(limits.shutdown_grace).await;
    if !cut_short.is_empty() {
        tracing::warn!(
            count = cut_short.len(),
            "{} in flight at shutdown were released",
            W::WHAT
        );
    }
    for lease in cut_short {
        work.release(lease).await;
    }
}

/// The tasks in flight and the lease of each, to give back if shutdown cuts it short.
struct InFlight<L> {
    tasks: JoinSet<()>,
    leases: HashMap<Id, L>,
}

impl<L> Default for InFlight<L> {
    fn default() -> Self {
        Self {
            tasks: JoinSet::new(),
            leases: HashMap::new(),
        }
    }
}

impl<L: Send + 'static> InFlight<L> {
    fn len(&self) -> usize {
        self.tasks.len()
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static, lease: L) {
        let id = self.tasks.spawn(task).id();
        self.leases.insert(id, lease);
    }

    fn finished(&mut self, done: &Result<(Id, ()), JoinError>) {
        let id = match done {
            Ok((id, ())) => *id,
            Err(error) => error.id(),
        };
        self.leases.remove(&id);
    }

    /// Waits up to `grace` for the tasks in flight, stops the rest, and returns their leases.
    async fn finish(mut self, grace: Duration) -> Vec<L> {
        let deadline = Instant::now() + grace;
        while let Ok(Some(done)) =
            tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await
        {
            self.finished(&done);
        }
        self.tasks.abort_all();
        while let Some(done) = self.tasks.join_next_with_id().await {
            // One that finished before the abort reached it has done its bookkeeping.
            if done.is_ok() {
                self.finished(&done);
            }
        }
        self.leases.into_values().collect()
    }
}
