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
    /// The secret replaced by the last rotation, sealed; it signs beside the current one until
    /// `previous_signing_valid_until`.
    pub previous_signing_secret_sealed: Option<Vec<u8>>,
    pub previous_signing_valid_until: Option<DateTime<Utc>>,
    /// Closed orders lose their personal data this many days after closing; `None`: kept.
    pub retention_days: Option<i32>,
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
    /// When the order's personal data was erased; `None` while it is kept.
    pub erased_at: Option<DateTime<Utc>>,
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
    /// Enqueued with the change (replacing undelivered older states of the order).
    pub delivery: Option<NewDelivery>,
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
    /// Exactly one of: the candidate's email, the caller's order id, the vendor's id, or the
    /// gateway's id.
    pub search: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    Delivered,
    /// Every attempt failed, or the receiver refused it for good; an operator may retry it.
    Dead,
    /// A newer state of the same order replaced it before it was delivered.
    Superseded,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Dead, Self::Superseded]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// A state change of an order to deliver to its ATS (the outbox row).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: Uuid,
    pub url: String,
    /// The exact JSON body, identical for every attempt.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: Uuid,
    pub order_id: Uuid,
    pub project_id: Uuid,
    pub url: String,
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One try at delivering.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub id: i64,
    pub delivery_id: Uuid,
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    /// The first 20 KB of the receiver's answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// What an attempt leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at this time (unless a newer state of the order is waiting: then superseded).
    RetryAt(DateTime<Utc>),
    /// No more automatic attempts.
    Dead,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub order_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    /// Cursor: only deliveries with a lower id.
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// What a vendor callback needs of its order: a few columns, so that accepting a callback decodes
/// no request body or result.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackTarget {
    pub order_id: Uuid,
    pub provider: String,
    pub remote_id: Option<String>,
    pub status: OrderStatus,
    pub next_poll_at: Option<DateTime<Utc>>,
}

/// What is left of an order once its personal data is erased, written in one transaction with
/// the scrubbed texts of everything recorded about it. Event data and receivers' answers are
/// dropped whole; the rest is replaced by the values given here.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderErasure {
    pub order_id: Uuid,
    pub at: DateTime<Utc>,
    pub request: OrderRequest,
    pub result: Option<AssessmentResult>,
    pub provider_data: Value,
    pub failure_reason: Option<String>,
    /// Timeline messages, by event id.
    pub event_messages: Vec<(i64, String)>,
    /// Delivery bodies and last errors, by delivery id.
    pub deliveries: Vec<(Uuid, String, Option<String>)>,
    /// Attempt errors, by attempt id.
    pub attempt_errors: Vec<(i64, Option<String>)>,
}

/// An operator's action as the audit trail keeps it: never a secret, never a candidate's data.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub at: DateTime<Utc>,
    /// `admin_api`, `console:<session>` (a session's public id), or `console` (a sign-in).
    pub actor: String,
    /// e.g. `project.create`, `order.cancel`, `console.sign_in`.
    pub action: String,
    /// What was acted on, e.g. `order:<id>`, or `client:<address>` for a sign-in.
    pub target: Option<String>,
    pub project_id: Option<Uuid>,
    /// `succeeded`, `refused` (401, 403, 429) or `failed`.
    pub outcome: String,
    /// The HTTP status the action was answered with.
    pub status_code: i32,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: i64,
    pub event: NewAuditEvent,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub project_id: Option<Uuid>,
    pub action: Option<String>,
    /// Cursor: only events with a lower id.
    pub before: Option<i64>,
    pub limit: i64,
}
