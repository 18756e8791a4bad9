//! The production store: Postgres, shared by any number of gateway instances.

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};

use super::{group_commit::BoxFuture, pg_order_batches::OrderBatches, StoreError};

/// How long start-up waits for the database's first answer.
const FIRST_CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One plain connection before the pool: a pool reports any failed first connection as "pool
/// timed out" after its acquire timeout; this says why, at once (refused, no such database,
/// authentication), naming where.
async fn first_connection(url: &str) -> Result<(), StoreError> {
    use sqlx::Connection;
    let target = url::Url::parse(url)
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or("localhost"),
                u.port().unwrap_or(5432)
            )
        })
        .unwrap_or_else(|| "the configured server".into());
    let connected =
        tokio::time::timeout(FIRST_CONNECTION_TIMEOUT, PgConnection::connect(url)).await;
    let error = match connected {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            return Ok(());
        }
        Ok(Err(error)) => error,
        Err(_) => {
            return Err(StoreError::Unreachable(format!(
                "no answer from {target} within {} s",
                FIRST_CONNECTION_TIMEOUT.as_secs()
            )))
        }
    };
    let why = match &error {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused at {target}")
        }
        sqlx::Error::Io(io) => format!("cannot reach {target}: {io}"),
        sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => {
            format!("{} at {target} (create it with createdb)", db.message())
        }
        sqlx::Error::Database(db) => format!("{} at {target}", db.message()),
        other => format!("cannot connect to {target}: {other}"),
    };
    Err(StoreError::Unreachable(why))
}

/// Postgres serves reads and writes from one pool; row locks keep instances apart.
#[derive(Clone)]
pub struct PgStore {
    read: PgPool,
    write: PgPool,
    /// The order writes, gathered into shared statements and commits.
    batches: OrderBatches,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        first_connection(url).await?;
        let pool = PgPoolOptions::new()
            .max_connections(12)
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
            batches: OrderBatches::start(batch_pool(url).await?, order_from_row),
            write: pool,
        })
    }
}

/// The connections of the batched order writes, one per batch slot. Their statements reach each
/// table only by key (`= ANY(<ids>)`, unique indexes), so these connections keep one generic plan
/// per statement and never scan a table: Postgres would otherwise plan these long statements
/// afresh for each batch (its custom plans look no costlier on paper), and a plan made while a
/// table is new and small scans it whole, at a cost that grows with the table. Other queries keep
/// the defaults, since some (`$1 IS NULL OR …` filters) need a plan per value.
async fn batch_pool(url: &str) -> Result<PgPool, StoreError> {
    use sqlx::Executor;
    Ok(PgPoolOptions::new()
        .max_connections(OrderBatches::CONNECTIONS)
        .test_before_acquire(false)
        .acquire_timeout(std::time::Duration::from_secs(3))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
                    .await?;
                Ok(())
            })
        })
        .connect_lazy(url)?)
}

impl PgStore {
    /// Runs `work` in a transaction of its own. The order writes, the busiest, are batched
    /// instead (`pg_order_batches.rs`); the rest are rare enough to commit alone.
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
    fn batch_counts(&self) -> super::WriteBatches {
        self.batches.counts()
    }

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
    order_writes = order_writes_in_batches
);

super::sql_governance::impl_governance_store!(PgStore, sqlx::postgres::PgRow);
