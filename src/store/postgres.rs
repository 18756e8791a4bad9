//! The production store: Postgres, shared by any number of gateway instances.

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};

use super::{group_commit::BoxFuture, StoreError};

/// Postgres serves reads and writes from one pool; row locks keep instances apart.
#[derive(Clone)]
pub struct PgStore {
    read: PgPool,
    write: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // A ping before each use would add a round trip to every query; a connection the
            // server dropped fails its one query and is replaced.
            .test_before_acquire(false)
            // While the database is away, requests wait this long for a connection before they
            // are answered 503, well within what a client waits.
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self {
            read: pool.clone(),
            write: pool,
        })
    }
}

impl PgStore {
    /// Runs `work` in a transaction of its own. Postgres already shares one WAL flush among
    /// concurrent commits, so writes need no batching here.
    async fn write_tx<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let mut tx = self.write.begin().await?;
        let result = work(&mut tx).await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Runs a single statement, which Postgres commits by itself (no BEGIN/COMMIT round trips).
    async fn write_one<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let mut conn = self.write.acquire().await?;
        work(&mut conn).await
    }
}

super::sql::impl_sql_store!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    backend = "postgres",
    skip_locked = "FOR UPDATE SKIP LOCKED",
    pending_by_order = "",
    order_writes = order_writes_in_one_statement
);

super::sql_governance::impl_governance_store!(PgStore, sqlx::postgres::PgRow);
