//! Placing orders exactly once (ARCHITECTURE.md, "Orders are placed exactly once") and reading them
//! back.

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use super::{tenancy::Caller, Gateway, ServiceError};
use crate::{
    crypto::sha256_hex,
    domain::{
        now, result::status_result, result::ResultSubject, CreateOrderResult, OrderRequest,
        OrderStatus,
    },
    providers::{Invitation, InvitationOrigin, PlaceOrder, ProviderError},
    store::{InsertOrder, NewEvent, OrderChange, OrderRecord},
};

const MAX_CLIENT_KEY_LEN: usize = 255;
/// How soon a duplicate request first looks whether the first one has finished; each later look
/// waits twice as long, up to `REPLAY_WAIT_MAX`, so that many waiting duplicates cost few
/// queries (a placement ending in this process wakes them at once).
const REPLAY_WAIT_FIRST: Duration = Duration::from_millis(25);
const REPLAY_WAIT_MAX: Duration = Duration::from_secs(1);

/// The checks the gateway itself makes on an order (README: "An order needs …").
fn validate(request: &OrderRequest) -> Result<(&str, &str), ServiceError> {
    request.check_limits().map_err(ServiceError::Invalid)?;
    let package_id = request
        .package_id()
        .ok_or_else(|| ServiceError::invalid("package.id: is required"))?;
    let email = request.candidate_email().ok_or_else(|| {
        ServiceError::invalid(
            "candidate.emails: at least one value must be an email address (e.g. ada@example.com)",
        )
    })?;
    Ok((package_id, email))
}

impl Gateway {
    /// The secret token of an order's callback URL (derived, so a retry hands out the same URL).
    pub fn callback_token(&self, order_id: Uuid) -> String {
        crate::crypto::derive_token(
            self.config.master_key.expose(),
            &format!("callback:{order_id}"),
        )
    }

    /// Where a vendor reports on an order: `{PUBLIC_URL}/webhooks/{provider}/{token}`.
    pub fn callback_url(&self, provider: &str, order_id: Uuid) -> String {
        self.config.public_link(&format!(
            "/webhooks/{provider}/{}",
            self.callback_token(order_id)
        ))
    }

    /// `POST /orders`: validates, records the order under its client key, invites the candidate
    /// once, and answers the same body to every replay of the same request.
    pub async fn place_order(
        &self,
        caller: &Caller,
        request: OrderRequest,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<CreateOrderResult, ServiceError> {
        let (package_id, email) = validate(&request)?;
        if let Some(url) = request.results_update_url.as_deref() {
            let url = crate::domain::patterns::http_url(url).ok_or_else(|| {
                ServiceError::invalid(
                    "results_update_url: expected an absolute http(s) URL such as https://ats.example.com/results",
                )
            })?;
            crate::outbound::check_url(url, self.config.outbound_allow_private)
                .await
                .map_err(|refused| {
                    ServiceError::invalid(format!("results_update_url: {refused}"))
                })?;
        }
        caller.provider.check_order(&caller.context, &request)?;
        let client_key = idempotency_key
            .or(request.id.as_deref())
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        if client_key
            .as_ref()
            .is_some_and(|k| k.chars().count() > MAX_CLIENT_KEY_LEN)
        {
            return Err(ServiceError::invalid(format!(
                "id: at most {MAX_CLIENT_KEY_LEN} characters"
            )));
        }
        let at = now();
        let id = Uuid::now_v7();
        let order = OrderRecord {
            id,
            project_id: caller.project_id,
            account_id: caller.account.id,
            provider: caller.account.provider.clone(),
            client_key,
            // serde_json keeps object keys sorted, so this digest ignores key order and spacing.
            request_hash: sha256_hex(&body.to_string()),
            status: OrderStatus::Pending,
            package_id: package_id.to_string(),
            candidate_email: email.to_string(),
            remote_id: None,
            test_url: None,
            results_update_url: request
                .results_update_url
                .clone()
                .filter(|u| !u.trim().is_empty()),
            request,
            provider_data: Value::Object(Default::default()),
            result: None,
            failure_reason: None,
            next_poll_at: None,
            callback_token_hash: Some(sha256_hex(&self.callback_token(id))),
            created_at: at,
            updated_at: at,
            erased_at: None,
        };
        match self
            .store
            .insert_order(&order, &NewEvent::new("order received"))
            .await?
        {
            InsertOrder::Inserted(order) => {
                counted(&order);
                self.invite(caller, order).await
            }
            InsertOrder::Existing(existing) => {
                self.replay(caller, existing, &order.request_hash).await
            }
        }
    }

    /// A request whose client key is already known: the original answer, a retry of a failed
    /// invitation, or a wait for the concurrent first request.
    async fn replay(
        &self,
        caller: &Caller,
        mut order: OrderRecord,
        request_hash: &str,
    ) -> Result<CreateOrderResult, ServiceError> {
        let key = order.client_key.clone().unwrap_or_default();
        if order.erased_at.is_some() {
            return Err(ServiceError::Conflict(format!(
                "the order with id '{key}' was erased on request; send it with a new id"
            )));
        }
        if order.request_hash != request_hash {
            return Err(ServiceError::Conflict(format!(
                "an order with id '{key}' already exists with a different body"
            )));
        }
        let deadline =
            tokio::time::Instant::now() + self.config.provider_timeout + Duration::from_secs(5);
        let mut wait = REPLAY_WAIT_FIRST;
        loop {
            match order.status {
                OrderStatus::Failed => {
                    let change = OrderChange {
                        status: OrderStatus::Pending,
                        remote_id: None,
                        test_url: None,
                        provider_data: None,
                        result: None,
                        failure_reason: None,
                        next_poll_at: None,
                        at: now(),
                        event: NewEvent::new("retried with the same id"),
                        delivery: None,
                    };
                    if let Some(retrying) = self
                        .store
                        .update_order(order.id, OrderStatus::Failed, &change)
                        .await?
                    {
                        counted(&retrying);
                        return self.invite(caller, retrying).await;
                    }
                }
                OrderStatus::Pending => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(ServiceError::Conflict(format!(
                            "the order with id '{key}' is still being placed; retry later"
                        )));
                    }
                    let placed = self.wake.placed.notified();
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = placed => {}
                    }
                    wait = (wait * 2).min(REPLAY_WAIT_MAX);
                }
                _ => return Ok(created_result(&order)),
            }
            order = self
                .store
                .get_order(order.id)
                .await?
                .ok_or_else(|| ServiceError::not_found("the order disappeared"))?;
        }
    }

    /// Calls the vendor for a pending order this request owns, and records the outcome.
    async fn invite(
        &self,
        caller: &Caller,
        order: OrderRecord,
    ) -> Result<CreateOrderResult, ServiceError> {
        let order_id = order.id.to_string();
        let placement = PlaceOrder {
            order_id: &order_id,
            package_id: &order.package_id,
            email: &order.candidate_email,
            request: &order.request,
            callback_url: Some(self.callback_url(&order.provider, order.id)),
        };
        let placing = caller.provider.place_order(&caller.context, &placement);
        let placed = self.with_heartbeat(order.id, placing).await;
        self.health.note(order.account_id, &placed);
        let placed = match placed {
            Ok(invitation) => self
                .check_reuse(&order, &invitation)
                .await?
                .map_or(Ok(invitation), Err),
            Err(error) => Err(error),
        };
        let at = now();
        match placed {
            Ok(invitation) => {
                // Each order on its own, so that a campaign inviting thousands at once does not
                // have them all read from the vendor at one moment an interval later.
                let next_poll_at = caller
                    .provider
                    .first_poll_after(&caller.context, &order.request)
                    .map(|d| crate::domain::later(at, super::spread_later(d, 0.2)));
                let mut subject = subject_of(&order);
                subject.remote_id = Some(invitation.remote_id.clone());
                let change = OrderChange {
                    status: OrderStatus::Invited,
                    result: Some(status_result(&subject, OrderStatus::Invited)),
                    remote_id: Some(invitation.remote_id),
                    test_url: Some(invitation.test_url).filter(|u| !u.is_empty()),
                    provider_data: Some(invitation.provider_data),
                    failure_reason: None,
                    next_poll_at,
                    at,
                    event: NewEvent::new("invitation created at the vendor"),
                    delivery: None,
                };
                let updated = self
                    .store
                    .update_order(order.id, OrderStatus::Pending, &change)
                    .await?;
                self.wake.placed.notify_waiters();
                updated.iter().for_each(counted);
                let updated = updated.ok_or_else(|| {
                    ServiceError::Conflict("the order changed while it was being placed".into())
                })?;
                Ok(created_result(&updated))
            }
            Err(error) => {
                self.record_failure(&order, &error, at).await?;
                self.wake.placed.notify_waiters();
                Err(error.into())
            }
        }
    }

    /// Runs `placing` while telling the store, every half `PROVIDER_TIMEOUT`, that this process is
    /// still placing the order: the sweeper of abandoned orders (here or in another instance)
    /// then never fails an order whose invitation may still go out.
    async fn with_heartbeat<T>(
        &self,
        id: Uuid,
        placing: impl std::future::Future<Output = T>,
    ) -> T {
        let every = self.config.provider_timeout / 2;
        tokio::pin!(placing);
        loop {
            tokio::select! {
                done = &mut placing => return done,
                _ = tokio::time::sleep(every) => {
                    if let Err(error) = self.store.touch_pending_order(id, now()).await {
                        tracing::warn!(order_id = %id, %error, "could not mark the order as still being placed");
                    }
                }
            }
        }
    }

    /// Why `order` must not take an invitation the vendor found through its dedupe key: the
    /// attempt is over, or another order of the account holds it (a replay of this same order
    /// holds nothing else and takes it). `None` when it may.
    async fn check_reuse(
        &self,
        order: &OrderRecord,
        invitation: &Invitation,
    ) -> Result<Option<ProviderError>, ServiceError> {
        let InvitationOrigin::Existing { finished } = &invitation.origin else {
            return Ok(None);
        };
        let holder = self
            .store
            .list_orders_by_remote_id(order.account_id, &order.provider, &invitation.remote_id)
            .await?
            .into_iter()
            .find(|other| {
                other.id != order.id
                    && matches!(
                        other.status,
                        OrderStatus::Invited | OrderStatus::InProgress | OrderStatus::Completed
                    )
            });
        let vendor = &order.provider;
        let remote_id = &invitation.remote_id;
        let held = holder
            .as_ref()
            .map(|other| format!(" (it belongs to order {})", other.id))
            .unwrap_or_default();
        let refusal = match (finished, &holder) {
            (Some(attempt), _) => ProviderError::Conflict {
                message: format!(
                    "{vendor} answered with its invitation {remote_id}, whose attempt is over \
                     ('{}'){held}: a new order does not take a finished attempt",
                    attempt.state
                ),
                detail: attempt.detail.clone(),
            },
            (None, Some(other)) => ProviderError::conflict(format!(
                "{vendor} answered with its invitation {remote_id}, which already belongs to order {}",
                other.id
            )),
            (None, None) => return Ok(None),
        };
        Ok(Some(refusal))
    }

    async fn record_failure(
        &self,
        order: &OrderRecord,
        error: &ProviderError,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), ServiceError> {
        let reason = error.to_string();
        let detail = error
            .detail()
            .and_then(|d| serde_json::to_value(d).ok())
            .unwrap_or_else(|| Value::Object(Default::default()));
        let event = NewEvent::with_data(format!("the invitation failed: {reason}"), detail);
        self.fail_pending(order, reason, event, at).await?;
        Ok(())
    }

    async fn fail_pending(
        &self,
        order: &OrderRecord,
        reason: String,
        event: NewEvent,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<OrderRecord>, ServiceError> {
        let change = OrderChange {
            status: OrderStatus::Failed,
            remote_id: None,
            test_url: None,
            provider_data: None,
            result: Some(status_result(&subject_of(order), OrderStatus::Failed)),
            failure_reason: Some(reason),
            next_poll_at: None,
            at,
            event,
            delivery: None,
        };
        let failed = self
            .store
            .update_order(order.id, OrderStatus::Pending, &change)
            .await?;
        failed.iter().for_each(counted);
        Ok(failed)
    }

    /// Orders left `pending` by a process that died during the vendor call. Once no live request
    /// can still own them (twice the vendor timeout and a minute), they become `failed` with an
    /// unknown outcome, so that a replay with the same key retries through the vendor's dedupe
    /// key instead of waiting forever. Returns how many were failed.
    pub async fn fail_abandoned_orders(&self) -> Result<usize, ServiceError> {
        let grace = self.config.provider_timeout * 2 + Duration::from_secs(60);
        self.fail_orders_abandoned_for(grace).await
    }

    /// `fail_abandoned_orders` with the time an order may go without a heartbeat as a parameter.
    pub async fn fail_orders_abandoned_for(&self, grace: Duration) -> Result<usize, ServiceError> {
        let before = crate::domain::earlier(now(), grace);
        let mut failed = 0;
        for order in self.store.list_stale_pending(before, 50).await? {
            let reason =
                "the outcome of the vendor call is unknown (the gateway stopped during it); \
                          sending the same order again retries it safely"
                    .to_string();
            let event = NewEvent::new(format!("abandoned: {reason}"));
            if self
                .fail_pending(&order, reason, event, now())
                .await?
                .is_some()
            {
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// An order of the caller's account, by gateway id or by the caller's own id.
    pub async fn caller_order(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<OrderRecord, ServiceError> {
        let by_gateway_id = match Uuid::parse_str(id) {
            Ok(uuid) => self
                .store
                .get_order(uuid)
                .await?
                .filter(|o| o.account_id == caller.account.id),
            Err(_) => None,
        };
        let order = match by_gateway_id {
            Some(order) => Some(order),
            None => {
                self.store
                    .find_order_by_client_key(caller.account.id, id)
                    .await?
            }
        };
        order.ok_or_else(|| ServiceError::not_found(format!("no order with id '{id}'")))
    }
}

/// Counts an order that has just reached its status (`agw_orders_total`).
pub fn counted(order: &OrderRecord) {
    crate::telemetry::order_reached(&order.provider, order.status.as_str());
}

/// The identity of an order, for building its result.
pub fn subject_of(order: &OrderRecord) -> ResultSubject {
    let candidate = order.request.candidate.as_ref();
    ResultSubject {
        order_id: order.id.to_string(),
        remote_id: order.remote_id.clone(),
        candidate_id: candidate.and_then(|c| c.id.clone()),
        candidate_profile_url: candidate.and_then(|c| c.profile_url.clone()),
    }
}

fn created_result(order: &OrderRecord) -> CreateOrderResult {
    CreateOrderResult {
        id: order.id.to_string(),
        remote_id: order.remote_id.clone(),
        test_url: order.test_url.clone(),
    }
}
