//! Delivers results to the ATS (ARCHITECTURE.md, "The outbox"): claims due outbox rows with a
//! lease, POSTs the stored body signed per Standard Webhooks with the project's secret, records
//! every attempt, and schedules retries per `DELIVERY_RETRY_SCHEDULE` (with jitter) until the
//! delivery is dead. The HTTP call is made outside any transaction; a worker that dies loses its
//! lease and another one sends the delivery again (at least once).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::{
    sync::{watch, Mutex},
    time::Instant,
};
use tracing::Instrument;
use uuid::Uuid;

use super::{
    in_flight::{self, LeasedWork, Limits},
    shares::{url_prefix, Share, Shares},
};
use crate::{
    domain::now,
    outbound::{self, PublicResolver},
    secret::Secret,
    service::{Gateway, ServiceError},
    store::{AttemptOutcome, AttemptRecord, ClaimSkip, DeliveryRecord},
};

/// Deliveries sent at once by one process.
const MAX_IN_FLIGHT: usize = 64;
/// Claim again once this many slots are free: one claim query serves many deliveries.
const CLAIM_WHEN_FREE: usize = 16;
/// The most slots one project, or one receiver, may hold: the rest stay free for others.
const SHARE: usize = MAX_IN_FLIGHT * 3 / 4;
/// How much of the receiver's answer is kept with the attempt.
const KEPT_ANSWER_BYTES: usize = 20 * 1024;

/// Signs a body per Standard Webhooks: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")),
/// the key being the base64 part of the `whsec_` secret.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).ok()?;
    mac.update(format!("{message_id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The message id of a delivery: the same for all its attempts.
pub fn message_id(delivery_id: Uuid) -> String {
    format!("msg_{}", delivery_id.simple())
}

/// How long a project's signing secrets are used before they are read again.
const SECRETS_TTL: Duration = Duration::from_secs(5);

/// A project's signing secrets and when they were read.
type CachedSecrets = (Instant, Vec<Secret<String>>);

/// What one attempt ended with.
struct Attempted {
    record: AttemptRecord,
    outcome: AttemptOutcome,
}

/// Delivers to ATS receivers for one process.
pub struct Deliverer {
    gateway: Gateway,
    client: reqwest::Client,
    /// Signing secrets by project, read again after SECRETS_TTL: a rotation elsewhere reaches
    /// deliveries within that time, and the replaced secret still signs them meanwhile.
    secrets: Mutex<HashMap<Uuid, CachedSecrets>>,
    lease: Duration,
    projects: Arc<Shares<Uuid>>,
    receivers: Arc<Shares<String>>,
    /// The last claim left deliveries due for a project or receiver at its share.
    held_back: AtomicBool,
}

/// A claimed delivery's places in its project's and its receiver's shares.
pub struct Shared {
    _project: Share<Uuid>,
    _receiver: Share<String>,
}

/// The client deliveries go out with: the vendor timeout, no redirects, every address checked by
/// the SSRF guard at connection time, and never a proxy from the environment (a proxy would
/// resolve the ATS host itself, out of the guard's sight). Built at start-up: when it cannot be,
/// the gateway does not start.
pub fn client(config: &crate::config::Config) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(config.provider_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(PublicResolver {
            allow_private: config.outbound_allow_private,
        }))
        .user_agent(concat!("assessment-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl Deliverer {
    pub fn new(gateway: Gateway, client: reqwest::Client) -> Self {
        Self {
            lease: gateway.config.provider_timeout * 2 + Duration::from_secs(10),
            gateway,
            client,
            secrets: Mutex::new(HashMap::new()),
            projects: Shares::new(SHARE),
            receivers: Shares::new(SHARE),
            held_back: AtomicBool::new(false),
        }
    }

    async fn secrets(&self, project_id: Uuid) -> Result<Vec<Secret<String>>, ServiceError> {
        if let Some((read_at, secrets)) = self.secrets.lock().await.get(&project_id) {
            if read_at.elapsed() < SECRETS_TTL {
                return Ok(secrets.clone());
            }
        }
        let project = self.gateway.project(project_id).await?;
        // Read a little ahead, so a cached replaced secret never signs past its overlap.
        let secrets = self.gateway.signing_secrets(
            &project,
            Utc::now() + chrono::Duration::seconds(SECRETS_TTL.as_secs() as i64),
        )?;
        self.secrets
            .lock()
            .await
            .insert(project_id, (Instant::now(), secrets.clone()));
        Ok(secrets)
    }

    async fn deliver(
        &self,
        delivery: &DeliveryRecord,
        lease: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let attempted = self.attempt(delivery).await;
        let status = attempted.record.status_code;
        match &attempted.outcome {
            AttemptOutcome::Delivered => {
                crate::telemetry::delivery("delivered");
                tracing::info!(delivery_id = %delivery.id, order_id = %delivery.order_id, status = status.unwrap_or_default(), "delivered")
            }
            AttemptOutcome::RetryAt(at) => {
                crate::telemetry::delivery("retried");
                tracing::info!(delivery_id = %delivery.id, status = status.unwrap_or_default(), error = attempted.record.error.as_deref().unwrap_or_default(), retry_at = %at, "delivery failed; will retry")
            }
            AttemptOutcome::Dead => {
                crate::telemetry::delivery("dead");
                tracing::warn!(delivery_id = %delivery.id, status = status.unwrap_or_default(), error = attempted.record.error.as_deref().unwrap_or_default(), "delivery dead")
            }
        }
        self.gateway
            .store
            .record_attempt(delivery, lease, &attempted.record, &attempted.outcome)
            .await?;
        Ok(())
    }

    async fn attempt(&self, delivery: &DeliveryRecord) -> Attempted {
        let started = Instant::now();
        let at = now();
        let finish = |status_code: Option<i32>,
                      response_body: Option<String>,
                      error: Option<String>,
                      outcome| Attempted {
            record: AttemptRecord {
                id: 0,
                delivery_id: delivery.id,
                at,
                status_code,
                duration_ms: started.elapsed().as_millis() as i64,
                response_body,
                error,
            },
            outcome,
        };
        if let Err(refused) =
            outbound::check_url(&delivery.url, self.gateway.config.outbound_allow_private).await
        {
            return finish(
                None,
                None,
                Some(format!("refused: {refused}")),
                AttemptOutcome::Dead,
            );
        }
        let secrets = match self.secrets(delivery.project_id).await {
            Ok(secrets) => secrets,
            Err(error) => {
                return finish(
                    None,
                    None,
                    Some(format!("signing secret unavailable: {error}")),
                    self.retry(delivery, None),
                )
            }
        };
        let id = message_id(delivery.id);
        let timestamp = Utc::now().timestamp();
        let signatures: Option<Vec<String>> = secrets
            .iter()
            .map(|secret| sign(secret.expose(), &id, timestamp, &delivery.body))
            .collect();
        let Some(signature) = signatures.map(|s| s.join(" ")) else {
            return finish(
                None,
                None,
                Some("the project's signing secret is malformed".into()),
                AttemptOutcome::Dead,
            );
        };
        let sent = self
            .client
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                let outcome = if outbound::refused_by_guard(&error) {
                    AttemptOutcome::Dead
                } else {
                    self.retry(delivery, None)
                };
                return finish(
                    None,
                    None,
                    Some(outbound::failure_cause(&error, &delivery.url)),
                    outcome,
                );
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = read_prefix(response).await;
        let code = Some(i32::from(status.as_u16()));
        let outcome = if status.is_success() {
            AttemptOutcome::Delivered
        } else if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
            self.retry(
                delivery,
                if status.as_u16() == 429 {
                    retry_after
                } else {
                    None
                },
            )
        } else {
            // 3xx (redirects are not followed) and other 4xx: the receiver will not take it.
            AttemptOutcome::Dead
        };
        let error =
            (!status.is_success()).then(|| format!("the receiver answered {}", status.as_u16()));
        finish(code, body, error, outcome)
    }

    /// The next attempt per the schedule (or `Retry-After`), or dead when none is left.
    fn retry(&self, delivery: &DeliveryRecord, retry_after: Option<Duration>) -> AttemptOutcome {
        let schedule = &self.gateway.config.delivery_retry_schedule;
        let Some(planned) = schedule.get(delivery.attempts.max(0) as usize) else {
            return AttemptOutcome::Dead;
        };
        let delay = match retry_after {
            Some(asked) => asked.min(Duration::from_secs(24 * 3600)),
            None => jitter(*planned),
        };
        AttemptOutcome::RetryAt(crate::domain::later(now(), delay))
    }
}

impl LeasedWork for Deliverer {
    type Item = (DeliveryRecord, DateTime<Utc>, Shared);
    type Lease = (Uuid, DateTime<Utc>);
    const WHAT: &'static str = "deliveries";

    async fn claim(&self, limit: usize) -> Result<Vec<Self::Item>, ServiceError> {
        let at = now();
        let lease = crate::domain::later(at, self.lease);
        let skip = ClaimSkip {
            project_id: self.projects.full(),
            url_prefix: self.receivers.full(),
            account_id: None,
        };
        let mut held_back = skip.project_id.is_some() || skip.url_prefix.is_some();
        let claimed = self
            .gateway
            .store
            .claim_due_deliveries_skipping(at, lease, limit as i64, &skip)
            .await?;
        let mut items = Vec::with_capacity(claimed.len());
        for delivery in claimed {
            let shared = self
                .projects
                .try_take(delivery.project_id)
                .and_then(|project| {
                    Some(Shared {
                        _project: project,
                        _receiver: self.receivers.try_take(url_prefix(&delivery.url))?,
                    })
                });
            match shared {
                Some(shared) => items.push((delivery, lease, shared)),
                // This claim took more of one project or receiver than its share: the rest waits.
                None => {
                    held_back = true;
                    self.release((delivery.id, lease)).await
                }
            }
        }
        self.held_back.store(held_back, Ordering::Relaxed);
        Ok(items)
    }

    fn lease_of((delivery, lease, _): &Self::Item) -> Self::Lease {
        (delivery.id, *lease)
    }

    fn held_back(&self) -> bool {
        self.held_back.load(Ordering::Relaxed)
    }

    async fn process(self: Arc<Self>, (delivery, lease, _shared): Self::Item) {
        // Cut off before the lease ends, so that no other worker can take the delivery while
        // this attempt is still going (the attempt's own timeout is shorter still).
        let cutoff = self.lease.mul_f64(0.75);
        let span = tracing::info_span!("delivery", delivery_id = %delivery.id, order_id = %delivery.order_id);
        match tokio::time::timeout(cutoff, self.deliver(&delivery, lease))
            .instrument(span)
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(delivery_id = %delivery.id, %error, "delivery bookkeeping failed")
            }
            Err(_) => {
                tracing::warn!(delivery_id = %delivery.id, "delivery cut off before its lease ended; it will be sent again")
            }
        }
    }

    async fn release(&self, (id, lease): Self::Lease) {
        if let Err(error) = self.gateway.store.release_delivery(id, lease).await {
            tracing::warn!(delivery_id = %id, %error, "releasing a delivery failed; its lease will expire");
        }
    }
}

/// ±20 % so that retries of many deliveries do not all land at once.
fn jitter(delay: Duration) -> Duration {
    crate::service::spread(delay, 0.2)
}

async fn read_prefix(mut response: reqwest::Response) -> Option<String> {
    let mut kept = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = KEPT_ANSWER_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if kept.len() >= KEPT_ANSWER_BYTES {
            break;
        }
    }
    (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
}

/// Deliveries of one process: up to 64 in flight, more claimed as soon as 16 slots are free.
pub async fn run(gateway: Gateway, client: reqwest::Client, stop: watch::Receiver<bool>) {
    let limits = Limits::new(MAX_IN_FLIGHT, CLAIM_WHEN_FREE);
    let wake = gateway.wake.clone();
    in_flight::run(
        Arc::new(Deliverer::new(gateway, client)),
        &wake.deliveries,
        limits,
        stop,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert!(sign("whsec_!!!", "m", 1, "b").is_none());
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(10));
            assert!(d >= Duration::from_secs(8) && d <= Duration::from_secs(12));
        }
    }
}
