//! The one HTTP policy for every vendor (issue 3 §6): a shared pooled client with the vendor
//! timeout, GETs retried with backoff on connection errors, 5xx and 429 (honouring `Retry-After`
//! and TestGorilla's `X-RateLimit-Reset`), writes never retried, a per-account client-side rate
//! limiter, and one classification of vendor answers into `ProviderError`. Credentials are sent
//! but never logged.

use std::{collections::HashMap, sync::Arc, time::Duration};

use rand::Rng;
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::Value;
use tokio::{sync::Mutex, time::Instant};

use super::{ProviderError, ProviderErrorDetail};

/// Retries of an idempotent request after the first attempt.
const GET_RETRIES: u32 = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// A vendor asking to wait longer than this gets a 429 passed on instead of a wait.
const MAX_WAIT: Duration = Duration::from_secs(30);
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

/// One request to a vendor.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub json: Option<Value>,
    pub budget: Option<Budget>,
}

impl Call {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            json: None,
            budget: None,
        }
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

/// A vendor's answer, whatever its status.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub url: String,
    pub headers: HeaderMap,
    /// The body as JSON, or as a JSON string when it is not JSON (`null` when empty).
    pub body: Value,
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
            raw: Some(self.body.clone()),
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

    /// How long the vendor asks to wait: `Retry-After` seconds, else `X-RateLimit-Reset` seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        ["retry-after", "x-ratelimit-reset"]
            .iter()
            .find_map(|name| {
                let value = self.headers.get(*name)?.to_str().ok()?.trim();
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s >= 0.0)
                    .map(Duration::from_secs_f64)
            })
    }

    /// The classification of a non-2xx answer (design.md §4.1).
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

/// A token bucket per budget key: `per_minute` requests a minute, refilled continuously, and
/// emptied until the vendor's reset time when the vendor says the budget is spent.
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
    /// Waits until the budget allows one more request, then spends it.
    pub async fn acquire(&self, budget: &Budget) {
        let capacity = f64::from(budget.per_minute.max(1));
        let per_second = capacity / 60.0;
        loop {
            let wait = {
                let mut buckets = self.buckets.lock().await;
                let now = Instant::now();
                let bucket = buckets.entry(budget.key.clone()).or_insert(Bucket {
                    tokens: capacity,
                    refilled: now,
                    blocked_until: None,
                });
                bucket.tokens = (bucket.tokens
                    + now.duration_since(bucket.refilled).as_secs_f64() * per_second)
                    .min(capacity);
                bucket.refilled = now;
                if bucket.blocked_until.is_some_and(|until| until <= now) {
                    // The vendor's window has reset: its whole budget is available again.
                    bucket.blocked_until = None;
                    bucket.tokens = capacity;
                }
                match bucket.blocked_until {
                    Some(until) if until > now => until - now,
                    _ if bucket.tokens >= 1.0 => {
                        bucket.tokens -= 1.0;
                        return;
                    }
                    _ => Duration::from_secs_f64((1.0 - bucket.tokens) / per_second),
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The vendor said the budget is spent: nothing more until `after` has passed.
    pub async fn block(&self, key: &str, after: Duration) {
        let mut buckets = self.buckets.lock().await;
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.tokens = 0.0;
            bucket.blocked_until = Some(Instant::now() + after);
        }
    }
}

/// The shared vendor client of the process.
#[derive(Clone)]
pub struct VendorClient {
    client: reqwest::Client,
    limiter: Arc<RateLimiter>,
}

impl VendorClient {
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("assessment-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            client,
            limiter: Arc::new(RateLimiter::default()),
        }
    }

    /// Sends `call` and returns the vendor's answer, whatever its status. Only transport
    /// failures are errors here. GETs are retried; other methods are sent exactly once.
    pub async fn send(&self, call: &Call) -> Result<Reply, ProviderError> {
        let retries = if call.method == Method::GET {
            GET_RETRIES
        } else {
            0
        };
        let mut attempt = 0;
        loop {
            if let Some(budget) = &call.budget {
                self.limiter.acquire(budget).await;
            }
            let started = Instant::now();
            let outcome = self.send_once(call).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let wait = match &outcome {
                Ok(reply) => {
                    tracing::debug!(method = %call.method, url = %strip_query(&call.url), status = reply.status.as_u16(), elapsed_ms, "vendor call");
                    if reply.status == StatusCode::TOO_MANY_REQUESTS {
                        let asked = reply.retry_after();
                        if let (Some(budget), Some(after)) = (&call.budget, asked) {
                            self.limiter.block(&budget.key, after).await;
                        }
                        asked.or(Some(backoff(attempt)))
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
                Some(wait) if attempt < retries && wait <= MAX_WAIT => {
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
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(transport_error)?;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                Value::String(
                    String::from_utf8_lossy(&bytes)
                        .chars()
                        .take(20_000)
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

fn transport_error(error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout
    } else {
        // reqwest's message names the URL but never the headers.
        ProviderError::Unavailable {
            message: format!("the vendor could not be reached: {}", error.without_url()),
        }
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

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spreads_requests_over_the_minute() {
        let limiter = RateLimiter::default();
        let budget = Budget {
            key: "a:list".into(),
            per_minute: 20,
        };
        let start = Instant::now();
        for _ in 0..20 {
            limiter.acquire(&budget).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "a full bucket serves a burst"
        );
        limiter.acquire(&budget).await;
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
        limiter.acquire(&other).await;
        assert!(
            before.elapsed() < Duration::from_millis(10),
            "budgets are per key"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_blocks_until_the_vendor_reset() {
        let limiter = RateLimiter::default();
        let budget = Budget {
            key: "a:invite".into(),
            per_minute: 60,
        };
        limiter.acquire(&budget).await;
        limiter.block("a:invite", Duration::from_secs(7)).await;
        let start = Instant::now();
        limiter.acquire(&budget).await;
        assert!(start.elapsed() >= Duration::from_secs(7));
        limiter.acquire(&budget).await;
        assert!(
            start.elapsed() < Duration::from_millis(7100),
            "the reset refills the budget"
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
