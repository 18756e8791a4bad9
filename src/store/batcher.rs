//! Gathers concurrent writes of one kind into batches for Postgres, where each batch is one
//! statement and one commit (`pg_order_batches.rs`). There is no timer and no dispatching task: a
//! write that finds a free slot and nothing else waiting runs at once on its caller's own task, as
//! an unbatched write would, so a lone client neither waits for company nor pays a hand-over
//! between threads. Writes gather only while every slot is busy; the window is the time a batch in
//! flight takes, and whichever batch ends first takes everything that gathered meanwhile.
//!
//! Within one batch no two writes share a key (an order's id for changes): one statement cannot
//! apply two changes to one row in order, so the later one goes to the next batch.

use std::{
    collections::{HashSet, VecDeque},
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::{StoreError, WriteBatches};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The most writes one statement carries.
pub const MAX_BATCH: usize = 128;

/// How many writes and how many batches (statements, commits) carried them.
#[derive(Default)]
pub struct BatchCounters {
    writes: AtomicU64,
    batches: AtomicU64,
}

impl BatchCounters {
    pub fn record(&self, writes: usize) {
        self.writes.fetch_add(writes as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(&self) -> WriteBatches {
        WriteBatches {
            writes: self.writes.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
        }
    }
}

/// What a batcher needs to know of its writes.
pub trait BatchJob: Send + 'static {
    /// Writes with the same key never share a batch.
    fn key(&self) -> Option<Uuid>;
    /// Answers the write with `error` without running it.
    fn fail(self, error: StoreError);
}

/// Where a write's outcome goes.
pub type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Runs a batch and answers every write of it; says why when the database was unavailable.
type Run<J> = Box<dyn Fn(Vec<J>) -> BoxFuture<Option<String>> + Send + Sync>;

pub struct Batcher<J> {
    inner: Arc<Inner<J>>,
}

impl<J> Clone for Batcher<J> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<J> {
    kind: &'static str,
    /// Writes not yet in a batch, oldest first, each with its number.
    waiting: Mutex<VecDeque<(u64, J)>>,
    next: AtomicU64,
    slots: Arc<Semaphore>,
    counters: Arc<BatchCounters>,
    run: Run<J>,
}

impl<J: BatchJob> Batcher<J> {
    /// A batcher running at most `slots` batches at once with `run`.
    pub fn new<R>(kind: &'static str, slots: usize, counters: Arc<BatchCounters>, run: R) -> Self
    where
        R: Fn(Vec<J>) -> BoxFuture<Option<String>> + Send + Sync + 'static,
    {
        Self {
            inner: Arc::new(Inner {
                kind,
                waiting: Mutex::new(VecDeque::new()),
                next: AtomicU64::new(0),
                slots: Arc::new(Semaphore::new(slots)),
                counters,
                run: Box::new(run),
            }),
        }
    }

    /// Writes the job `make` builds around its reply channel and waits for its outcome.
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> J) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.write(make(reply)).await;
        answer.await.map_err(|_| {
            StoreError::NotCommitted("the batch of this write ended without an answer".into())
        })?
    }

    /// Queues `job` and, when a slot is free, runs the next batch. Returns once the job is in
    /// a batch's hands or waiting for a slot; its answer comes through the job's own channel.
    async fn write(&self, job: J) {
        let seq = self.inner.next.fetch_add(1, Ordering::Relaxed);
        self.inner.lock().push_back((seq, job));
        let Some(slot) = Slot::take(&self.inner) else {
            // Every slot is busy; the first to end takes this write along.
            return;
        };
        let batch = take_batch(&mut self.inner.lock());
        if batch.is_empty() {
            return;
        }
        let alone = batch.len() == 1 && batch[0].0 == seq;
        let work = Inner::start(&self.inner, batch);
        if alone {
            // Only this caller's write: it may run on this task, which a dropped request
            // cancels, since it cancels no one else's.
            work.await;
            drop(slot);
        } else {
            tokio::spawn(async move {
                work.await;
                drop(slot);
            });
        }
    }
}

impl<J: BatchJob> Inner<J> {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, J)>> {
        // A panic while the queue was held cannot leave it half-changed (push and take only).
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The batch's work. When the database turns out to be unavailable, the writes that gathered
    /// meanwhile are answered at once with the same cause rather than each waiting for a
    /// connection in turn, so no request waits longer in an outage than an unbatched one.
    fn start(inner: &Arc<Self>, batch: Vec<(u64, J)>) -> BoxFuture<()> {
        inner.counters.record(batch.len());
        crate::telemetry::store_write_batch(inner.kind, batch.len());
        let work = (inner.run)(batch.into_iter().map(|(_, job)| job).collect());
        let inner = inner.clone();
        Box::pin(async move {
            let Some(reason) = work.await else {
                return;
            };
            let waiting: Vec<(u64, J)> = inner.lock().drain(..).collect();
            for (_, job) in waiting {
                job.fail(StoreError::NotCommitted(reason.clone()));
            }
        })
    }
}

/// A batch slot; when it is given back, writes that gathered meanwhile get a batch of their own.
struct Slot<J: BatchJob> {
    permit: Option<OwnedSemaphorePermit>,
    inner: Arc<Inner<J>>,
}

impl<J: BatchJob> Slot<J> {
    fn take(inner: &Arc<Inner<J>>) -> Option<Self> {
        let permit = inner.slots.clone().try_acquire_owned().ok()?;
        Some(Self {
            permit: Some(permit),
            inner: inner.clone(),
        })
    }
}

impl<J: BatchJob> Drop for Slot<J> {
    fn drop(&mut self) {
        // The slot is free before the queue is looked at: a write queued after this look found
        // the slot free itself.
        drop(self.permit.take());
        if self.inner.lock().is_empty() {
            return;
        }
        // Outside a runtime the process is ending, and the callers of the waiting writes with it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = self.inner.clone();
        runtime.spawn(async move {
            let Some(slot) = Slot::take(&inner) else {
                return;
            };
            let batch = take_batch(&mut inner.lock());
            if !batch.is_empty() {
                Inner::start(&inner, batch).await;
            }
            drop(slot);
        });
    }
}

/// Whether a failed batch is worth writing again one by one: the database refused something in
/// it (a constraint, a deadlock), as opposed to being unreachable, where each write would only
/// wait for the same failure.
pub fn refused_by_database(error: &StoreError) -> bool {
    matches!(error, StoreError::Database(sqlx::Error::Database(_))) && error.unavailable().is_none()
}

/// Gives each caller of a failed batch the error: the first gets it as it is, the others a
/// copy, which the API answers the same way (503 when the database is unavailable). Returns why
/// the database is unavailable, if that is the cause.
pub fn fail_all<T>(replies: Vec<Reply<T>>, error: StoreError) -> Option<String> {
    let unavailable = error.unavailable();
    let text = error.to_string();
    let mut error = Some(error);
    for reply in replies {
        let error = error
            .take()
            .unwrap_or_else(|| StoreError::NotCommitted(text.clone()));
        let _ = reply.send(Err(error));
    }
    unavailable
}

/// The oldest waiting writes, at most `MAX_BATCH`, no two with one key; the rest keep their order.
fn take_batch<J: BatchJob>(waiting: &mut VecDeque<(u64, J)>) -> Vec<(u64, J)> {
    let mut batch = Vec::with_capacity(waiting.len().min(MAX_BATCH));
    let mut keys = HashSet::new();
    let mut later = VecDeque::new();
    while let Some(queued) = waiting.pop_front() {
        if batch.len() == MAX_BATCH {
            later.push_back(queued);
            continue;
        }
        match queued.1.key() {
            Some(key) if !keys.insert(key) => later.push_back(queued),
            _ => batch.push(queued),
        }
    }
    *waiting = later;
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Job(Option<Uuid>);

    impl BatchJob for Job {
        fn key(&self) -> Option<Uuid> {
            self.0
        }
        fn fail(self, _: StoreError) {}
    }

    fn queue(keys: &[Option<Uuid>]) -> VecDeque<(u64, Job)> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (i as u64, Job(*k)))
            .collect()
    }

    #[test]
    fn a_batch_takes_one_write_per_key_and_keeps_the_rest_in_order() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut waiting = queue(&[Some(a), Some(a), None, Some(b), Some(a)]);
        let batch: Vec<u64> = take_batch(&mut waiting).iter().map(|j| j.0).collect();
        assert_eq!(batch, vec![0, 2, 3]);
        let rest: Vec<u64> = waiting.iter().map(|j| j.0).collect();
        assert_eq!(rest, vec![1, 4]);
        let next: Vec<u64> = take_batch(&mut waiting).iter().map(|j| j.0).collect();
        assert_eq!(next, vec![1]);
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_writes() {
        let mut waiting = queue(&[None; MAX_BATCH + 5]);
        assert_eq!(take_batch(&mut waiting).len(), MAX_BATCH);
        assert_eq!(waiting.len(), 5);
        assert_eq!(waiting.front().map(|j| j.0), Some(MAX_BATCH as u64));
    }
}
