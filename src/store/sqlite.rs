//! The embedded store: one SQLite file, one gateway process.

use std::{str::FromStr, time::Duration};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::{
    group_commit::{BoxFuture, GroupCommit},
    StoreError,
};

/// SQLite allows one writer at a time: writes go through a single-connection pool so they queue
/// in the process instead of failing with SQLITE_BUSY; reads use a pool of their own (WAL lets
/// them run beside the writer). The busiest writes go through group commit.
#[derive(Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    group: GroupCommit,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            // A ping before each use would double the trips to the connection's thread; a
            // broken connection fails its one query instead.
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        let read = if crate::config::sqlite_path(url).is_some() {
            SqlitePoolOptions::new()
                .max_connections(8)
                .test_before_acquire(false)
                .connect_with(options.read_only(true))
                .await?
        } else {
            // An in-memory database exists only on its one connection.
            write.clone()
        };
        Ok(Self {
            read,
            group: GroupCommit::start(write.clone()),
            write,
        })
    }

    fn batch_counts(&self) -> super::WriteBatches {
        self.group.counts()
    }

    /// Runs `work` in the next group-committed transaction (see `group_commit`).
    async fn write_tx<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.group.write(work).await
    }

    /// A single statement: batched like any other write (the fsync is what costs).
    async fn write_one<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.write_tx(work).await
    }
}

super::sql::impl_sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    backend = "sqlite",
    skip_locked = "",
    pending_by_order = "INDEXED BY deliveries_pending_order",
    order_writes = order_writes_in_transactions
);

super::sql_governance::impl_governance_store!(SqliteStore, sqlx::sqlite::SqliteRow);
