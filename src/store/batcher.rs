//! Gathers concurrent writes of one kind into batches for Postgres, where each batch is one
//! statement and one commit (`pg_order_batches.rs`). There is no timer: a write that finds a free
//! slot runs at once, alone if nothing else is waiting, so a lone client never waits for company.
//! Writes gather only while every slot is busy, and the window is the time a batch in flight takes.
//!
//! Within one batch no two writes share a key (an order's id for changes): one statement cannot
//! apply two changes to one row in order, so the later one goes to the next batch.

use std::{
    collections::{HashSet, VecDeque},
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use tokio::sync::{mpsc, Semaphore};
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
    /// Answers the caller when the batch could not run at all (the batcher stopped).
    fn abandon(self, error: StoreError);
}

pub struct Batcher<J> {
    jobs: mpsc::UnboundedSender<J>,
}

impl<J> Clone for Batcher<J> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

impl<J: BatchJob> Batcher<J> {
    /// Starts the task that forms batches and runs at most `slots` of them at once with `run`,
    /// which answers every job of its batch.
    pub fn start<R>(kind: &'static str, slots: usize, counters: Arc<BatchCounters>, run: R) -> Self
    where
        R: Fn(Vec<J>) -> BoxFuture<()> + Send + Sync + 'static,
    {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(
            kind,
            queue,
            Arc::new(Semaphore::new(slots)),
            counters,
            run,
        ));
        Self { jobs }
    }

    /// Queues `job`; its answer comes through the job's own reply channel.
    pub fn submit(&self, job: J) {
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(job) {
            job.abandon(StoreError::NotCommitted(
                "the write batcher has stopped".into(),
            ));
        }
    }
}

async fn dispatch<J: BatchJob, R>(
    kind: &'static str,
    mut queue: mpsc::UnboundedReceiver<J>,
    slots: Arc<Semaphore>,
    counters: Arc<BatchCounters>,
    run: R,
) where
    R: Fn(Vec<J>) -> BoxFuture<()> + Send + Sync + 'static,
{
    let mut waiting: VecDeque<J> = VecDeque::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        if waiting.is_empty() {
            match queue.recv().await {
                Some(job) => waiting.push_back(job),
                None => return,
            }
        }
        while waiting.len() < 4 * MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => break,
            }
        }
        let batch = take_batch(&mut waiting);
        counters.record(batch.len());
        crate::telemetry::store_write_batch(kind, batch.len());
        let work = run(batch);
        tokio::spawn(async move {
            work.await;
            drop(slot);
        });
    }
}

/// The oldest waiting writes, at most `MAX_BATCH`, no two with one key; the rest keep their order.
fn take_batch<J: BatchJob>(waiting: &mut VecDeque<J>) -> Vec<J> {
    let mut batch = Vec::with_capacity(waiting.len().min(MAX_BATCH));
    let mut keys = HashSet::new();
    let mut later = VecDeque::new();
    while let Some(job) = waiting.pop_front() {
        if batch.len() == MAX_BATCH {
            later.push_back(job);
            continue;
        }
        match job.key() {
            Some(key) if !keys.insert(key) => later.push_back(job),
            _ => batch.push(job),
        }
    }
    *waiting = later;
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Job(Option<Uuid>, usize);

    impl BatchJob for Job {
        fn key(&self) -> Option<Uuid> {
            self.0
        }
        fn abandon(self, _: StoreError) {}
    }

    #[test]
    fn a_batch_takes_one_write_per_key_and_keeps_the_rest_in_order() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut waiting: VecDeque<Job> = [
            Job(Some(a), 0),
            Job(Some(a), 1),
            Job(None, 2),
            Job(Some(b), 3),
            Job(Some(a), 4),
        ]
        .into();
        let batch: Vec<usize> = take_batch(&mut waiting).iter().map(|j| j.1).collect();
        assert_eq!(batch, vec![0, 2, 3]);
        let rest: Vec<usize> = waiting.iter().map(|j| j.1).collect();
        assert_eq!(rest, vec![1, 4]);
        let next: Vec<usize> = take_batch(&mut waiting).iter().map(|j| j.1).collect();
        assert_eq!(next, vec![1]);
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_writes() {
        let mut waiting: VecDeque<Job> = (0..MAX_BATCH + 5).map(|i| Job(None, i)).collect();
        assert_eq!(take_batch(&mut waiting).len(), MAX_BATCH);
        assert_eq!(waiting.len(), 5);
        assert_eq!(waiting.front().map(|j| j.1), Some(MAX_BATCH));
    }
}
