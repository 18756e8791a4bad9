//! The SQL of `GovernanceStore` (signing-secret rotation, retention, erasure, the audit trail),
//! expanded for each backend next to `impl_sql_store`, whose row readers it shares.

macro_rules! impl_governance_store {
    ($store:ident, $row:ty) => {
        fn audit_event_from(row: &$row) -> Result<AuditEvent, StoreError> {
            Ok(AuditEvent {
                id: row.try_get("id")?,
                event: NewAuditEvent {
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    project_id: row.try_get("project_id")?,
                    outcome: row.try_get("outcome")?,
                    status_code: row.try_get("status_code")?,
                    request_id: row.try_get("request_id")?,
                },
            })
        }

        #[async_trait]
        impl GovernanceStore for $store {
            async fn rotate_signing_secret(
                &self,
                id: Uuid,
                sealed: &[u8],
                previous_valid_until: DateTime<Utc>,
            ) -> Result<Option<ProjectRecord>, StoreError> {
                // The right-hand sides read the row as it was: the current secret becomes the
                // previous one in the same statement, so two rotations cannot lose a secret
                // between them.
                sqlx::query(
                    "UPDATE projects SET previous_signing_secret_sealed = signing_secret_sealed, \
                     previous_signing_valid_until = $3, signing_secret_sealed = $2 \
                     WHERE id = $1 RETURNING *",
                )
                .bind(id)
                .bind(sealed)
                .bind(previous_valid_until)
                .fetch_optional(&self.write)
                .await?
                .map(|row| project_from(&row))
                .transpose()
            }

            async fn update_project(&self, p: &ProjectRecord) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE projects SET name = $2, retention_days = $3 WHERE id = $1")
                    .bind(p.id)
                    .bind(&p.name)
                    .bind(p.retention_days)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn find_orders_by_email(&self, project_id: Uuid, email: &str) -> Result<Vec<OrderRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {ORDER_COLUMNS} FROM orders \
                     WHERE project_id = $1 AND lower(candidate_email) = lower($2) AND erased_at IS NULL \
                     ORDER BY id"
                ))
                .bind(project_id)
                .bind(email)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(order_from)
                .collect()
            }

            async fn list_expired_orders(&self, project_id: Uuid, closed_before: DateTime<Utc>, limit: i64) -> Result<Vec<OrderRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {ORDER_COLUMNS} FROM orders \
                     WHERE project_id = $1 AND erased_at IS NULL AND updated_at < $2 \
                       AND status IN ('completed', 'failed', 'cancelled', 'expired') \
                     ORDER BY updated_at LIMIT $3"
                ))
                .bind(project_id)
                .bind(closed_before)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(order_from)
                .collect()
            }

            async fn erase_order(&self, e: &OrderErasure) -> Result<(), StoreError> {
                let e = e.clone();
                self.write_tx(move |conn| Box::pin(async move {
                    sqlx::query(
                        "UPDATE orders SET candidate_email = '', request_hash = 'erased', request = $2, result = $3, provider_data = $4, \
                         failure_reason = $5, test_url = NULL, erased_at = $6 WHERE id = $1",
                    )
                    .bind(e.order_id)
                    .bind(Json(&e.request))
                    .bind(e.result.as_ref().map(Json))
                    .bind(Json(&e.provider_data))
                    .bind(&e.failure_reason)
                    .bind(e.at)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query("UPDATE order_events SET data = $2 WHERE order_id = $1")
                        .bind(e.order_id)
                        .bind(Json(serde_json::json!({})))
                        .execute(&mut *conn)
                        .await?;
                    for (id, message) in &e.event_messages {
                        sqlx::query("UPDATE order_events SET message = $3 WHERE id = $1 AND order_id = $2")
                            .bind(id)
                            .bind(e.order_id)
                            .bind(message)
                            .execute(&mut *conn)
                            .await?;
                    }
                    for (id, body, last_error) in &e.deliveries {
                        sqlx::query("UPDATE deliveries SET body = $3, last_error = $4 WHERE id = $1 AND order_id = $2")
                            .bind(id)
                            .bind(e.order_id)
                            .bind(body)
                            .bind(last_error)
                            .execute(&mut *conn)
                            .await?;
                    }
                    sqlx::query(
                        "UPDATE delivery_attempts SET response_body = NULL \
                         WHERE delivery_id IN (SELECT id FROM deliveries WHERE order_id = $1)",
                    )
                    .bind(e.order_id)
                    .execute(&mut *conn)
                    .await?;
                    for (id, error) in &e.attempt_errors {
                        sqlx::query("UPDATE delivery_attempts SET error = $2 WHERE id = $1")
                            .bind(id)
                            .bind(error)
                            .execute(&mut *conn)
                            .await?;
                    }
                    sqlx::query("DELETE FROM order_polls WHERE order_id = $1")
                        .bind(e.order_id)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })).await
            }

            async fn insert_audit_event(&self, e: &NewAuditEvent) -> Result<(), StoreError> {
                let e = e.clone();
                self.write_one(move |conn| Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO audit_events (at, actor, action, target, project_id, outcome, status_code, request_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(e.at)
                    .bind(&e.actor)
                    .bind(&e.action)
                    .bind(&e.target)
                    .bind(e.project_id)
                    .bind(&e.outcome)
                    .bind(e.status_code)
                    .bind(&e.request_id)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })).await
            }

            async fn list_audit_events(&self, f: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
                sqlx::query(
                    "SELECT * FROM audit_events \
                     WHERE ($1 IS NULL OR project_id = $1) AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR id < $3) \
                     ORDER BY id DESC LIMIT $4",
                )
                .bind(f.project_id)
                .bind(&f.action)
                .bind(f.before)
                .bind(f.limit)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(audit_event_from)
                .collect()
            }
        }
    };
}

pub(super) use impl_governance_store;
