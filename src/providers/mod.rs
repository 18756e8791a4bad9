//! Vendor adapters behind one trait. The gateway speaks StackOne to ATS platforms and each
//! adapter speaks its vendor's wire format; nothing vendor-specific leaks past this module.

mod error;
pub mod http;
pub mod interviewmocha;
pub mod sandbox;
pub mod testgorilla;
pub mod testinvite;

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use error::{ProviderError, ProviderErrorDetail};

use crate::{
    domain::{AssessmentPackage, OrderRequest, VendorOutcome},
    secret::Secret,
};

/// The vendors the gateway can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    TestGorilla,
    TestInvite,
    InterviewMocha,
    Sandbox,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [
        Self::TestGorilla,
        Self::TestInvite,
        Self::InterviewMocha,
        Self::Sandbox,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TestGorilla => "testgorilla",
            Self::TestInvite => "testinvite",
            Self::InterviewMocha => "interviewmocha",
            Self::Sandbox => "sandbox",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

/// One linked account as an adapter sees it: its credentials (opened) and settings.
#[derive(Debug, Clone)]
pub struct AccountContext {
    pub id: String,
    pub credentials: Secret<Value>,
    pub settings: Value,
}

impl AccountContext {
    pub fn setting_str(&self, key: &str) -> Option<&str> {
        self.settings.get(key).and_then(Value::as_str)
    }

    pub fn setting_bool(&self, key: &str) -> Option<bool> {
        self.settings.get(key).and_then(Value::as_bool)
    }

    /// The account's `base_url` setting (an origin), else the vendor's own.
    pub fn base_url<'a>(&'a self, default: &'a str) -> &'a str {
        self.setting_str("base_url")
            .unwrap_or(default)
            .trim_end_matches('/')
    }

    /// A credential string, e.g. `token`.
    pub fn credential(&self, key: &str) -> Option<&str> {
        self.credentials
            .expose()
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// An adapter's page-number cursor (1-based; the first page when absent).
pub fn page_cursor(cursor: &Option<String>) -> Result<usize, ProviderError> {
    match cursor {
        None => Ok(1),
        Some(c) => c
            .parse()
            .ok()
            .filter(|page| *page >= 1)
            .ok_or_else(|| ProviderError::rejected("next: not a cursor of this account")),
    }
}

/// Characters left as they are in a path segment: RFC 3986's unreserved set. Everything else,
/// `/ ? # %` included, is percent-encoded, so a value can never reach another path or a query.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A caller's or vendor's value as one segment of a vendor URL path. `.` and `..` (and their
/// encoded forms, which URL parsers treat alike) would move up the vendor's path, so they are
/// refused along with the empty value; `what` names the field for the error.
pub fn path_segment(value: &str, what: &str) -> Result<String, ProviderError> {
    if matches!(value, "" | "." | "..") || value.len() > 255 {
        return Err(ProviderError::rejected(format!(
            "{what}: '{value}' cannot be a vendor id"
        )));
    }
    Ok(percent_encoding::utf8_percent_encode(value, SEGMENT).to_string())
}

/// A value for a vendor URL's query string, form-encoded.
pub fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A vendor id from a JSON answer: vendors send them as numbers or strings.
pub fn vendor_id(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A non-empty string field of an object, for validating credentials and settings.
pub fn require_string(value: &Value, path: &str, key: &str) -> Result<(), String> {
    match value.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        _ => Err(format!("{path}.{key}: a non-empty string is required")),
    }
}

/// An optional setting that must be a boolean when present.
pub fn optional_bool(settings: &Value, key: &str) -> Result<(), String> {
    match settings.get(key) {
        None | Some(Value::Null) | Some(Value::Bool(_)) => Ok(()),
        Some(_) => Err(format!("settings.{key}: expected true or false")),
    }
}

/// A page of packages; `next` is the adapter's own cursor for the following page.
#[derive(Debug, Clone, PartialEq)]
pub struct PackagePage {
    pub packages: Vec<AssessmentPackage>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PackageQuery {
    pub cursor: Option<String>,
    pub page_size: usize,
    pub updated_after: Option<DateTime<Utc>>,
}

/// What an adapter needs to invite a candidate.
#[derive(Debug, Clone)]
pub struct PlaceOrder<'a> {
    /// The gateway order id: vendors that take an external id or dedupe key get this one.
    pub order_id: &'a str,
    pub package_id: &'a str,
    pub email: &'a str,
    pub request: &'a OrderRequest,
    /// Where the vendor should call back, for vendors that do.
    pub callback_url: Option<String>,
}

/// The vendor's invitation.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub remote_id: String,
    pub test_url: String,
    /// Vendor facts needed later (fetching results, cancelling), kept with the order.
    pub provider_data: Value,
    pub origin: InvitationOrigin,
}

/// Whether the vendor made the invitation for this request or answered with one it had.
#[derive(Debug, Clone, PartialEq)]
pub enum InvitationOrigin {
    /// Made for this order.
    Created,
    /// Found through the vendor's dedupe key (TestGorilla's repeated invitation, TestInvite's
    /// duplicate uniqId, any iMocha invite): it may belong to another order of the account, so
    /// the gateway checks before the order takes it.
    Existing {
        /// Set when the attempt is over at the vendor: a new order must not take it.
        finished: Option<FinishedAttempt>,
    },
}

/// An attempt the vendor reports as over, in its own words.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedAttempt {
    pub state: String,
    /// The vendor's answer, shown to the caller in `provider_errors`.
    pub detail: Option<ProviderErrorDetail>,
}

/// What the adapter knows about an order when asked for its result.
#[derive(Debug, Clone)]
pub struct OrderRef<'a> {
    pub order_id: &'a str,
    pub remote_id: &'a str,
    pub email: &'a str,
    pub package_id: &'a str,
    pub provider_data: &'a Value,
    pub invited_at: DateTime<Utc>,
}

#[async_trait]
pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// Checks an account's credentials and settings when it is created or changed.
    fn validate_account(&self, credentials: &Value, settings: &Value) -> Result<(), String>;

    async fn list_packages(
        &self,
        account: &AccountContext,
        query: &PackageQuery,
    ) -> Result<PackagePage, ProviderError>;

    async fn get_package(
        &self,
        account: &AccountContext,
        id: &str,
    ) -> Result<AssessmentPackage, ProviderError>;

    /// What the adapter can tell about an order without calling the vendor (e.g. a malformed
    /// package id, a missing name the vendor requires). Runs before anything is written.
    fn check_order(
        &self,
        account: &AccountContext,
        order: &OrderRequest,
    ) -> Result<(), ProviderError>;

    /// Invites the candidate. Never retried blindly: recovery goes through the vendor's dedupe key.
    async fn place_order(
        &self,
        account: &AccountContext,
        order: &PlaceOrder<'_>,
    ) -> Result<Invitation, ProviderError>;

    /// Reads the current state of an invitation from the vendor.
    async fn fetch_result(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<VendorOutcome, ProviderError>;

    /// Withdraws the invitation at the vendor.
    async fn cancel(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<(), ProviderError>;

    /// Rejects the candidate at the vendor (TestGorilla: stage REJ and the rejection email).
    async fn reject(
        &self,
        _account: &AccountContext,
        _order: &OrderRef<'_>,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            message: format!("{} has no rejection", self.kind().as_str()),
        })
    }

    /// Deletes what the vendor holds of this order's candidate, where the vendor documents a
    /// deletion (erasure on request). A candidate the vendor no longer has is deleted already.
    async fn erase_candidate(
        &self,
        _account: &AccountContext,
        _order: &OrderRef<'_>,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            message: format!(
                "{} documents no deletion of candidates: ask the vendor to erase them",
                self.kind().as_str()
            ),
        })
    }

    /// Reads a vendor callback body: the vendor's id of the invitation it is about. The body is
    /// only a hint; the gateway re-reads the result with `fetch_result`.
    fn parse_callback(&self, body: &[u8]) -> Result<String, ProviderError>;

    /// When to first ask the vendor for a result after inviting; `None` when the vendor reports
    /// by itself.
    fn first_poll_after(&self, account: &AccountContext, order: &OrderRequest) -> Option<Duration>;
}

/// The adapters of this process, by kind. Shared, not copied: the gateway's state is cloned for
/// every request.
#[derive(Clone)]
pub struct Providers {
    by_kind: Arc<HashMap<ProviderKind, Arc<dyn Provider>>>,
}

impl Providers {
    pub fn new(adapters: Vec<Arc<dyn Provider>>) -> Self {
        Self {
            by_kind: Arc::new(adapters.into_iter().map(|a| (a.kind(), a)).collect()),
        }
    }

    pub fn get(&self, kind: ProviderKind) -> Option<Arc<dyn Provider>> {
        self.by_kind.get(&kind).cloned()
    }

    /// Every adapter of this process.
    pub fn all(&self) -> Vec<Arc<dyn Provider>> {
        ProviderKind::ALL
            .into_iter()
            .filter_map(|k| self.get(k))
            .collect()
    }

    /// The provider names accounts can be created with.
    pub fn names(&self) -> Vec<&'static str> {
        ProviderKind::ALL
            .into_iter()
            .filter(|k| self.by_kind.contains_key(k))
            .map(ProviderKind::as_str)
            .collect()
    }
}
