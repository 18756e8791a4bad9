//! The production store: Postgres, shared by any number of gateway instances.

use sqlx::postgres::{PgPool, PgPoolOptions};

/// Postgres serves reads and writes from one pool; row locks keep instances apart.
#[derive(Clone)]
pub struct PgStore {
    read: PgPool,
    write: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, super::StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self {
            read: pool.clone(),
            write: pool,
        })
    }
}

super::sql::impl_sql_store!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    backend = "postgres",
    skip_locked = "FOR UPDATE SKIP LOCKED"
);
