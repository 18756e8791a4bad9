//! Upgrades: a database made by an older release keeps its data through the newer migrations.

mod common;

use std::borrow::Cow;

use assessment_gateway::store::connect;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use common::TestDb;
use serde_json::json;
use sqlx::migrate::Migrator;
use uuid::Uuid;

/// Migrations up to and including `version` of a full set.
fn up_to(mut migrator: Migrator, version: i64) -> Migrator {
    migrator.migrations = Cow::Owned(
        migrator
            .migrations
            .iter()
            .filter(|m| m.version <= version)
            .cloned()
            .collect(),
    );
    migrator
}

/// Two open orders on the schema of migrations 1–4, where the next poll was a column of
/// `orders`: one due at `due`, one not polled.
macro_rules! orders_on_the_0004_schema {
    ($pool:expr, $migrations:literal, $polled:expr, $unpolled:expr, $due:expr) => {{
        let pool = $pool;
        up_to(sqlx::migrate!($migrations), 4)
            .run(&pool)
            .await
            .expect("migrations 1-4");
        let (project, account, at) = (Uuid::now_v7(), Uuid::now_v7(), Utc::now());
        sqlx::query(
            "INSERT INTO projects (id, name, signing_secret_sealed, created_at) VALUES ($1, 'p', $2, $3)",
        )
        .bind(project)
        .bind(vec![1u8, 2, 3])
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO accounts (id, project_id, provider, name, credentials_sealed, settings, \
             created_at, updated_at) VALUES ($1, $2, 'testgorilla', 'a', $3, $4, $5, $5)",
        )
        .bind(account)
        .bind(project)
        .bind(vec![4u8, 5, 6])
        .bind(sqlx::types::Json(json!({})))
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
        for (id, next_poll_at) in [($polled, Some($due)), ($unpolled, None)] {
            sqlx::query(
                "INSERT INTO orders (id, project_id, account_id, provider, client_key, request_hash, \
                 status, package_id, candidate_email, remote_id, request, provider_data, \
                 next_poll_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'testgorilla', $4, 'h', 'invited', 'p1', 'ada@example.com', \
                 $4, $5, $6, $7, $8, $8)",
            )
            .bind(id)
            .bind(project)
            .bind(account)
            .bind(id.to_string())
            .bind(sqlx::types::Json(json!({"id": id.to_string(),
                "package": {"id": "p1"}, "candidate": {"emails": [{"value": "ada@example.com"}]}})))
            .bind(sqlx::types::Json(json!({})))
            .bind(next_poll_at)
            .bind(at)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }};
}

async fn the_next_poll_moves_out_of_the_orders_row_and_stays(db: TestDb) {
    let (polled, unpolled) = (Uuid::now_v7(), Uuid::now_v7());
    let due: DateTime<Utc> = Utc::now().trunc_subsecs(6) - Duration::minutes(5);
    if db.backend == "postgres" {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        orders_on_the_0004_schema!(pool, "migrations/postgres", polled, unpolled, due);
    } else {
        let pool = sqlx::SqlitePool::connect(&format!("{}?mode=rwc", db.url))
            .await
            .unwrap();
        orders_on_the_0004_schema!(pool, "migrations/sqlite", polled, unpolled, due);
    }

    let store = connect(&db.url).await.expect("the newer migrations apply");
    let read = |id| {
        let store = store.clone();
        async move {
            store
                .get_order(id)
                .await
                .unwrap()
                .expect("the order is kept")
        }
    };
    assert_eq!(read(polled).await.next_poll_at, Some(due));
    assert_eq!(read(unpolled).await.next_poll_at, None);
    let lease = Utc::now().trunc_subsecs(6) + Duration::minutes(2);
    let claimed = store.claim_due_polls(Utc::now(), lease, 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![polled],
        "the poll that was due is still due, and only it"
    );
    assert_eq!(claimed[0].next_poll_at, Some(lease));
}

on_both_databases!(the_next_poll_moves_out_of_the_orders_row_and_stays);
