//! The one SQL implementation of `Store`, expanded for each backend.
//!
//! Postgres and SQLite accept the same statements here (`$n` parameters, `ON CONFLICT`,
//! `RETURNING`); the column types differ only in the migrations (uuid/BLOB, timestamptz/TEXT,
//! jsonb/TEXT), and sqlx maps both to the same Rust types. The macro takes the backend, its row
//! type, the row-locking clause that only Postgres has, and the index hint SQLite needs to find an
//! order's pending deliveries (its planner otherwise scans all of them for every candidate), so
//! both stores share every query. Writes go through the store's `write_tx` (a transaction of its
//! own on Postgres, group commit on SQLite) or `write_one` (a single statement). The order writes,
//! the busiest, come in two shapes chosen by `order_writes`: one statement on Postgres, whose
//! data-modifying `WITH` clauses SQLite lacks, and a transaction on SQLite.

macro_rules! order_row_columns {
    () => {
        "id, project_id, account_id, provider, client_key, request_hash, status, package_id, \
         candidate_email, remote_id, test_url, results_update_url, request, provider_data, result, \
         failure_reason, callback_token_hash, created_at, updated_at, erased_at"
    };
}

/// The columns of an order's own row. Its next poll is kept apart, in `order_polls`.
pub(super) const ORDER_ROW_COLUMNS: &str = order_row_columns!();

/// An order with its next poll, for `SELECT … FROM orders`.
pub(super) const ORDER_COLUMNS: &str = concat!(
    order_row_columns!(),
    ", (SELECT due_at FROM order_polls WHERE order_polls.order_id = orders.id) AS next_poll_at"
);

pub(super) const DELIVERY_COLUMNS: &str =
    "id, order_id, project_id, url, body, status, attempts, next_attempt_at, \
    locked_until, last_error, created_at, updated_at, delivered_at";

/// A new order; bound by `bind_new_order`. Does nothing when the account already has the key.
pub(super) const INSERT_ORDER: &str = "INSERT INTO orders (id, project_id, account_id, provider, client_key, \
    request_hash, status, package_id, candidate_email, remote_id, test_url, results_update_url, request, \
    provider_data, result, failure_reason, created_at, updated_at, callback_token_hash) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
    ON CONFLICT (account_id, client_key) DO NOTHING";

/// An order's change, only from the expected status; bound by `bind_order_change`. Its next poll
/// (`$9`) is written by `POLL_AFTER_CHANGE`.
pub(super) const UPDATE_ORDER: &str =
    "UPDATE orders SET status = $3, remote_id = COALESCE($4, remote_id), \
    test_url = COALESCE($5, test_url), provider_data = COALESCE($6, provider_data), \
    result = COALESCE($7, result), failure_reason = $8, updated_at = $10 \
    WHERE id = $1 AND status = $2 AND erased_at IS NULL";

/// The next poll after a change ($9; $10 now), completing `INSERT INTO order_polls (order_id,
/// due_at) SELECT <the order's id>, $9 … WHERE $9 IS NOT NULL`. An order that stays open and was
/// already due for a re-read (a callback asked for one while a poll was reading the vendor) stays
/// due rather than waiting for the next regular poll. A change with no next poll deletes the row.
pub(super) const KEEP_DUE_POLL: &str = "ON CONFLICT (order_id) DO UPDATE SET due_at = \
    CASE WHEN order_polls.due_at <= $10 THEN order_polls.due_at ELSE excluded.due_at END";

/// Open orders whose poll is due by `$1`, oldest first, at most `$3`; completed by a row-locking
/// clause where the backend has one.
pub(super) const DUE_POLLS: &str =
    "SELECT p.order_id FROM order_polls p JOIN orders o ON o.id = p.order_id \
    WHERE p.due_at <= $1 AND o.status IN ('invited', 'in_progress') \
      AND ($4 IS NULL OR o.account_id <> $4) ORDER BY p.due_at LIMIT $3";

/// Older states of an order not yet on their way are replaced by a newer one ($1 order, $2 now).
pub(super) const SUPERSEDE_PENDING: &str = "UPDATE deliveries SET status = 'superseded', \
    next_attempt_at = NULL, updated_at = $2 \
    WHERE order_id = $1 AND status = 'pending' AND (locked_until IS NULL OR locked_until < $2)";

/// True when a newer delivery of the same order exists (the outer table is `deliveries`).
pub(super) const NEWER_EXISTS: &str =
    "EXISTS (SELECT 1 FROM deliveries n WHERE n.order_id = deliveries.order_id AND n.id > deliveries.id)";

pub(super) fn parse_delivery_status(
    value: &str,
) -> Result<super::DeliveryStatus, super::StoreError> {
    super::DeliveryStatus::parse(value)
        .ok_or_else(|| super::StoreError::Corrupt(format!("unknown delivery status {value:?}")))
}

pub(super) fn parse_status(value: &str) -> Result<crate::domain::OrderStatus, super::StoreError> {
    crate::domain::OrderStatus::parse(value)
        .ok_or_else(|| super::StoreError::Corrupt(format!("unknown order status {value:?}")))
}

macro_rules! impl_sql_store {
    ($store:ident, $db:ty, $row:ty, backend = $backend:literal, skip_locked = $skip_locked:literal, pending_by_order = $pending_by_order:literal, order_writes = $order_writes:ident) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::{types::Json, Row};
        use uuid::Uuid;

        use crate::domain::{AssessmentResult, OrderRequest, OrderStatus};
        use crate::store::sql::{
            parse_delivery_status, parse_status, DELIVERY_COLUMNS, DUE_POLLS, NEWER_EXISTS, ORDER_COLUMNS,
        };
        use crate::store::*;

        fn project_from(row: &$row) -> Result<ProjectRecord, StoreError> {
            Ok(ProjectRecord {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                signing_secret_sealed: row.try_get("signing_secret_sealed")?,
                previous_signing_secret_sealed: row.try_get("previous_signing_secret_sealed")?,
                previous_signing_valid_until: row.try_get("previous_signing_valid_until")?,
                retention_days: row.try_get("retention_days")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn api_key_from(row: &$row) -> Result<ApiKeyRecord, StoreError> {
            Ok(ApiKeyRecord {
                id: row.try_get("id")?,
                project_id: row.try_get("project_id")?,
                name: row.try_get("name")?,
                key_hash: row.try_get("key_hash")?,
                key_prefix: row.try_get("key_prefix")?,
                created_at: row.try_get("created_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

        fn account_from(row: &$row) -> Result<AccountRecord, StoreError> {
            let Json(settings) = row.try_get("settings")?;
            Ok(AccountRecord {
                id: row.try_get("id")?,
                project_id: row.try_get("project_id")?,
                provider: row.try_get("provider")?,
                name: row.try_get("name")?,
                credentials_sealed: row.try_get("credentials_sealed")?,
                settings,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn order_from(row: &$row) -> Result<OrderRecord, StoreError> {
            let status: String = row.try_get("status")?;
            let Json(request): Json<OrderRequest> = row.try_get("request")?;
            let Json(provider_data) = row.try_get("provider_data")?;
            let result: Option<Json<AssessmentResult>> = row.try_get("result")?;
            Ok(OrderRecord {
                id: row.try_get("id")?,
                project_id: row.try_get("project_id")?,
                account_id: row.try_get("account_id")?,
                provider: row.try_get("provider")?,
                client_key: row.try_get("client_key")?,
                request_hash: row.try_get("request_hash")?,
                status: parse_status(&status)?,
                package_id: row.try_get("package_id")?,
                candidate_email: row.try_get("candidate_email")?,
                remote_id: row.try_get("remote_id")?,
                test_url: row.try_get("test_url")?,
                results_update_url: row.try_get("results_update_url")?,
                request,
                provider_data,
                result: result.map(|Json(r)| r),
                failure_reason: row.try_get("failure_reason")?,
                next_poll_at: row.try_get("next_poll_at")?,
                callback_token_hash: row.try_get("callback_token_hash")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                erased_at: row.try_get("erased_at")?,
            })
        }

        fn delivery_from(row: &$row) -> Result<DeliveryRecord, StoreError> {
            let status: String = row.try_get("status")?;
            Ok(DeliveryRecord {
                id: row.try_get("id")?,
                order_id: row.try_get("order_id")?,
                project_id: row.try_get("project_id")?,
                url: row.try_get("url")?,
                body: row.try_get("body")?,
                status: parse_delivery_status(&status)?,
                attempts: row.try_get("attempts")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                locked_until: row.try_get("locked_until")?,
                last_error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                delivered_at: row.try_get("delivered_at")?,
            })
        }

        fn attempt_from(row: &$row) -> Result<AttemptRecord, StoreError> {
            Ok(AttemptRecord {
                id: row.try_get("id")?,
                delivery_id: row.try_get("delivery_id")?,
                at: row.try_get("at")?,
                status_code: row.try_get("status_code")?,
                duration_ms: row.try_get("duration_ms")?,
                response_body: row.try_get("response_body")?,
                error: row.try_get("error")?,
            })
        }

        fn event_from(row: &$row) -> Result<OrderEvent, StoreError> {
            let from: Option<String> = row.try_get("from_status")?;
            let to: String = row.try_get("to_status")?;
            let Json(data) = row.try_get("data")?;
            Ok(OrderEvent {
                id: row.try_get("id")?,
                order_id: row.try_get("order_id")?,
                at: row.try_get("at")?,
                from_status: from.as_deref().map(parse_status).transpose()?,
                to_status: parse_status(&to)?,
                message: row.try_get("message")?,
                data,
            })
        }

        /// The order an account already has under `client_key` (the loser of an insert race).
        async fn existing_order<'e>(
            executor: impl sqlx::Executor<'e, Database = $db>,
            account_id: Uuid,
            client_key: &Option<String>,
        ) -> Result<OrderRecord, StoreError> {
            let row = sqlx::query(&format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND client_key = $2"
            ))
            .bind(account_id)
            .bind(client_key)
            .fetch_one(executor)
            .await?;
            order_from(&row)
        }

        crate::store::sql::$order_writes!($store, $db);

        /// Records one attempt at a delivery.
        async fn insert_attempt(conn: &mut <$db as sqlx::Database>::Connection, a: &AttemptRecord) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO delivery_attempts (delivery_id, at, status_code, duration_ms, response_body, error) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(a.delivery_id)
            .bind(a.at)
            .bind(a.status_code)
            .bind(a.duration_ms)
            .bind(&a.response_body)
            .bind(&a.error)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn write_batches(&self) -> WriteBatches {
                self.batch_counts()
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.read).await?;
                Ok(())
            }

            async fn insert_project(&self, p: &ProjectRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO projects (id, name, signing_secret_sealed, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(p.id)
                .bind(&p.name)
                .bind(&p.signing_secret_sealed)
                .bind(p.created_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn get_project(&self, id: Uuid) -> Result<Option<ProjectRecord>, StoreError> {
                sqlx::query("SELECT * FROM projects WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .map(|row| project_from(&row))
                    .transpose()
            }

            async fn list_projects(&self) -> Result<Vec<ProjectRecord>, StoreError> {
                sqlx::query("SELECT * FROM projects ORDER BY created_at, id")
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(project_from)
                    .collect()
            }

            async fn insert_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO api_keys (id, project_id, name, key_hash, key_prefix, created_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(k.id)
                .bind(k.project_id)
                .bind(&k.name)
                .bind(&k.key_hash)
                .bind(&k.key_prefix)
                .bind(k.created_at)
                .bind(k.revoked_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
                sqlx::query("SELECT * FROM api_keys WHERE key_hash = $1")
                    .bind(key_hash)
                    .fetch_optional(&self.read)
                    .await?
                    .map(|row| api_key_from(&row))
                    .transpose()
            }

            async fn list_api_keys(&self, project_id: Uuid) -> Result<Vec<ApiKeyRecord>, StoreError> {
                sqlx::query("SELECT * FROM api_keys WHERE project_id = $1 ORDER BY created_at, id")
                    .bind(project_id)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(api_key_from)
                    .collect()
            }

            async fn revoke_api_key(&self, id: Uuid, at: DateTime<Utc>) -> Result<Option<ApiKeyRecord>, StoreError> {
                sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING *")
                    .bind(id)
                    .bind(at)
                    .fetch_optional(&self.write)
                    .await?
                    .as_ref()
                    .map(api_key_from)
                    .transpose()
            }

            async fn insert_account(&self, a: &AccountRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO accounts (id, project_id, provider, name, credentials_sealed, settings, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(a.id)
                .bind(a.project_id)
                .bind(&a.provider)
                .bind(&a.name)
                .bind(&a.credentials_sealed)
                .bind(Json(&a.settings))
                .bind(a.created_at)
                .bind(a.updated_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn get_account(&self, id: Uuid) -> Result<Option<AccountRecord>, StoreError> {
                sqlx::query("SELECT * FROM accounts WHERE id = $1 AND deleted_at IS NULL")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .map(|row| account_from(&row))
                    .transpose()
            }

            async fn list_accounts(&self, project_id: Uuid) -> Result<Vec<AccountRecord>, StoreError> {
                sqlx::query("SELECT * FROM accounts WHERE project_id = $1 AND deleted_at IS NULL ORDER BY created_at, id")
                    .bind(project_id)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(account_from)
                    .collect()
            }

            async fn update_account(&self, a: &AccountRecord) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE accounts SET name = $2, credentials_sealed = $3, settings = $4, updated_at = $5 \
                     WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(a.id)
                .bind(&a.name)
                .bind(&a.credentials_sealed)
                .bind(Json(&a.settings))
                .bind(a.updated_at)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_account(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
                // The sealed credentials are dropped with the account; orders keep their history.
                let done = sqlx::query(
                    "UPDATE accounts SET deleted_at = $2, credentials_sealed = $3 WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .bind(Vec::<u8>::new())
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_order(&self, o: &OrderRecord, event: &NewEvent) -> Result<InsertOrder, StoreError> {
                write_new_order(self, o, event).await
            }

            async fn get_order(&self, id: Uuid) -> Result<Option<OrderRecord>, StoreError> {
                sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .map(|row| order_from(&row))
                    .transpose()
            }

            async fn find_order_by_client_key(&self, account_id: Uuid, client_key: &str) -> Result<Option<OrderRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND client_key = $2"
                ))
                .bind(account_id)
                .bind(client_key)
                .fetch_optional(&self.read)
                .await?
                .map(|row| order_from(&row))
                .transpose()
            }

            async fn find_callback_target(&self, token_hash: &str) -> Result<Option<CallbackTarget>, StoreError> {
                let Some(row) = sqlx::query(
                    "SELECT o.id, o.provider, o.remote_id, o.status, p.due_at AS next_poll_at FROM orders o \
                     LEFT JOIN order_polls p ON p.order_id = o.id WHERE o.callback_token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.read)
                .await?
                else {
                    return Ok(None);
                };
                let status: String = row.try_get("status")?;
                Ok(Some(CallbackTarget {
                    order_id: row.try_get("id")?,
                    provider: row.try_get("provider")?,
                    remote_id: row.try_get("remote_id")?,
                    status: parse_status(&status)?,
                    next_poll_at: row.try_get("next_poll_at")?,
                }))
            }

            async fn find_order_by_remote_id(&self, provider: &str, remote_id: &str) -> Result<Option<OrderRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {ORDER_COLUMNS} FROM orders WHERE provider = $1 AND remote_id = $2 ORDER BY id DESC LIMIT 1"
                ))
                .bind(provider)
                .bind(remote_id)
                .fetch_optional(&self.read)
                .await?
                .map(|row| order_from(&row))
                .transpose()
            }

            async fn order_counts_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, OrderStatus, i64)>, StoreError> {
                sqlx::query(
                    "SELECT provider, status, COUNT(*) AS n FROM orders WHERE created_at >= $1 \
                     GROUP BY provider, status ORDER BY provider, status",
                )
                .bind(since)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|row| {
                    let status: String = row.try_get("status")?;
                    Ok((row.try_get("provider")?, parse_status(&status)?, row.try_get("n")?))
                })
                .collect()
            }

            async fn list_orders_by_remote_id(&self, account_id: Uuid, provider: &str, remote_id: &str) -> Result<Vec<OrderRecord>, StoreError> {
                // `orders_remote` (provider, remote_id) finds them; the account narrows them down.
                sqlx::query(&format!(
                    "SELECT {ORDER_COLUMNS} FROM orders WHERE provider = $1 AND remote_id = $2 AND account_id = $3 \
                     ORDER BY id DESC LIMIT 20"
                ))
                .bind(provider)
                .bind(remote_id)
                .bind(account_id)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(order_from)
                .collect()
            }

            async fn list_orders(&self, f: &OrderFilter) -> Result<Vec<OrderRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {ORDER_COLUMNS} FROM orders \
                     WHERE ($1 IS NULL OR project_id = $1) AND ($2 IS NULL OR account_id = $2) \
                       AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR provider = $4) \
                       AND ($5 IS NULL OR id < $5) \
                       AND ($7 IS NULL OR candidate_email = $7 OR client_key = $7 OR remote_id = $7 OR id = $8) \
                     ORDER BY id DESC LIMIT $6"
                ))
                .bind(f.project_id)
                .bind(f.account_id)
                .bind(f.status.map(OrderStatus::as_str))
                .bind(&f.provider)
                .bind(f.before)
                .bind(f.limit)
                .bind(&f.search)
                .bind(f.search.as_deref().and_then(|s| Uuid::parse_str(s.trim()).ok()))
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(order_from)
                .collect()
            }

            async fn update_order(&self, id: Uuid, expected: OrderStatus, c: &OrderChange) -> Result<Option<OrderRecord>, StoreError> {
                write_order_change(self, id, expected, c).await
            }

            async fn list_order_events(&self, order_id: Uuid) -> Result<Vec<OrderEvent>, StoreError> {
                sqlx::query("SELECT * FROM order_events WHERE order_id = $1 ORDER BY id")
                    .bind(order_id)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(event_from)
                    .collect()
            }

            async fn claim_due_polls_skipping(&self, due_by: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64, skip: &ClaimSkip) -> Result<Vec<OrderRecord>, StoreError> {
                claim_polls(self, due_by, lease_until, limit, skip.account_id).await
            }

            async fn list_stale_pending(&self, before: DateTime<Utc>, limit: i64) -> Result<Vec<OrderRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {ORDER_COLUMNS} FROM orders WHERE status = 'pending' AND updated_at < $1 \
                     ORDER BY updated_at LIMIT $2"
                ))
                .bind(before)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(order_from)
                .collect()
            }

            async fn backlog(&self, now: DateTime<Utc>) -> Result<Backlog, StoreError> {
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM deliveries WHERE status = 'pending') AS pending, \
                            (SELECT COUNT(*) FROM deliveries WHERE status = 'dead') AS dead, \
                            (SELECT COUNT(*) FROM order_polls WHERE due_at <= $1) AS due",
                )
                .bind(now)
                .fetch_one(&self.read)
                .await?;
                Ok(Backlog {
                    pending_deliveries: row.try_get("pending")?,
                    dead_deliveries: row.try_get("dead")?,
                    due_polls: row.try_get("due")?,
                })
            }

            async fn touch_pending_order(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
                self.write_one(move |conn| Box::pin(async move {
                    let done = sqlx::query("UPDATE orders SET updated_at = $2 WHERE id = $1 AND status = 'pending'")
                        .bind(id)
                        .bind(at)
                        .execute(&mut *conn)
                        .await?;
                    Ok(done.rows_affected() == 1)
                })).await
            }

            async fn set_next_poll(&self, id: Uuid, at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
                self.write_one(move |conn| Box::pin(async move {
                    match at {
                        Some(at) => sqlx::query(
                            "INSERT INTO order_polls (order_id, due_at) SELECT id, $2 FROM orders WHERE id = $1 \
                             ON CONFLICT (order_id) DO UPDATE SET due_at = excluded.due_at",
                        )
                        .bind(id)
                        .bind(at),
                        None => sqlx::query("DELETE FROM order_polls WHERE order_id = $1").bind(id),
                    }
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })).await
            }

            async fn reschedule_claimed_poll(&self, id: Uuid, lease: DateTime<Utc>, at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
                self.write_one(move |conn| Box::pin(async move {
                    match at {
                        Some(at) => sqlx::query("UPDATE order_polls SET due_at = $3 WHERE order_id = $1 AND due_at = $2")
                            .bind(id)
                            .bind(lease)
                            .bind(at),
                        None => sqlx::query("DELETE FROM order_polls WHERE order_id = $1 AND due_at = $2")
                            .bind(id)
                            .bind(lease),
                    }
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })).await
            }

            async fn claim_due_deliveries_skipping(&self, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64, skip: &ClaimSkip) -> Result<Vec<DeliveryRecord>, StoreError> {
                sqlx::query(&format!(
                    "UPDATE deliveries SET locked_until = $2 WHERE id IN ( \
                       SELECT d.id FROM deliveries d \
                       WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
                         AND (d.locked_until IS NULL OR d.locked_until < $1) \
                         AND ($4 IS NULL OR d.project_id <> $4) \
                         AND ($5 IS NULL OR substr(d.url, 1, length($5)) <> $5) \
                         AND NOT EXISTS (SELECT 1 FROM deliveries o {} WHERE o.order_id = d.order_id AND o.status = 'pending' AND o.id < d.id) \
                       ORDER BY d.next_attempt_at LIMIT $3 {} \
                     ) RETURNING {DELIVERY_COLUMNS}",
                    $pending_by_order,
                    $skip_locked
                ))
                .bind(now)
                .bind(lease_until)
                .bind(limit)
                .bind(skip.project_id)
                .bind(&skip.url_prefix)
                .fetch_all(&self.write)
                .await?
                .iter()
                .map(delivery_from)
                .collect()
            }

            async fn record_attempt(&self, d: &DeliveryRecord, lease: DateTime<Utc>, a: &AttemptRecord, outcome: &AttemptOutcome) -> Result<(), StoreError> {
                let retry_at = match outcome {
                    // The common outcome, batched on Postgres.
                    AttemptOutcome::Delivered => return write_delivered(self, lease, a).await,
                    AttemptOutcome::RetryAt(next) => Some(*next),
                    AttemptOutcome::Dead => None,
                };
                let (delivery_id, a) = (d.id, a.clone());
                self.write_tx(move |conn| Box::pin(async move {
                insert_attempt(&mut *conn, &a).await?;
                let error = a.error.clone().or_else(|| a.status_code.map(|s| format!("the receiver answered {s}")));
                match retry_at {
                    Some(next) => {
                        sqlx::query(&format!(
                            "UPDATE deliveries SET status = CASE WHEN {NEWER_EXISTS} THEN 'superseded' ELSE 'pending' END, \
                             next_attempt_at = CASE WHEN {NEWER_EXISTS} THEN NULL ELSE $4 END, \
                             attempts = attempts + 1, locked_until = NULL, last_error = $5, updated_at = $3 \
                             WHERE id = $1 AND locked_until = $2 AND status = 'pending'"
                        ))
                        .bind(delivery_id)
                        .bind(lease)
                        .bind(a.at)
                        .bind(next)
                        .bind(&error)
                        .execute(&mut *conn)
                        .await?;
                    }
                    None => {
                        sqlx::query(&format!(
                            "UPDATE deliveries SET status = CASE WHEN {NEWER_EXISTS} THEN 'superseded' ELSE 'dead' END, \
                             next_attempt_at = NULL, attempts = attempts + 1, locked_until = NULL, last_error = $4, updated_at = $3 \
                             WHERE id = $1 AND locked_until = $2 AND status = 'pending'"
                        ))
                        .bind(delivery_id)
                        .bind(lease)
                        .bind(a.at)
                        .bind(&error)
                        .execute(&mut *conn)
                        .await?;
                    }
                }
                Ok(())
                })).await
            }

            async fn release_delivery(&self, id: Uuid, lease: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("UPDATE deliveries SET locked_until = NULL WHERE id = $1 AND locked_until = $2")
                    .bind(id)
                    .bind(lease)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn get_delivery(&self, id: Uuid) -> Result<Option<DeliveryRecord>, StoreError> {
                sqlx::query(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .map(|row| delivery_from(&row))
                    .transpose()
            }

            async fn list_deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries \
                     WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR order_id = $2) AND ($3 IS NULL OR id < $3) \
                       AND ($5 IS NULL OR project_id = $5) \
                     ORDER BY id DESC LIMIT $4"
                ))
                .bind(f.status.map(DeliveryStatus::as_str))
                .bind(f.order_id)
                .bind(f.before)
                .bind(f.limit)
                .bind(f.project_id)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(delivery_from)
                .collect()
            }

            async fn list_attempts(&self, delivery_id: Uuid) -> Result<Vec<AttemptRecord>, StoreError> {
                sqlx::query("SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id")
                    .bind(delivery_id)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(attempt_from)
                    .collect()
            }

            async fn requeue_delivery(&self, id: Uuid, at: DateTime<Utc>) -> Result<Option<DeliveryRecord>, StoreError> {
                sqlx::query(&format!(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = $2, locked_until = NULL, updated_at = $2 \
                     WHERE id = $1 AND status IN ('dead', 'delivered') AND NOT {NEWER_EXISTS} \
                     RETURNING {DELIVERY_COLUMNS}"
                ))
                .bind(id)
                .bind(at)
                .fetch_optional(&self.write)
                .await?
                .map(|row| delivery_from(&row))
                .transpose()
            }
        }
    };
}

pub(super) use impl_sql_store;

/// Order writes as a transaction of several statements, for a backend without data-modifying
/// `WITH` (SQLite, where `write_tx` batches them into a group commit anyway).
macro_rules! order_writes_in_transactions {
    ($store:ident, $db:ty) => {
        use crate::store::sql::{INSERT_ORDER, KEEP_DUE_POLL, UPDATE_ORDER};

        /// Records an attempt the receiver accepted and marks its delivery delivered, if it is
        /// still pending under `lease`, in one transaction.
        async fn write_delivered(store: &$store, lease: DateTime<Utc>, a: &AttemptRecord) -> Result<(), StoreError> {
            let a = a.clone();
            store.write_tx(move |conn| Box::pin(async move {
                insert_attempt(&mut *conn, &a).await?;
                sqlx::query(
                    "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, next_attempt_at = NULL, \
                     locked_until = NULL, last_error = NULL, delivered_at = $3, updated_at = $3 \
                     WHERE id = $1 AND locked_until = $2 AND status = 'pending'",
                )
                .bind(a.delivery_id)
                .bind(lease)
                .bind(a.at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })).await
        }

        type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

        /// `$1`–`$19` of `INSERT_ORDER`.
        fn bind_new_order<'q>(query: Query<'q>, o: &'q OrderRecord) -> Query<'q> {
            query
                .bind(o.id)
                .bind(o.project_id)
                .bind(o.account_id)
                .bind(&o.provider)
                .bind(&o.client_key)
                .bind(&o.request_hash)
                .bind(o.status.as_str())
                .bind(&o.package_id)
                .bind(&o.candidate_email)
                .bind(&o.remote_id)
                .bind(&o.test_url)
                .bind(&o.results_update_url)
                .bind(Json(&o.request))
                .bind(Json(&o.provider_data))
                .bind(o.result.as_ref().map(Json))
                .bind(&o.failure_reason)
                .bind(o.created_at)
                .bind(o.updated_at)
                .bind(&o.callback_token_hash)
        }

        /// `$1`–`$10` of `UPDATE_ORDER`.
        fn bind_order_change<'q>(query: Query<'q>, id: Uuid, expected: OrderStatus, c: &'q OrderChange) -> Query<'q> {
            query
                .bind(id)
                .bind(expected.as_str())
                .bind(c.status.as_str())
                .bind(&c.remote_id)
                .bind(&c.test_url)
                .bind(c.provider_data.as_ref().map(Json))
                .bind(c.result.as_ref().map(Json))
                .bind(&c.failure_reason)
                .bind(c.next_poll_at)
                .bind(c.at)
        }

        async fn insert_event(
            conn: &mut <$db as sqlx::Database>::Connection,
            order_id: Uuid,
            at: DateTime<Utc>,
            from: Option<OrderStatus>,
            to: OrderStatus,
            event: &NewEvent,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO order_events (order_id, at, from_status, to_status, message, data) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(order_id)
            .bind(at)
            .bind(from.map(OrderStatus::as_str))
            .bind(to.as_str())
            .bind(&event.message)
            .bind(Json(&event.data))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        async fn write_new_order(store: &$store, o: &OrderRecord, event: &NewEvent) -> Result<InsertOrder, StoreError> {
            let (o, event) = (o.clone(), event.clone());
            store.write_tx(move |conn| Box::pin(async move {
                let inserted = bind_new_order(sqlx::query(INSERT_ORDER), &o).execute(&mut *conn).await?;
                if inserted.rows_affected() == 1 {
                    insert_event(conn, o.id, o.created_at, None, o.status, &event).await?;
                    if let Some(due_at) = o.next_poll_at {
                        sqlx::query("INSERT INTO order_polls (order_id, due_at) VALUES ($1, $2)")
                            .bind(o.id)
                            .bind(due_at)
                            .execute(&mut *conn)
                            .await?;
                    }
                    return Ok(InsertOrder::Inserted(o));
                }
                Ok(InsertOrder::Existing(existing_order(&mut *conn, o.account_id, &o.client_key).await?))
            })).await
        }

        async fn write_order_change(store: &$store, id: Uuid, expected: OrderStatus, c: &OrderChange) -> Result<Option<OrderRecord>, StoreError> {
            let c = c.clone();
            store.write_tx(move |conn| Box::pin(async move {
                // The next poll first, under the same status condition as the change, so that the
                // order the change returns carries it.
                let poll = match c.next_poll_at {
                    Some(_) => format!(
                        "INSERT INTO order_polls (order_id, due_at) SELECT id, $9 FROM orders \
                         WHERE id = $1 AND status = $2 AND $9 IS NOT NULL {KEEP_DUE_POLL}"
                    ),
                    None => "DELETE FROM order_polls WHERE order_id = $1 \
                             AND EXISTS (SELECT 1 FROM orders WHERE id = $1 AND status = $2)"
                        .to_string(),
                };
                bind_order_change(sqlx::query(&poll), id, expected, &c).execute(&mut *conn).await?;
                let row = bind_order_change(sqlx::query(&format!("{UPDATE_ORDER} RETURNING {ORDER_COLUMNS}")), id, expected, &c)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let order = order_from(&row)?;
                insert_event(conn, id, c.at, Some(expected), c.status, &c.event).await?;
                if let Some(delivery) = &c.delivery {
                    sqlx::query(crate::store::sql::SUPERSEDE_PENDING).bind(id).bind(c.at).execute(&mut *conn).await?;
                    sqlx::query(
                        "INSERT INTO deliveries (id, order_id, project_id, url, body, status, attempts, next_attempt_at, \
                         locked_until, last_error, created_at, updated_at, delivered_at) \
                         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, NULL, NULL, $6, $6, NULL)",
                    )
                    .bind(delivery.id)
                    .bind(id)
                    .bind(order.project_id)
                    .bind(&delivery.url)
                    .bind(&delivery.body)
                    .bind(c.at)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(Some(order))
            })).await
        }

        /// Claims due polls: the claim, then each claimed order read on its own (no
        /// data-modifying `WITH` here to return them with the claim).
        async fn claim_polls(store: &$store, due_by: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64, skip_account: Option<Uuid>) -> Result<Vec<OrderRecord>, StoreError> {
            let claimed: Vec<Uuid> = sqlx::query_scalar(&format!(
                "UPDATE order_polls SET due_at = $2 WHERE order_id IN ({DUE_POLLS}) RETURNING order_id"
            ))
            .bind(due_by)
            .bind(lease_until)
            .bind(limit)
            .bind(skip_account)
            .fetch_all(&store.write)
            .await?;
            let mut orders = Vec::with_capacity(claimed.len());
            for id in claimed {
                if let Some(order) = store.get_order(id).await? {
                    orders.push(order);
                }
            }
            Ok(orders)
        }
    };
}

pub(super) use order_writes_in_transactions;

/// Order writes in batches (Postgres, `pg_order_batches.rs`): concurrent new orders share one
/// statement and one commit, and so do concurrent order changes.
macro_rules! order_writes_in_batches {
    ($store:ident, $db:ty) => {
        use crate::store::sql::ORDER_ROW_COLUMNS;

        async fn write_new_order(store: &$store, o: &OrderRecord, event: &NewEvent) -> Result<InsertOrder, StoreError> {
            match store.batches.insert(o.clone(), event.clone()).await? {
                Some(inserted) => Ok(InsertOrder::Inserted(inserted)),
                None => Ok(InsertOrder::Existing(existing_order(&store.write, o.account_id, &o.client_key).await?)),
            }
        }

        async fn write_order_change(store: &$store, id: Uuid, expected: OrderStatus, c: &OrderChange) -> Result<Option<OrderRecord>, StoreError> {
            store.batches.change(id, expected, c.clone()).await
        }

        async fn write_delivered(store: &$store, lease: DateTime<Utc>, a: &AttemptRecord) -> Result<(), StoreError> {
            store.batches.delivered(a.clone(), lease).await
        }

        /// How the batched writes read a changed order's row.
        fn order_from_row(row: &sqlx::postgres::PgRow) -> Result<OrderRecord, StoreError> {
            order_from(row)
        }

        /// Claims due polls and returns the claimed orders in one statement; rows another worker
        /// has locked are skipped.
        async fn claim_polls(store: &$store, due_by: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64, skip_account: Option<Uuid>) -> Result<Vec<OrderRecord>, StoreError> {
            sqlx::query(&format!(
                "WITH claimed AS (UPDATE order_polls SET due_at = $2 \
                   WHERE order_id IN ({DUE_POLLS} FOR UPDATE OF p SKIP LOCKED) RETURNING order_id, due_at) \
                 SELECT {ORDER_ROW_COLUMNS}, claimed.due_at AS next_poll_at \
                 FROM orders JOIN claimed ON claimed.order_id = orders.id"
            ))
            .bind(due_by)
            .bind(lease_until)
            .bind(limit)
            .bind(skip_account)
            .fetch_all(&store.write)
            .await?
            .iter()
            .map(order_from)
            .collect()
        }
    };
}

pub(super) use order_writes_in_batches;
