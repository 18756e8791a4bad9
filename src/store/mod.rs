//! Persistence: one `Store` trait, implemented for Postgres (production, several instances) and
//! SQLite (the embedded default). Both run the same SQL (see `sql.rs`) and the same conformance
//! suite (`tests/store_conformance.rs`).

mod batcher;
mod group_commit;
mod pg_attempt_batches;
mod pg_order_batches;
mod postgres;
mod records;
mod sql;
mod sql_governance;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

pub use postgres::PgStore;
pub use records::*;
pub use sqlite::SqliteStore;

use crate::domain::OrderStatus;

/// Writes and the batches that carried them, counted since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteBatches {
    pub writes: u64,
    pub batches: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
    /// The database cannot be reached or refuses the connection at start-up, and why.
    #[error("{0}")]
    Unreachable(String),
}

impl StoreError {
    /// Why the database cannot serve right now (down, restarting, out of connections, disk full,
    /// read-only), as opposed to a fault of the query or the data; `None` for the latter. The
    /// caller may retry shortly: the HTTP layer answers 503.
    pub fn unavailable(&self) -> Option<String> {
        let error = match self {
            Self::Database(error) => error,
            Self::NotCommitted(reason) => {
                return Some(format!("a write was not committed: {reason}"))
            }
            _ => return None,
        };
        match error {
            sqlx::Error::PoolTimedOut => Some("no database connection could be had in time".into()),
            sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                Some("the database connection is closed".into())
            }
            sqlx::Error::Io(e) => Some(format!("the database connection failed: {e}")),
            sqlx::Error::Tls(e) => Some(format!("the database connection failed: {e}")),
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                let unavailable = match code.parse::<i32>() {
                    // SQLite (extended codes): SQLITE_BUSY, _READONLY, _IOERR, _FULL, _CANTOPEN.
                    Ok(sqlite) => matches!(sqlite & 0xff, 5 | 8 | 10 | 13 | 14),
                    // Postgres SQLSTATEs: connection exceptions, shutting down or starting,
                    // insufficient resources (disk full, too many connections), read-only.
                    Err(_) => {
                        code.starts_with("08")
                            || code.starts_with("57P")
                            || code.starts_with("53")
                            || code == "25006"
                    }
                };
                unavailable.then(|| format!("the database refused the work: {}", db.message()))
            }
            _ => None,
        }
    }
}

/// The work waiting: deliveries not yet delivered or dead, and polls already due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub pending_deliveries: i64,
    pub dead_deliveries: i64,
    pub due_polls: i64,
}

/// What a claim leaves for later: the project, receiver and vendor account that already hold more
/// than their share of a worker's slots, so that they cannot crowd out everyone else's work.
#[derive(Debug, Clone, Default)]
pub struct ClaimSkip {
    pub project_id: Option<Uuid>,
    /// A receiver's `scheme://host[:port]/`.
    pub url_prefix: Option<String>,
    pub account_id: Option<Uuid>,
}

/// The outcome of inserting an order under an idempotency key.
#[derive(Debug, Clone)]
pub enum InsertOrder {
    Inserted(OrderRecord),
    /// An order with the same account and client key already exists.
    Existing(OrderRecord),
}

/// Rotation of signing secrets, retention, erasure of personal data and the audit trail: the
/// store's half that answers to operators and data subjects rather than to the order flow.
#[async_trait]
pub trait GovernanceStore {
    /// Makes `sealed` the project's signing secret and keeps the one it replaces valid until
    /// `previous_valid_until`; the project as it is now, or `None` when there is no such project.
    async fn rotate_signing_secret(
        &self,
        id: Uuid,
        sealed: &[u8],
        previous_valid_until: DateTime<Utc>,
    ) -> Result<Option<ProjectRecord>, StoreError>;
    /// Writes name and retention; false when the project does not exist.
    async fn update_project(&self, project: &ProjectRecord) -> Result<bool, StoreError>;
    /// The project's orders not yet erased whose candidate email is `email`, in any case.
    async fn find_orders_by_email(
        &self,
        project_id: Uuid,
        email: &str,
    ) -> Result<Vec<OrderRecord>, StoreError>;
    /// The project's closed orders, not yet erased, last changed before `closed_before`; oldest
    /// first, at most `limit`.
    async fn list_expired_orders(
        &self,
        project_id: Uuid,
        closed_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OrderRecord>, StoreError>;
    /// Writes an erasure and drops the order's next poll, in one transaction. The request hash
    /// goes too (it was taken over the personal data): a replay of the order's key is refused.
    async fn erase_order(&self, erasure: &OrderErasure) -> Result<(), StoreError>;
    async fn insert_audit_event(&self, event: &NewAuditEvent) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;
}

#[async_trait]
pub trait Store: GovernanceStore + Send + Sync + 'static {
    fn backend(&self) -> &'static str;
    /// How many writes went through this store's batching and in how many batches (each one
    /// transaction and one commit): SQLite's group commit, Postgres's order writes.
    fn write_batches(&self) -> WriteBatches;
    async fn ping(&self) -> Result<(), StoreError>;

    async fn insert_project(&self, project: &ProjectRecord) -> Result<(), StoreError>;
    async fn get_project(&self, id: Uuid) -> Result<Option<ProjectRecord>, StoreError>;
    async fn list_projects(&self) -> Result<Vec<ProjectRecord>, StoreError>;

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn list_api_keys(&self, project_id: Uuid) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks a key revoked and returns it; `None` when it does not exist or was already revoked.
    async fn revoke_api_key(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;

    async fn insert_account(&self, account: &AccountRecord) -> Result<(), StoreError>;
    /// A live (not deleted) account.
    async fn get_account(&self, id: Uuid) -> Result<Option<AccountRecord>, StoreError>;
    async fn list_accounts(&self, project_id: Uuid) -> Result<Vec<AccountRecord>, StoreError>;
    /// Writes name, credentials and settings; false when the account is gone.
    async fn update_account(&self, account: &AccountRecord) -> Result<bool, StoreError>;
    /// Deletes an account; its orders are kept for the record.
    async fn delete_account(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Inserts an order with its first timeline event, unless the account already has an order
    /// with the same client key: then that order is returned and nothing is written.
    async fn insert_order(
        &self,
        order: &OrderRecord,
        event: &NewEvent,
    ) -> Result<InsertOrder, StoreError>;
    async fn get_order(&self, id: Uuid) -> Result<Option<OrderRecord>, StoreError>;
    async fn find_order_by_client_key(
        &self,
        account_id: Uuid,
        client_key: &str,
    ) -> Result<Option<OrderRecord>, StoreError>;
    /// What a callback needs of the order whose callback token hashes to `token_hash`.
    async fn find_callback_target(
        &self,
        token_hash: &str,
    ) -> Result<Option<CallbackTarget>, StoreError>;
    async fn find_order_by_remote_id(
        &self,
        provider: &str,
        remote_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError>;
    /// How many orders created since `since` are in each status, per provider.
    async fn order_counts_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, OrderStatus, i64)>, StoreError>;
    /// The orders of an account that hold the vendor invitation `remote_id`, newest first (at
    /// most 20): whose invitation a vendor's dedupe answer is.
    async fn list_orders_by_remote_id(
        &self,
        account_id: Uuid,
        provider: &str,
        remote_id: &str,
    ) -> Result<Vec<OrderRecord>, StoreError>;
    /// Newest first, at most `filter.limit`, older than `filter.before` when set.
    async fn list_orders(&self, filter: &OrderFilter) -> Result<Vec<OrderRecord>, StoreError>;
    /// Applies `change` only if the order is still in `expected` status and not erased, together
    /// with its timeline event, in one transaction. `None` when the status had moved on (or the
    /// order was erased: nothing the vendor says about it is written any more).
    async fn update_order(
        &self,
        id: Uuid,
        expected: OrderStatus,
        change: &OrderChange,
    ) -> Result<Option<OrderRecord>, StoreError>;
    async fn list_order_events(&self, order_id: Uuid) -> Result<Vec<OrderEvent>, StoreError>;
    /// Claims up to `limit` open orders whose poll was due at `due_by`, pushing their next poll to
    /// `lease_until` so that no other worker claims them meanwhile.
    async fn claim_due_polls(
        &self,
        due_by: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        self.claim_due_polls_skipping(due_by, lease_until, limit, &ClaimSkip::default())
            .await
    }
    /// `claim_due_polls`, leaving the orders of `skip.account_id` to later claims.
    async fn claim_due_polls_skipping(
        &self,
        due_by: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
        skip: &ClaimSkip,
    ) -> Result<Vec<OrderRecord>, StoreError>;
    /// Orders still `pending` whose last change is older than `before`: their vendor call was
    /// abandoned (the process died during it). Oldest first.
    async fn list_stale_pending(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OrderRecord>, StoreError>;
    /// Marks a `pending` order as still being placed at `at` (the placing process's heartbeat,
    /// which keeps `list_stale_pending` from taking it); false when it is no longer pending.
    /// How much work waits at `now` (for the metrics).
    async fn backlog(&self, now: DateTime<Utc>) -> Result<Backlog, StoreError>;
    async fn touch_pending_order(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError>;
    async fn set_next_poll(&self, id: Uuid, at: Option<DateTime<Utc>>) -> Result<(), StoreError>;
    /// Sets the next poll of an order claimed until `lease`, unless its next poll changed since
    /// the claim: a callback that asks for a re-read while one is in flight gets another one.
    async fn reschedule_claimed_poll(
        &self,
        id: Uuid,
        lease: DateTime<Utc>,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Claims up to `limit` due deliveries, leased until `lease_until`. A delivery is never
    /// claimed while an older one of the same order is still pending, so states arrive in order.
    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.claim_due_deliveries_skipping(now, lease_until, limit, &ClaimSkip::default())
            .await
    }
    /// `claim_due_deliveries`, leaving those of `skip.project_id` and to URLs starting with
    /// `skip.url_prefix` to later claims.
    async fn claim_due_deliveries_skipping(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
        skip: &ClaimSkip,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Records an attempt and its outcome. The delivery changes only while `lease` is still the
    /// holder's; a retry becomes `superseded` when a newer state of the order waits.
    async fn record_attempt(
        &self,
        delivery: &DeliveryRecord,
        lease: DateTime<Utc>,
        attempt: &AttemptRecord,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError>;
    /// Gives a claimed delivery back (graceful shutdown).
    async fn release_delivery(&self, id: Uuid, lease: DateTime<Utc>) -> Result<(), StoreError>;
    async fn get_delivery(&self, id: Uuid) -> Result<Option<DeliveryRecord>, StoreError>;
    /// Newest first.
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    async fn list_attempts(&self, delivery_id: Uuid) -> Result<Vec<AttemptRecord>, StoreError>;
    /// Makes a dead or delivered delivery pending again, due at `at`, if it is its order's newest.
    async fn requeue_delivery(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<DeliveryRecord>, StoreError>;
}

pub type DynStore = Arc<dyn Store>;

/// Connects to the database named by `url`, applies migrations and returns the store.
pub async fn connect(url: &str) -> Result<DynStore, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Ok(Arc::new(PgStore::connect(url).await?))
    }
}
