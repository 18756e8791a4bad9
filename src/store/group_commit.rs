//! Group commit for SQLite: concurrent writes share one transaction, so one fsync makes a whole
//! batch durable. With `synchronous=FULL` every commit waits for the disk, and SQLite has one
//! writer, so committing each write alone caps the gateway at the disk's fsync rate no matter how
//! many requests wait; batching lets that rate carry many writes.
//!
//! Each write runs inside its own SAVEPOINT: a write that fails is rolled back alone and the
//! others of its batch still commit. A caller gets its answer only after the batch's COMMIT, so
//! nothing is reported written before it is durable; if the COMMIT fails, every write of the
//! batch gets the error (none of them happened).

use std::{future::Future, pin::Pin};

use sqlx::{Acquire, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::{batcher::BatchCounters, StoreError, WriteBatches};
use std::sync::Arc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Called once the batch is over: `Ok` when it committed.
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write of the queue: runs on the batch's connection, says whether it succeeded.
type Job =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Finish)> + Send>;

/// The most writes one transaction carries (bounds how long the write connection is held).
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
    counters: Arc<BatchCounters>,
}

impl GroupCommit {
    /// Starts the task that owns the writes of `pool` (the single write connection).
    pub fn start(pool: SqlitePool) -> Self {
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        let counters = Arc::new(BatchCounters::default());
        tokio::spawn(run(pool, queue, counters.clone()));
        Self { jobs, counters }
    }

    pub fn counts(&self) -> WriteBatches {
        self.counters.read()
    }

    /// Runs `work` in the next batch; answers once that batch committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = work(conn).await;
                let ok = result.is_ok();
                let finish: Finish = Box::new(move |committed| {
                    let _ = reply.send(match committed {
                        Ok(()) => result,
                        Err(error) => Err(StoreError::NotCommitted(error)),
                    });
                });
                (ok, finish)
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::NotCommitted("the write queue has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::NotCommitted("the batch of this write failed before it ran".into())
        })?
    }
}

async fn run(pool: SqlitePool, mut queue: mpsc::Receiver<Job>, counters: Arc<BatchCounters>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        counters.record(jobs.len());
        crate::telemetry::store_write_batch("group_commit", jobs.len());
        let mut finishes = Vec::with_capacity(jobs.len());
        let outcome = run_batch(&pool, jobs, &mut finishes).await;
        if let Err(error) = &outcome {
            tracing::warn!(%error, writes = finishes.len(), "a batch of writes failed");
        }
        let outcome = outcome.map_err(|e| e.to_string());
        for finish in finishes {
            finish(outcome.clone());
        }
    }
}

async fn run_batch(
    pool: &SqlitePool,
    jobs: Vec<Job>,
    finishes: &mut Vec<Finish>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for job in jobs {
        let mut savepoint = tx.begin().await?;
        let (ok, finish) = job(&mut savepoint).await;
        finishes.push(finish);
        if ok {
            savepoint.commit().await?;
        } else {
            savepoint.rollback().await?;
        }
    }
    tx.commit().await
}
