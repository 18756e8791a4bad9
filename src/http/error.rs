//! The one place errors become HTTP: StackOne's error body `{statusCode, message, timestamp}`
//! (reference/stackone.md §5), with `provider_errors` on vendor refusals and `Retry-After` on 429.

use std::time::Duration;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    domain::{now, rfc3339},
    providers::{ProviderError, ProviderErrorDetail},
    service::ServiceError,
};

/// The error body of every route.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub message: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_errors: Option<Vec<ProviderErrorDetail>>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub provider_errors: Option<Vec<ProviderErrorDetail>>,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            provider_errors: None,
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Unauthenticated(m) => Self::unauthorized(m),
            ServiceError::Invalid(m) => Self::bad_request(m),
            ServiceError::NotFound(m) => Self::not_found(m),
            ServiceError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            ServiceError::TooManyRequests {
                message,
                retry_after,
            } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, message)
            },
            ServiceError::Provider(e) => (*e).into(),
            ServiceError::Store(e) => match e.unavailable() {
                Some(reason) => {
                    tracing::warn!(%reason, "the database is unavailable");
                    Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("the database is unavailable ({reason}); retry shortly"),
                    )
                }
                None => {
                    tracing::error!(error = %e, "store failure");
                    Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                }
            },
            ServiceError::Crypto(e) => {
                tracing::error!(error = %e, "secret could not be opened");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        let message = error.to_string();
        let provider_errors = error.detail().cloned().map(|d| vec![d]);
        let status = match error {
            ProviderError::Rejected { .. } | ProviderError::CredentialsRefused { .. } => {
                StatusCode::BAD_REQUEST
            }
            // Not a 429: clients retry those, and a spent quota does not come back in a minute.
            ProviderError::QuotaExhausted { .. } => StatusCode::FORBIDDEN,
            ProviderError::NotFound { .. } => StatusCode::NOT_FOUND,
            ProviderError::Conflict { .. } => StatusCode::CONFLICT,
            ProviderError::RateLimited { retry_after } => {
                return Self {
                    retry_after: Some(retry_after),
                    ..Self::new(StatusCode::TOO_MANY_REQUESTS, message)
                }
            }
            ProviderError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ProviderError::Unavailable { .. } => StatusCode::BAD_GATEWAY,
            // The operation does not apply to this account's vendor: a conflict with the
            // resource, not a fault of the server.
            ProviderError::Unsupported { .. } => StatusCode::CONFLICT,
        };
        Self {
            provider_errors,
            ..Self::new(status, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status_code: self.status.as_u16(),
            message: self.message,
            timestamp: rfc3339(now()),
            provider_errors: self.provider_errors,
        };
        let mut response = (self.status, Json(body)).into_response();
        let retry_after = self
            .retry_after
            .or((self.status == StatusCode::SERVICE_UNAVAILABLE).then_some(Duration::from_secs(1)));
        if let Some(delay) = retry_after {
            let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// Turns any error answer that is not already JSON (framework rejections, 404/405 fall-backs,
/// body-limit refusals) into the StackOne error body, so clients always get one shape.
pub async fn normalize_error_bodies(response: Response) -> Response {
    let status = response.status();
    // JSON errors are already ours; HTML ones are the sandbox's pages for people.
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_ours {
        return response;
    }
    let message = match status {
        StatusCode::NOT_FOUND => "no such route".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body larger than 1 MiB".to_string(),
        other => other.canonical_reason().unwrap_or("error").to_string(),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut normalized = ApiError::new(status, message).into_response();
    if let Some(allow) = allow {
        normalized.headers_mut().insert(header::ALLOW, allow);
    }
    normalized
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        ServiceError::from(error).into()
    }
}
