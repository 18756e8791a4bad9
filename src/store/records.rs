//! Rows as the store reads and writes them.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::{AssessmentResult, OrderRequest, OrderStatus};

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRecord {
    pub id: Uuid,
    pub name: String,
    /// The `whsec_` secret, sealed with the master key.
    pub signing_secret_sealed: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// The first characters of the key, to recognise it in listings.
    pub key_prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountRecord {
    pub id: Uuid,
    pub project_id: Uuid,
    pub provider: String,
    pub name: String,
    /// Vendor credentials (JSON), sealed with the master key.
    pub credentials_sealed: Vec<u8>,
    pub settings: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    pub id: Uuid,
    pub project_id: Uuid,
    pub account_id: Uuid,
    pub provider: String,
    /// The caller's idempotency key (body `id` or `Idempotency-Key`).
    pub client_key: Option<String>,
    /// SHA-256 of the canonical request body, to tell a replay from a different order.
    pub request_hash: String,
    pub status: OrderStatus,
    pub package_id: String,
    pub candidate_email: String,
    pub remote_id: Option<String>,
    pub test_url: Option<String>,
    pub results_update_url: Option<String>,
    pub request: OrderRequest,
    /// Vendor-specific facts the adapter needs later (e.g. TestGorilla's `testtaker_id`).
    pub provider_data: Value,
    pub result: Option<AssessmentResult>,
    pub failure_reason: Option<String>,
    pub next_poll_at: Option<DateTime<Utc>>,
    /// SHA-256 of the token in the callback URL handed to the vendor.
    pub callback_token_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A state change of an order, written with its timeline event.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderChange {
    pub status: OrderStatus,
    /// Set when `Some`, kept otherwise.
    pub remote_id: Option<String>,
    pub test_url: Option<String>,
    pub provider_data: Option<Value>,
    pub result: Option<AssessmentResult>,
    /// Always written (clears a previous reason when `None`).
    pub failure_reason: Option<String>,
    /// Always written.
    pub next_poll_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    pub event: NewEvent,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub message: String,
    pub data: Value,
}

impl NewEvent {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: Value::Object(Default::default()),
        }
    }

    pub fn with_data(message: impl Into<String>, data: Value) -> Self {
        Self {
            message: message.into(),
            data,
        }
    }
}

/// One entry of an order's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderEvent {
    pub id: i64,
    pub order_id: Uuid,
    pub at: DateTime<Utc>,
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    pub message: String,
    pub data: Value,
}

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub project_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub status: Option<OrderStatus>,
    pub provider: Option<String>,
    /// Cursor: only orders with an id lower than this one (ids are time-ordered UUIDv7).
    pub before: Option<Uuid>,
    pub limit: i64,
}
