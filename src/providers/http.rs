//! The one HTTP policy for every vendor: a shared pooled client with the vendor
//! timeout, GETs retried with backoff on connection errors, 5xx and 429 (honouring `Retry-After`
//! and TestGorilla's `X-RateLimit-Reset`), writes never retried, a per-account client-side rate
//! limiter, and one classification of vendor answers into `ProviderError`. Credentials are sent
//! but never logged.
//!
//! Everything that comes from the vendor is bounded: a wait it asks for is clamped to
//! `MAX_VENDOR_WAIT`, a request waits in the limiter at most a quarter of `PROVIDER_TIMEOUT` (then
//! it is not sent at all and the caller gets a 429), and an answer is read up to `MAX_BODY`.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::Value;
use tokio::{sync::Mutex, time::Instant};

use super::{ProviderError, ProviderErrorDetail};
use crate::domain::limits::{kept_json, VENDOR_JSON_BYTES};

/// Retries of an idempotent request after the first attempt.
const GET_RETRIES: u32 = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The longest wait a vendor can impose on an account (`Retry-After`, `X-RateLimit-Reset`); a
/// larger, infinite or garbled value is taken as this.
pub const MAX_VENDOR_WAIT: Duration = Duration::from_secs(3600);
/// The largest vendor answer read; a larger one is a vendor failure.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Response headers never shown to callers.
const HIDDEN_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "www-authenticate",
];

/// A per-minute request budget for one endpoint of one account.
#[derive(Debug, Clone)]
pub struct Budget {
    pub key: String,
    pub per_minute: u32,
}

/// One request to a vendor. Its `Debug` shows header names only: their values carry credentials.
#[derive(Clone)]
pub struct Call {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub json: Option<Value>,
    pub budget: Option<Budget>,
    /// The vendor and what the call does, for the metrics (fixed sets: never ids).
    pub provider: &'static str,
    pub operation: &'static str,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("url", &strip_query(&self.url))
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Call {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            json: None,
            budget: None,
            provider: "unknown",
            operation: "other",
        }
    }

    /// Names the vendor and the operation in the metrics.
    pub fn labelled(mut self, provider: &'static str, operation: &'static str) -> Self {
        self.provider = provider;
        self.operation = operation;
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.json = Some(body);
        self
    }

    pub fn budget(mut self, key: String, per_minute: u32) -> Self {
        self.budget = Some(Budget { key, per_minute });
        self
    }
}

/// A vendor's answer, whatever its status. Its `Debug` leaves out headers and body, which may
/// carry a session token or cookie.
#[derive(Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub url: String,
    pub headers: HeaderMap,
    /// The body as JSON, or as a JSON string when it is not JSON (`null` when empty).
    pub body: Value,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("url", &strip_query(&self.url))
            .finish_non_exhaustive()
    }
}

impl Reply {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The answer as shown to the caller in `provider_errors`.
    pub fn detail(&self) -> ProviderErrorDetail {
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .filter(|(name, _)| !HIDDEN_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| {
                Some((
                    name.to_string(),
                    Value::String(value.to_str().ok()?.to_string()),
                ))
            })
            .collect();
        ProviderErrorDetail {
            status: Some(self.status.as_u16()),
            url: Some(self.url.clone()),
            raw: Some(kept_json(&self.body, VENDOR_JSON_BYTES)),
            headers: Some(Value::Object(headers)),
        }
    }

    /// The vendor's own words, when its body has a recognisable message.
    pub fn vendor_message(&self) -> Option<String> {
        fn texts(value: &Value) -> Vec<String> {
            match value {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items.iter().flat_map(texts).collect(),
                Value::Object(map) => ["message", "detail", "error", "errors"]
                    .iter()
                    .filter_map(|k| map.get(*k))
                    .flat_map(texts)
                    .collect(),
                _ => Vec::new(),
            }
        }
        let found = texts(&self.body);
        (!found.is_empty()).then(|| found.join("; "))
    }

    /// How long the vendor asks to wait: `Retry-After`, else `X-RateLimit-Reset`, read by
    /// `vendor_wait` (so never more than `MAX_VENDOR_WAIT`).
    pub fn retry_after(&self) -> Option<Duration> {
        ["retry-after", "x-ratelimit-reset"]
            .iter()
            .find_map(|name| vendor_wait(self.headers.get(*name)?.to_str().ok()?, Utc::now()))
    }

    /// The classification of a non-2xx answer.
    pub fn error(&self) -> ProviderError {
        let said = self.vendor_message();
        let message = |default: &str| match &said {
            Some(words) => format!("{default}: {words}"),
            None => default.to_string(),
        };
        match self.status.as_u16() {
            401 | 403 => ProviderError::CredentialsRefused {
                message: message(&format!("the vendor answered {}", self.status.as_u16())),
                detail: Some(self.detail()),
            },
            404 => ProviderError::NotFound {
                message: message("the vendor does not know this resource"),
            },
            409 => ProviderError::Conflict {
                message: message("the vendor refused the change"),
                detail: Some(self.detail()),
            },
            429 => ProviderError::RateLimited {
                retry_after: self.retry_after().unwrap_or(Duration::from_secs(60)),
            },
            400..=499 => ProviderError::Rejected {
                message: message("the vendor refused the request"),
                detail: Some(self.detail()),
            },
            status => ProviderError::Unavailable {
                message: message(&format!("the vendor failed with status {status}")),
            },
        }
    }

    /// `self` if 2xx, else its classified error.
    pub fn ok(self) -> Result<Self, ProviderError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.error())
        }
    }
}

/// A wait a vendor asks for, as seconds (`Retry-After: 120`, TestGorilla's
/// `X-RateLimit-Reset: 17`), an epoch time (some `X-RateLimit-Reset`s) or an HTTP date
/// (`Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`). Negative values wait nothing; infinite, huge
/// and past-the-cap values wait `MAX_VENDOR_WAIT`; anything else unreadable is `None`.
pub fn vendor_wait(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let cap = MAX_VENDOR_WAIT.as_secs_f64();
    let seconds = match value.parse::<f64>() {
        Ok(number) if number.is_nan() => return None,
        // Seconds since the epoch, not a count of seconds: nobody asks to wait 30 years.
        Ok(number) if number >= 1e9 && number.is_finite() => number - now.timestamp() as f64,
        Ok(number) => number,
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&Utc) - now).num_milliseconds() as f64 / 1000.0
        }
    };
    Some(Duration::from_secs_f64(seconds.clamp(0.0, cap)))
}

/// A token bucket per budget key: `per_minute` requests a minute, refilled continuously, and
/// emptied until the vendor's reset time when the vendor says the budget is spent. A request that
/// cannot go at once reserves the next token (the bucket goes into debt) and waits for it, so
/// waiters queue in order; one whose turn is further away than the caller may wait takes nothing.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
    blocked_until: Option<Instant>,
}

impl RateLimiter {
    /// Takes one request of the budget, waiting for it at most `max_wait`; `Err` with how long
    /// the wait would have been, without taking anything.
    pub async fn acquire(&self, budget: &Budget, max_wait: Duration) -> Result<(), Duration> {
        let capacity = f64::from(budget.per_minute.max(1));
        let per_second = capacity / 60.0;
        let wait = {
            let mut buckets = self.buckets.lock().await;
            let now = Instant::now();
            let bucket = buckets.entry(budget.key.clone()).or_insert(Bucket {
                tokens: capacity,
                refilled: now,
                blocked_until: None,
            });
            if let Some(until) = bucket.blocked_until.filter(|until| *until <= now) {
                // The vendor's window has reset: its whole budget is available again.
                bucket.blocked_until = None;
                // Turns reserved during the block are taken from the new window.
                bucket.tokens = capacity + bucket.tokens.min(0.0);
                bucket.refilled = until;
            }
            let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
            bucket.refilled = now;
            // While blocked, turns are taken from the window that opens at the reset.
            let (blocked, tokens) = match bucket.blocked_until {
                Some(until) => (
                    until.saturating_duration_since(now),
                    capacity + bucket.tokens.min(0.0),
                ),
                None => (Duration::ZERO, bucket.tokens),
            };
            let debt = Duration::from_secs_f64((1.0 - tokens).max(0.0) / per_second);
            let wait = blocked + debt;
            if wait > max_wait {
                return Err(wait);
            }
            bucket.tokens -= 1.0;
            wait
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// The vendor said the budget is spent: nothing more until `after` (clamped) has passed.
    pub async fn block(&self, key: &str, after: Duration) {
        let mut buckets = self.buckets.lock().await;
        if let Some(bucket) = buckets.get_mut(key) {
            let now = Instant::now();
            bucket.tokens = bucket.tokens.min(0.0);
            bucket.refilled = now;
            bucket.blocked_until = Some(now + after.min(MAX_VENDOR_WAIT));
        }
    }
}

/// The shared vendor client of the process.
#[derive(Clone)]
pub struct VendorClient {
    client: reqwest::Client,
    limiter: Arc<RateLimiter>,
    /// The longest a request waits for the account's budget or for a vendor's asked-for delay.
    max_wait: Duration,
}

impl VendorClient {
    /// Fails when the TLS backend cannot be set up: the gateway then does not start, rather than
    /// run with a client that lacks the timeout and redirect policy.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("assessment-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            limiter: Arc::new(RateLimiter::default()),
            max_wait: timeout / 4,
        })
    }

    /// Sends `call` and returns the vendor's answer, whatever its status. Only transport
    /// failures are errors here. GETs are retried; other methods are sent exactly once.
    pub async fn send(&self, call: &Call) -> Result<Reply, ProviderError> {
        use tracing::Instrument;
        let span = tracing::info_span!(
            "vendor_call",
            provider = call.provider,
            operation = call.operation,
            method = %call.method,
        );
        self.send_retrying(call).instrument(span).await
    }

    async fn send_retrying(&self, call: &Call) -> Result<Reply, ProviderError> {
        let retries = if call.method == Method::GET {
            GET_RETRIES
        } else {
            0
        };
        let mut attempt = 0;
        loop {
            if let Some(budget) = &call.budget {
                if let Err(wait) = self.limiter.acquire(budget, self.max_wait).await {
                    crate::telemetry::vendor_request(
                        call.provider,
                        call.operation,
                        "not_sent",
                        Duration::ZERO,
                    );
                    // Not sent at all: the caller may try again once the budget allows.
                    tracing::debug!(method = %call.method, url = %strip_query(&call.url), wait_ms = wait.as_millis() as u64, "vendor budget spent; not sent");
                    return Err(ProviderError::RateLimited { retry_after: wait });
                }
            }
            let started = Instant::now();
            let outcome = self.send_once(call).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            crate::telemetry::vendor_request(
                call.provider,
                call.operation,
                outcome_label(&outcome),
                started.elapsed(),
            );
            let wait = match &outcome {
                Ok(reply) => {
                    tracing::debug!(method = %call.method, url = %strip_query(&call.url), status = reply.status.as_u16(), elapsed_ms, "vendor call");
                    if reply.status == StatusCode::TOO_MANY_REQUESTS {
                        let asked = reply.retry_after();
                        if let (Some(budget), Some(after)) = (&call.budget, asked) {
                            self.limiter.block(&budget.key, after).await;
                        }
                        // Never sooner than the backoff: "reset in 0 s" and a 429 again is a loop.
                        Some(asked.map_or(backoff(attempt), |a| a.max(backoff(attempt))))
                    } else if reply.status.is_server_error() {
                        Some(backoff(attempt))
                    } else {
                        None
                    }
                }
                Err(ProviderError::Unavailable { message }) => {
                    tracing::debug!(method = %call.method, url = %strip_query(&call.url), %message, elapsed_ms, "vendor unreachable");
                    Some(backoff(attempt))
                }
                Err(_) => None,
            };
            match wait {
                Some(wait) if attempt < retries && wait <= self.max_wait => {
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                _ => return outcome,
            }
        }
    }

    async fn send_once(&self, call: &Call) -> Result<Reply, ProviderError> {
        let mut request = self
            .client
            .request(call.method.clone(), &call.url)
            .header("accept", "application/json");
        for (name, value) in &call.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &call.json {
            request = request.json(body);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| transport_error(e, &call.url))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(e, &call.url))?
        {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(ProviderError::Unavailable {
                    message: format!(
                        "the vendor's answer is larger than {} MiB",
                        MAX_BODY / (1024 * 1024)
                    ),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                Value::String(
                    String::from_utf8_lossy(&bytes)
                        .chars()
                        .take(VENDOR_JSON_BYTES)
                        .collect(),
                )
            })
        };
        Ok(Reply {
            status,
            url: call.url.clone(),
            headers,
            body,
        })
    }
}

/// A request that got no answer: a timeout, or why the vendor could not be reached (the name did
/// not resolve, connection refused at host:port, TLS failure…).
fn transport_error(error: reqwest::Error, url: &str) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout
    } else {
        ProviderError::Unavailable {
            message: format!(
                "the vendor could not be reached: {}",
                crate::outbound::failure_cause(&error, url)
            ),
        }
    }
}

/// A vendor answer's outcome, as the metrics name it.
fn outcome_label(outcome: &Result<Reply, ProviderError>) -> &'static str {
    match outcome {
        Ok(reply) if reply.status.is_success() => "ok",
        Ok(reply) if reply.status == StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        Ok(reply) if reply.status.is_client_error() => "client_error",
        Ok(_) => "server_error",
        Err(ProviderError::Timeout) => "timeout",
        Err(_) => "unreachable",
    }
}

fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_BASE * 2u32.pow(attempt);
    let jitter = rand::thread_rng().gen_range(0..=base.as_millis() as u64 / 2);
    base + Duration::from_millis(jitter)
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_LIMIT: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spreads_requests_over_the_minute() {
        let limiter = RateLimiter::default();
        let budget = Budget {
            key: "a:list".into(),
            per_minute: 20,
        };
        let start = Instant::now();
        for _ in 0..20 {
            limiter.acquire(&budget, NO_LIMIT).await.unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "a full bucket serves a burst"
        );
        limiter.acquire(&budget, NO_LIMIT).await.unwrap();
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(2900) && waited <= Duration::from_millis(3100),
            "{waited:?}"
        );
        let other = Budget {
            key: "b:list".into(),
            per_minute: 20,
        };
        let before = Instant::now();
        limiter.acquire(&other, NO_LIMIT).await.unwrap();
        assert!(
            before.elapsed() < Duration::from_millis(10),
            "budgets are per key"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_queue_and_those_too_far_back_take_nothing() {
        let limiter = Arc::new(RateLimiter::default());
        let budget = Budget {
            key: "a:invite".into(),
            per_minute: 60,
        };
        for _ in 0..60 {
            limiter.acquire(&budget, Duration::ZERO).await.unwrap();
        }
        // One a second from here: with 5 s of patience, five more get a turn, in order.
        let start = Instant::now();
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let (limiter, budget) = (limiter.clone(), budget.clone());
                tokio::spawn(async move {
                    let outcome = limiter.acquire(&budget, Duration::from_secs(5)).await;
                    (outcome, start.elapsed())
                })
            })
            .collect();
        let mut served = Vec::new();
        let mut refused = Vec::new();
        for waiter in waiters {
            match waiter.await.unwrap() {
                (Ok(()), at) => served.push(at.as_secs_f64().round() as u64),
                (Err(wait), at) => {
                    assert!(at < Duration::from_millis(10), "refused at once");
                    refused.push(wait)
                }
            }
        }
        served.sort();
        assert_eq!(served, [1, 2, 3, 4, 5]);
        assert_eq!(refused.len(), 3);
        assert!(refused.iter().all(|w| *w > Duration::from_secs(5)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_blocks_until_the_vendor_reset() {
        let limiter = RateLimiter::default();
        let budget = Budget {
            key: "a:invite".into(),
            per_minute: 60,
        };
        limiter.acquire(&budget, NO_LIMIT).await.unwrap();
        limiter.block("a:invite", Duration::from_secs(7)).await;
        let start = Instant::now();
        assert!(
            limiter
                .acquire(&budget, Duration::from_secs(5))
                .await
                .is_err(),
            "a 7 s block is longer than 5 s of patience"
        );
        limiter.acquire(&budget, NO_LIMIT).await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(7));
        limiter.acquire(&budget, NO_LIMIT).await.unwrap();
        assert!(
            start.elapsed() < Duration::from_millis(7100),
            "the reset refills the budget"
        );
        limiter
            .block("a:invite", Duration::from_secs(u64::MAX / 4))
            .await;
        assert!(
            limiter.acquire(&budget, NO_LIMIT).await.is_ok(),
            "an absurd block is capped at an hour"
        );
    }

    #[test]
    fn vendor_waits_are_clamped_and_never_panic() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let wait = |v: &str| vendor_wait(v, now);
        assert_eq!(wait("17"), Some(Duration::from_secs(17)));
        assert_eq!(wait("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(wait("-1"), Some(Duration::ZERO));
        for huge in ["inf", "+Infinity", "1e20", "1e308", "99999999999999999999"] {
            assert_eq!(wait(huge), Some(MAX_VENDOR_WAIT), "{huge}");
        }
        assert_eq!(wait("-inf"), Some(Duration::ZERO));
        assert_eq!(wait("NaN"), None);
        assert_eq!(wait("soon"), None);
        let epoch = now.timestamp() + 30;
        assert_eq!(wait(&epoch.to_string()), Some(Duration::from_secs(30)));
        assert_eq!(
            wait(&(now.timestamp() - 30).to_string()),
            Some(Duration::ZERO)
        );
        assert_eq!(
            wait("Wed, 02 Dec 2026 12:01:00 GMT"),
            Some(Duration::from_secs(60))
        );
    }

    fn reply(status: u16, body: Value, headers: &[(&str, &str)]) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            url: "https://v/x".into(),
            headers: map,
            body,
        }
    }

    #[test]
    fn answers_are_classified_once() {
        use serde_json::json;
        assert!(matches!(
            reply(400, json!({"errors": ["bad"]}), &[]).error(),
            ProviderError::Rejected { .. }
        ));
        assert!(matches!(
            reply(422, json!({}), &[]).error(),
            ProviderError::Rejected { .. }
        ));
        assert!(matches!(
            reply(401, json!({"detail": "x"}), &[]).error(),
            ProviderError::CredentialsRefused { .. }
        ));
        assert!(matches!(
            reply(403, Value::Null, &[]).error(),
            ProviderError::CredentialsRefused { .. }
        ));
        assert!(matches!(
            reply(404, Value::Null, &[]).error(),
            ProviderError::NotFound { .. }
        ));
        assert!(matches!(
            reply(502, Value::Null, &[]).error(),
            ProviderError::Unavailable { .. }
        ));
        match reply(429, Value::Null, &[("x-ratelimit-reset", "12")]).error() {
            ProviderError::RateLimited { retry_after } => {
                assert_eq!(retry_after, Duration::from_secs(12))
            }
            other => panic!("{other:?}"),
        }
        let detail = reply(
            400,
            json!({"m": 1}),
            &[("set-cookie", "s=1"), ("x-request-id", "r1")],
        )
        .detail();
        let headers = detail.headers.unwrap();
        assert!(headers.get("set-cookie").is_none());
        assert_eq!(headers["x-request-id"], "r1");
        assert_eq!(
            reply(400, json!({"errors": [{"message": "dup"}, "x"]}), &[])
                .vendor_message()
                .as_deref(),
            Some("dup; x")
        );
    }
}
