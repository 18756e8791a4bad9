//! What can go wrong talking to a vendor, in terms the unified API maps to StackOne errors.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A vendor's answer as shown to the caller in `provider_errors` (auth headers removed).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProviderErrorDetail {
    pub status: Option<u16>,
    pub url: Option<String>,
    /// The vendor's answer: any JSON (a string when it was not JSON).
    pub raw: Option<Value>,
    /// The vendor's response headers, as an object.
    pub headers: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The request is wrong for this vendor (unknown package, invalid email, vendor 400/422).
    #[error("{message}")]
    Rejected {
        message: String,
        detail: Option<ProviderErrorDetail>,
    },
    /// The vendor refused the linked account's credentials (401/403).
    #[error("the vendor refused the linked account's credentials: {message}")]
    CredentialsRefused {
        message: String,
        detail: Option<ProviderErrorDetail>,
    },
    #[error("{message}")]
    NotFound { message: String },
    /// The operation is not possible in the invitation's current state at the vendor, or the
    /// vendor answered with an invitation this order must not take (finished, or another order's).
    #[error("{message}")]
    Conflict {
        message: String,
        detail: Option<ProviderErrorDetail>,
    },
    #[error("the vendor is rate limiting requests")]
    RateLimited { retry_after: Duration },
    /// The account's request quota at the vendor is spent: waiting a moment does not help.
    #[error("{message}")]
    QuotaExhausted {
        message: String,
        detail: Option<ProviderErrorDetail>,
    },
    #[error("the vendor did not answer in time")]
    Timeout,
    /// Vendor 5xx, unreachable, or an answer that cannot be read.
    #[error("{message}")]
    Unavailable { message: String },
    /// The vendor has no such operation.
    #[error("{message}")]
    Unsupported { message: String },
}

impl ProviderError {
    pub fn rejected(message: impl Into<String>) -> Self {
        Self::Rejected {
            message: message.into(),
            detail: None,
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            detail: None,
        }
    }

    /// The vendor's answer as shown to the caller, when this error carries one.
    pub fn detail(&self) -> Option<&ProviderErrorDetail> {
        match self {
            Self::Rejected { detail, .. }
            | Self::CredentialsRefused { detail, .. }
            | Self::Conflict { detail, .. }
            | Self::QuotaExhausted { detail, .. } => detail.as_ref(),
            _ => None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            message: message.into(),
        }
    }

    /// Whether the vendor answered definitively (the invitation certainly does not exist),
    /// as opposed to an outcome that is unknown (timeout, 5xx).
    pub fn is_definitive(&self) -> bool {
        !matches!(self, Self::Timeout | Self::Unavailable { .. })
    }
}
