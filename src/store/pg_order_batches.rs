//! The Postgres order writes, batched: concurrent new orders go to the database as one `INSERT …
//! SELECT … FROM unnest(…)` statement, concurrent order changes as one `UPDATE … FROM unnest(…)`,
//! each with its events, deliveries and polls in data-modifying `WITH` clauses of the same
//! statement. One statement is one commit (autocommit, with the server's `synchronous_commit`), so
//! a batch costs one WAL flush and one round trip however many orders it carries, and every
//! caller is answered only once that commit is done.
//!
//! Each write keeps its own outcome: a client key already taken or a status that moved on answers
//! only its own caller. A write the database refuses (a constraint, a deadlock with another batch)
//! fails the whole statement, so the batch is then written again one write per statement and only
//! the refused write fails.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use sqlx::{postgres::PgRow, types::Json, PgPool, Row};
use uuid::Uuid;

use super::{
    batcher::{fail_all, refused_by_database, BatchCounters, BatchJob, Batcher, BoxFuture, Reply},
    pg_attempt_batches::DeliveredBatches,
    sql::ORDER_ROW_COLUMNS,
    AttemptRecord, NewEvent, OrderChange, OrderRecord, StoreError, WriteBatches,
};
use crate::domain::OrderStatus;

/// Batches of one kind running at once. Fewer slots gather bigger batches (less CPU per order):
/// on the benchmark machine one slot carried the most orders and four the fewest. Two keep
/// order writes moving while one batch waits for a row lock held elsewhere.
pub(super) const SLOTS: usize = 2;

/// Reads an order row the way the rest of the store does.
pub type OrderFromRow = fn(&PgRow) -> Result<OrderRecord, StoreError>;

/// A new order; answered with the order when it was inserted, `None` when its client key was
/// already taken.
pub struct NewOrderJob {
    order: OrderRecord,
    event: NewEvent,
    reply: Reply<Option<OrderRecord>>,
}

/// A change of one order from the status it is expected to have; answered with the changed
/// order, `None` when its status had moved on.
pub struct ChangeJob {
    id: Uuid,
    expected: OrderStatus,
    change: OrderChange,
    reply: Reply<Option<OrderRecord>>,
}

impl BatchJob for NewOrderJob {
    fn key(&self) -> Option<Uuid> {
        None
    }
    fn fail(self, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

impl BatchJob for ChangeJob {
    fn key(&self) -> Option<Uuid> {
        Some(self.id)
    }
    fn fail(self, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

#[derive(Clone)]
pub struct OrderBatches {
    inserts: Batcher<NewOrderJob>,
    changes: Batcher<ChangeJob>,
    delivered: DeliveredBatches,
    counters: Arc<BatchCounters>,
}

impl OrderBatches {
    /// Connections the batches need at most: one per slot of each kind (new orders, order
    /// changes, delivered attempts).
    pub const CONNECTIONS: u32 = 3 * SLOTS as u32;

    pub fn start(pool: PgPool, order_from: OrderFromRow) -> Self {
        let counters = Arc::new(BatchCounters::default());
        let insert_pool = pool.clone();
        let inserts = Batcher::new("order_insert", SLOTS, counters.clone(), move |jobs| {
            Box::pin(run_inserts(insert_pool.clone(), jobs)) as BoxFuture<Option<String>>
        });
        let delivered = DeliveredBatches::start(pool.clone(), counters.clone());
        let changes = Batcher::new("order_change", SLOTS, counters.clone(), move |jobs| {
            Box::pin(run_changes(pool.clone(), order_from, jobs)) as BoxFuture<Option<String>>
        });
        Self {
            inserts,
            changes,
            delivered,
            counters,
        }
    }

    pub async fn insert(
        &self,
        order: OrderRecord,
        event: NewEvent,
    ) -> Result<Option<OrderRecord>, StoreError> {
        self.inserts
            .ask(|reply| NewOrderJob {
                order,
                event,
                reply,
            })
            .await
    }

    pub async fn change(
        &self,
        id: Uuid,
        expected: OrderStatus,
        change: OrderChange,
    ) -> Result<Option<OrderRecord>, StoreError> {
        self.changes
            .ask(|reply| ChangeJob {
                id,
                expected,
                change,
                reply,
            })
            .await
    }

    /// Records an attempt the receiver accepted and marks its delivery delivered
    /// (`pg_attempt_batches.rs`).
    pub async fn delivered(
        &self,
        attempt: AttemptRecord,
        lease: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.delivered.delivered(attempt, lease).await
    }

    pub fn counts(&self) -> WriteBatches {
        self.counters.read()
    }
}

async fn run_inserts(pool: PgPool, mut jobs: Vec<NewOrderJob>) -> Option<String> {
    // One order of insertion for every batch, so two batches racing for the same client keys
    // wait for each other in the same order instead of deadlocking.
    jobs.sort_by(|a, b| {
        (a.order.account_id, &a.order.client_key).cmp(&(b.order.account_id, &b.order.client_key))
    });
    match insert_orders(&pool, &jobs).await {
        Ok(inserted) => {
            answer_inserts(jobs, &inserted);
            None
        }
        Err(error) if jobs.len() > 1 && refused_by_database(&error) => {
            for job in jobs {
                let outcome = insert_orders(&pool, std::slice::from_ref(&job)).await;
                let _ = job.reply.send(
                    outcome.map(|inserted| inserted.contains(&job.order.id).then_some(job.order)),
                );
            }
            None
        }
        Err(error) => fail_all(jobs.into_iter().map(|j| j.reply).collect(), error),
    }
}

fn answer_inserts(jobs: Vec<NewOrderJob>, inserted: &[Uuid]) {
    for job in jobs {
        let outcome = inserted.contains(&job.order.id).then_some(job.order);
        let _ = job.reply.send(Ok(outcome));
    }
}

/// Inserts the orders whose client key is free, each with its first event and its first poll;
/// returns the ids inserted.
async fn insert_orders(pool: &PgPool, jobs: &[NewOrderJob]) -> Result<Vec<Uuid>, StoreError> {
    let orders = || jobs.iter().map(|j| &j.order);
    let new_poll = if orders().any(|o| o.next_poll_at.is_some()) {
        ", new_poll AS (INSERT INTO order_polls (order_id, due_at) \
           SELECT i.id, i.next_poll_at FROM input i JOIN new_order n ON n.id = i.id \
           WHERE i.next_poll_at IS NOT NULL)"
    } else {
        ""
    };
    let sql = format!(
        "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], \
           $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
           $12::text[], $13::jsonb[], $14::jsonb[], $15::jsonb[], $16::text[], $17::timestamptz[], \
           $18::timestamptz[], $19::text[], $20::text[], $21::jsonb[], $22::timestamptz[]) \
           AS i(id, project_id, account_id, provider, client_key, request_hash, status, package_id, \
           candidate_email, remote_id, test_url, results_update_url, request, provider_data, result, \
           failure_reason, created_at, updated_at, callback_token_hash, message, data, next_poll_at)), \
         new_order AS (INSERT INTO orders (id, project_id, account_id, provider, client_key, \
           request_hash, status, package_id, candidate_email, remote_id, test_url, \
           results_update_url, request, provider_data, result, failure_reason, created_at, \
           updated_at, callback_token_hash) \
           SELECT id, project_id, account_id, provider, client_key, request_hash, status, \
           package_id, candidate_email, remote_id, test_url, results_update_url, request, \
           provider_data, result, failure_reason, created_at, updated_at, callback_token_hash \
           FROM input ON CONFLICT (account_id, client_key) DO NOTHING RETURNING id), \
         new_event AS (INSERT INTO order_events (order_id, at, from_status, to_status, message, data) \
           SELECT i.id, i.created_at, NULL, i.status, i.message, i.data \
           FROM input i JOIN new_order n ON n.id = i.id){new_poll} \
         SELECT id FROM new_order"
    );
    let rows = sqlx::query(&sql)
        .bind(orders().map(|o| o.id).collect::<Vec<_>>())
        .bind(orders().map(|o| o.project_id).collect::<Vec<_>>())
        .bind(orders().map(|o| o.account_id).collect::<Vec<_>>())
        .bind(orders().map(|o| o.provider.as_str()).collect::<Vec<_>>())
        .bind(
            orders()
                .map(|o| o.client_key.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            orders()
                .map(|o| o.request_hash.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(orders().map(|o| o.status.as_str()).collect::<Vec<_>>())
        .bind(orders().map(|o| o.package_id.as_str()).collect::<Vec<_>>())
        .bind(
            orders()
                .map(|o| o.candidate_email.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(orders().map(|o| o.remote_id.as_deref()).collect::<Vec<_>>())
        .bind(orders().map(|o| o.test_url.as_deref()).collect::<Vec<_>>())
        .bind(
            orders()
                .map(|o| o.results_update_url.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(orders().map(|o| Json(&o.request)).collect::<Vec<_>>())
        .bind(orders().map(|o| Json(&o.provider_data)).collect::<Vec<_>>())
        .bind(
            orders()
                .map(|o| o.result.as_ref().map(Json))
                .collect::<Vec<_>>(),
        )
        .bind(
            orders()
                .map(|o| o.failure_reason.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(orders().map(|o| o.created_at).collect::<Vec<_>>())
        .bind(orders().map(|o| o.updated_at).collect::<Vec<_>>())
        .bind(
            orders()
                .map(|o| o.callback_token_hash.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            jobs.iter()
                .map(|j| j.event.message.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(jobs.iter().map(|j| Json(&j.event.data)).collect::<Vec<_>>())
        .bind(orders().map(|o| o.next_poll_at).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| row.try_get::<Uuid, _>(0).map_err(StoreError::from))
        .collect()
}

async fn run_changes(
    pool: PgPool,
    order_from: OrderFromRow,
    mut jobs: Vec<ChangeJob>,
) -> Option<String> {
    // Rows are locked in id order in every batch, so two batches wait instead of deadlocking.
    jobs.sort_by_key(|j| j.id);
    match change_orders(&pool, order_from, &jobs).await {
        Ok(changed) => {
            answer_changes(jobs, changed);
            None
        }
        Err(error) if jobs.len() > 1 && refused_by_database(&error) => {
            for job in jobs {
                let outcome = change_orders(&pool, order_from, std::slice::from_ref(&job)).await;
                let _ = job
                    .reply
                    .send(outcome.map(|changed| changed.into_iter().next()));
            }
            None
        }
        Err(error) => fail_all(jobs.into_iter().map(|j| j.reply).collect(), error),
    }
}

fn answer_changes(jobs: Vec<ChangeJob>, mut changed: Vec<OrderRecord>) {
    for job in jobs {
        let outcome = changed
            .iter()
            .position(|o| o.id == job.id)
            .map(|at| changed.swap_remove(at));
        let _ = job.reply.send(Ok(outcome));
    }
}

/// Applies each change whose order still has the expected status (and is not erased), with its
/// event, its delivery (superseding the order's older pending ones) and its next poll; returns
/// the changed orders.
async fn change_orders(
    pool: &PgPool,
    order_from: OrderFromRow,
    jobs: &[ChangeJob],
) -> Result<Vec<OrderRecord>, StoreError> {
    let changes = || jobs.iter().map(|j| &j.change);
    let sql = change_statement(
        changes().any(|c| c.delivery.is_some()),
        changes().any(|c| c.next_poll_at.is_some()),
        changes().any(|c| c.next_poll_at.is_none()),
    );
    let deliveries = || changes().map(|c| c.delivery.as_ref());
    let rows = sqlx::query(sql)
        .bind(jobs.iter().map(|j| j.id).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.expected.as_str()).collect::<Vec<_>>())
        .bind(changes().map(|c| c.status.as_str()).collect::<Vec<_>>())
        .bind(
            changes()
                .map(|c| c.remote_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(changes().map(|c| c.test_url.as_deref()).collect::<Vec<_>>())
        .bind(
            changes()
                .map(|c| c.provider_data.as_ref().map(Json))
                .collect::<Vec<_>>(),
        )
        .bind(
            changes()
                .map(|c| c.result.as_ref().map(Json))
                .collect::<Vec<_>>(),
        )
        .bind(
            changes()
                .map(|c| c.failure_reason.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            changes()
                .map(|c| c.next_poll_at)
                .collect::<Vec<Option<DateTime<Utc>>>>(),
        )
        .bind(changes().map(|c| c.at).collect::<Vec<_>>())
        .bind(
            changes()
                .map(|c| c.event.message.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(changes().map(|c| Json(&c.event.data)).collect::<Vec<_>>())
        .bind(deliveries().map(|d| d.map(|d| d.id)).collect::<Vec<_>>())
        .bind(
            deliveries()
                .map(|d| d.map(|d| d.url.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(
            deliveries()
                .map(|d| d.map(|d| d.body.as_str()))
                .collect::<Vec<_>>(),
        )
        .fetch_all(pool)
        .await?;
    rows.iter().map(order_from).collect()
}

/// The change statement for a batch, one of eight built once (batches run it many times a
/// second).
fn change_statement(deliveries: bool, polls_set: bool, polls_unset: bool) -> &'static str {
    static STATEMENTS: LazyLock<Vec<String>> = LazyLock::new(|| {
        (0..8)
            .map(|n| build_change_statement(n & 1 != 0, n & 2 != 0, n & 4 != 0))
            .collect()
    });
    let n = usize::from(deliveries) | usize::from(polls_set) << 1 | usize::from(polls_unset) << 2;
    &STATEMENTS[n]
}

/// The change statement for a batch; clauses for work no change of the batch has are left out,
/// since Postgres sets up every clause of a statement each time it runs it. Each large table is
/// reached through `= ANY($1)` (the batch's order ids) besides the join: the planner cannot see
/// into the `input` rows, and on a table not yet analyzed it otherwise picks a sequential scan
/// of `orders` for every batch, whose cost grows with the table.
fn build_change_statement(deliveries: bool, polls_set: bool, polls_unset: bool) -> String {
    let returned: Vec<String> = ORDER_ROW_COLUMNS
        .split(", ")
        .map(|column| format!("o.{column}"))
        .collect();
    let returned = returned.join(", ");
    let mut clauses = String::new();
    if deliveries {
        clauses.push_str(
            ", superseded AS (UPDATE deliveries d SET status = 'superseded', next_attempt_at = NULL, \
               updated_at = i.at FROM changed c JOIN input i ON i.id = c.id \
               WHERE d.order_id = ANY($1) AND i.delivery_id IS NOT NULL AND d.order_id = c.id \
               AND d.status = 'pending' \
               AND (d.locked_until IS NULL OR d.locked_until < i.at)), \
             new_delivery AS (INSERT INTO deliveries (id, order_id, project_id, url, body, status, \
               attempts, next_attempt_at, locked_until, last_error, created_at, updated_at, delivered_at) \
               SELECT i.delivery_id, c.id, c.project_id, i.delivery_url, i.delivery_body, 'pending', 0, \
               i.at, NULL, NULL, i.at, i.at, NULL FROM changed c JOIN input i ON i.id = c.id \
               WHERE i.delivery_id IS NOT NULL)",
        );
    }
    if polls_set {
        // An order already due for a re-read (a callback asked for one while a poll was reading
        // the vendor) stays due rather than waiting for the next regular poll.
        clauses.push_str(
            ", poll_set AS (INSERT INTO order_polls (order_id, due_at) \
               SELECT c.id, i.next_poll_at FROM changed c JOIN input i ON i.id = c.id \
               WHERE i.next_poll_at IS NOT NULL \
               ON CONFLICT (order_id) DO UPDATE SET due_at = CASE \
                 WHEN order_polls.due_at <= (SELECT at FROM input WHERE input.id = excluded.order_id) \
                 THEN order_polls.due_at ELSE excluded.due_at END \
               RETURNING order_id, due_at)",
        );
    }
    if polls_unset {
        clauses.push_str(
            ", poll_unset AS (DELETE FROM order_polls WHERE order_id = ANY($1) AND order_id IN \
               (SELECT c.id FROM changed c JOIN input i ON i.id = c.id WHERE i.next_poll_at IS NULL))",
        );
    }
    let (poll_join, next_poll_at) = if polls_set {
        (" LEFT JOIN poll_set ps ON ps.order_id = c.id", "ps.due_at")
    } else {
        ("", "CAST(NULL AS timestamptz)")
    };
    format!(
        "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], \
           $5::text[], $6::jsonb[], $7::jsonb[], $8::text[], $9::timestamptz[], $10::timestamptz[], \
           $11::text[], $12::jsonb[], $13::uuid[], $14::text[], $15::text[]) \
           AS i(id, expected, status, remote_id, test_url, provider_data, result, failure_reason, \
           next_poll_at, at, message, data, delivery_id, delivery_url, delivery_body)), \
         changed AS (UPDATE orders o SET status = i.status, remote_id = COALESCE(i.remote_id, o.remote_id), \
           test_url = COALESCE(i.test_url, o.test_url), \
           provider_data = COALESCE(i.provider_data, o.provider_data), \
           result = COALESCE(i.result, o.result), failure_reason = i.failure_reason, updated_at = i.at \
           FROM input i WHERE o.id = ANY($1) AND o.id = i.id AND o.status = i.expected \
           AND o.erased_at IS NULL \
           RETURNING {returned}), \
         new_event AS (INSERT INTO order_events (order_id, at, from_status, to_status, message, data) \
           SELECT c.id, i.at, i.expected, i.status, i.message, i.data \
           FROM changed c JOIN input i ON i.id = c.id){clauses} \
         SELECT c.*, {next_poll_at} AS next_poll_at FROM changed c{poll_join}"
    )
}
