//! Successful delivery attempts on Postgres, batched like the order writes
//! (`pg_order_batches.rs`): the attempts that end at once share one statement and one commit,
//! which records each attempt and marks its delivery delivered. A delivery worker ends up to 64
//! attempts at a time, and each used to pay a transaction of four round trips and its own commit,
//! which held one receiver's deliveries below the rate its orders completed at.
//!
//! Retries and dead letters are rare and keep their transaction (`sql.rs`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    batcher::{fail_all, refused_by_database, BatchCounters, BatchJob, Batcher, BoxFuture, Reply},
    pg_order_batches::SLOTS,
    AttemptRecord, StoreError,
};

/// An attempt the receiver accepted, made under the claim `lease`.
pub struct DeliveredJob {
    attempt: AttemptRecord,
    lease: DateTime<Utc>,
    reply: Reply<()>,
}

impl BatchJob for DeliveredJob {
    fn key(&self) -> Option<Uuid> {
        Some(self.attempt.delivery_id)
    }
    fn fail(self, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

#[derive(Clone)]
pub struct DeliveredBatches {
    batcher: Batcher<DeliveredJob>,
}

impl DeliveredBatches {
    pub fn start(pool: PgPool, counters: Arc<BatchCounters>) -> Self {
        let batcher = Batcher::new("delivered", SLOTS, counters, move |jobs| {
            Box::pin(run_delivered(pool.clone(), jobs)) as BoxFuture<Option<String>>
        });
        Self { batcher }
    }

    /// Records `attempt` and marks its delivery delivered, if the delivery is still pending under
    /// `lease` (a worker whose lease ran out leaves the delivery to the one that took it over).
    pub async fn delivered(
        &self,
        attempt: AttemptRecord,
        lease: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.batcher
            .ask(|reply| DeliveredJob {
                attempt,
                lease,
                reply,
            })
            .await
    }
}

async fn run_delivered(pool: PgPool, mut jobs: Vec<DeliveredJob>) -> Option<String> {
    // Rows are locked in id order in every batch, so two batches wait instead of deadlocking.
    jobs.sort_by_key(|j| j.attempt.delivery_id);
    match write_delivered(&pool, &jobs).await {
        Ok(()) => {
            for job in jobs {
                let _ = job.reply.send(Ok(()));
            }
            None
        }
        Err(error) if jobs.len() > 1 && refused_by_database(&error) => {
            for job in jobs {
                let outcome = write_delivered(&pool, std::slice::from_ref(&job)).await;
                let _ = job.reply.send(outcome);
            }
            None
        }
        Err(error) => fail_all(jobs.into_iter().map(|j| j.reply).collect(), error),
    }
}

const DELIVERED: &str = "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::timestamptz[], \
       $3::timestamptz[], $4::integer[], $5::bigint[], $6::text[], $7::text[]) \
       AS i(delivery_id, lease, at, status_code, duration_ms, response_body, error)), \
     attempt AS (INSERT INTO delivery_attempts (delivery_id, at, status_code, duration_ms, \
       response_body, error) \
       SELECT delivery_id, at, status_code, duration_ms, response_body, error FROM input) \
     UPDATE deliveries d SET status = 'delivered', attempts = d.attempts + 1, \
       next_attempt_at = NULL, locked_until = NULL, last_error = NULL, delivered_at = i.at, \
       updated_at = i.at \
     FROM input i WHERE d.id = ANY($1) AND d.id = i.delivery_id AND d.locked_until = i.lease \
       AND d.status = 'pending'";

async fn write_delivered(pool: &PgPool, jobs: &[DeliveredJob]) -> Result<(), StoreError> {
    let attempts = || jobs.iter().map(|j| &j.attempt);
    sqlx::query(DELIVERED)
        .bind(attempts().map(|a| a.delivery_id).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.lease).collect::<Vec<_>>())
        .bind(attempts().map(|a| a.at).collect::<Vec<_>>())
        .bind(attempts().map(|a| a.status_code).collect::<Vec<_>>())
        .bind(attempts().map(|a| a.duration_ms).collect::<Vec<_>>())
        .bind(
            attempts()
                .map(|a| a.response_body.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(attempts().map(|a| a.error.as_deref()).collect::<Vec<_>>())
        .execute(pool)
        .await?;
    Ok(())
}
