//! TestGorilla (reference/providers.md §1): `Authorization: Token …`, assessments as packages,
//! candidatures as invitations, results polled (TestGorilla has no callbacks).
//!
//! Credentials: `{token}` or `{username, password}` (logs in at `/api/profiles/login/`, keeps the
//! token for those credentials and logs in again on a 401). Settings: `send_email` (default
//! false: invites with `?no_email=true` and the ATS hands out the link), `send_rejection_email`
//! (default true).

mod candidatures;
mod session;

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::{
    http::{Call, Reply, VendorClient},
    optional_bool, path_segment, query_value, require_string, vendor_id, AccountContext,
    FinishedAttempt, Invitation, InvitationOrigin, OrderRef, PackagePage, PackageQuery, PlaceOrder,
    Provider, ProviderError, ProviderErrorDetail, ProviderKind,
};
use crate::domain::{AssessmentPackage, OrderRequest, OrderStatus, VendorOutcome};
use candidatures::{Lookup, Wanted};

pub const DEFAULT_BASE_URL: &str = "https://app.testgorilla.com";

/// Documented per-minute budgets (reference/providers.md §1.10).
mod budget {
    pub const LIST_ASSESSMENTS: u32 = 20;
    pub const GET_ASSESSMENT: u32 = 20;
    pub const INVITE: u32 = 60;
    pub const LIST_CANDIDATURES: u32 = 100;
    pub const DELETE_CANDIDATURE: u32 = 20;
    pub const CHANGE_STAGE: u32 = 60;
    pub const SEND_REMINDER: u32 = 30;
    pub const RESULTS: u32 = 60;
}

pub struct TestGorilla {
    http: VendorClient,
    poll_interval: Duration,
    /// Tokens obtained by logging in, per account, with the fingerprint of the credentials (and
    /// host) they were obtained with: changed credentials log in again at once.
    session_tokens: Mutex<HashMap<String, session::SessionToken>>,
}

impl TestGorilla {
    pub fn new(http: VendorClient, poll_interval: Duration) -> Self {
        Self {
            http,
            poll_interval,
            session_tokens: Mutex::new(HashMap::new()),
        }
    }

    fn url(account: &AccountContext, path_and_query: &str) -> String {
        format!(
            "{}/api/{path_and_query}",
            account.base_url(DEFAULT_BASE_URL)
        )
    }

    fn budget_key(account: &AccountContext, endpoint: &str) -> String {
        format!("testgorilla:{}:{endpoint}", account.id)
    }

    fn invitation_from(
        candidature: &Value,
        assessment: &str,
        origin: InvitationOrigin,
    ) -> Result<Invitation, ProviderError> {
        let remote_id =
            vendor_id(&candidature["id"]).ok_or_else(|| unreadable("the candidature has no id"))?;
        let test_url = candidature["invitation_link"]
            .as_str()
            .ok_or_else(|| unreadable("the candidature has no invitation_link"))?
            .to_string();
        Ok(Invitation {
            remote_id,
            test_url,
            provider_data: json!({
                "assessment_id": assessment,
                "testtaker_id": candidature["testtaker_id"],
                "invitation_uuid": candidature["invitation_uuid"],
                "created": candidature["created"],
            }),
            origin,
        })
    }

    /// The candidature TestGorilla already has for this email (after `REPEATING_INVITATION`).
    async fn repeated_invitation(
        &self,
        account: &AccountContext,
        order: &PlaceOrder<'_>,
        refusal: &Reply,
    ) -> Result<Invitation, ProviderError> {
        let assessment = order.package_id;
        match self
            .find_candidature(account, assessment, &Wanted::Email(order.email))
            .await?
        {
            Lookup::Found { candidature, url } => {
                let status = candidature["status"].as_str().unwrap_or_default();
                let finished = (status_of(status) == OrderStatus::Completed).then(|| {
                    FinishedAttempt {
                        state: status.to_string(),
                        detail: Some(ProviderErrorDetail {
                            status: Some(200),
                            url: Some(url),
                            raw: Some(candidature.clone()),
                            headers: None,
                        }),
                    }
                });
                Self::invitation_from(
                    &candidature,
                    assessment,
                    InvitationOrigin::Existing { finished },
                )
            }
            Lookup::Absent => Err(ProviderError::Rejected {
                message: format!(
                    "TestGorilla says {} was already invited to assessment {assessment}, but lists no candidature with that email",
                    order.email
                ),
                detail: Some(refusal.detail()),
            }),
            Lookup::Unseen { read } => Err(ProviderError::Unavailable {
                message: format!(
                    "TestGorilla says {} was already invited to assessment {assessment}; its candidature is not among the newest {read}, so the gateway cannot tell which it is",
                    order.email
                ),
            }),
        }
    }
}

fn unreadable(what: &str) -> ProviderError {
    ProviderError::Unavailable {
        message: format!("TestGorilla's answer could not be read: {what}"),
    }
}

/// TestGorilla's own signal for "already invited to this assessment": the error key, not a word
/// of the message (other refusals say "already" too).
fn is_repeating_invitation(reply: &Reply) -> bool {
    reply.status == StatusCode::BAD_REQUEST
        && reply.body["errors"].as_array().is_some_and(|errors| {
            errors
                .iter()
                .any(|e| e["error_key"] == "REPEATING_INVITATION")
        })
}

fn package_of(assessment: &Value) -> Option<AssessmentPackage> {
    let id = vendor_id(&assessment["id"])?;
    Some(AssessmentPackage {
        remote_id: Some(id.clone()),
        id: Some(id),
        name: assessment["name"].as_str().map(str::to_string),
        description: assessment["status"]
            .as_str()
            .map(|s| format!("TestGorilla assessment ({s})")),
    })
}

fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// TestGorilla's candidature status in gateway terms (reference/providers.md §1.5).
pub fn status_of(candidature_status: &str) -> OrderStatus {
    match candidature_status {
        "started" => OrderStatus::InProgress,
        "completed" => OrderStatus::Completed,
        _ => OrderStatus::Invited,
    }
}

#[async_trait]
impl Provider for TestGorilla {
    fn kind(&self) -> ProviderKind {
        ProviderKind::TestGorilla
    }

    fn validate_account(&self, credentials: &Value, settings: &Value) -> Result<(), String> {
        if require_string(credentials, "credentials", "token").is_err() {
            require_string(credentials, "credentials", "username")
                .and_then(|_| require_string(credentials, "credentials", "password"))
                .map_err(|_| {
                    "credentials: TestGorilla needs {\"token\"} or {\"username\", \"password\"}"
                        .to_string()
                })?;
        }
        optional_bool(settings, "send_email")?;
        optional_bool(settings, "send_rejection_email")
    }

    async fn list_packages(
        &self,
        account: &AccountContext,
        query: &PackageQuery,
    ) -> Result<PackagePage, ProviderError> {
        let offset: usize = match &query.cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| ProviderError::rejected("next: not a cursor of this account"))?,
        };
        let mut path = format!("assessments/?limit={}&offset={offset}", query.page_size);
        if query.updated_after.is_some() {
            path.push_str("&ordering=-modified");
        }
        let call = Call::new(Method::GET, Self::url(account, &path)).budget(
            Self::budget_key(account, "list_assessments"),
            budget::LIST_ASSESSMENTS,
        );
        let reply = self.send(account, call).await?.ok()?;
        let results = reply.body["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut reached_older = false;
        let mut packages = Vec::new();
        for assessment in &results {
            if let Some(after) = query.updated_after {
                if parse_time(&assessment["modified"]).is_some_and(|m| m <= after) {
                    // Sorted newest first: everything from here on is older.
                    reached_older = true;
                    break;
                }
            }
            packages.extend(package_of(assessment));
        }
        let total = reply.body["count"].as_u64().map(|c| c as usize);
        let seen = offset + results.len();
        let more = match total {
            Some(total) => seen < total,
            None => !reply.body["next"].is_null() && !results.is_empty(),
        };
        let next = (more && !reached_older && !results.is_empty()).then(|| seen.to_string());
        Ok(PackagePage { packages, next })
    }

    async fn get_package(
        &self,
        account: &AccountContext,
        id: &str,
    ) -> Result<AssessmentPackage, ProviderError> {
        if !is_numeric(id) {
            return Err(ProviderError::not_found(format!(
                "no TestGorilla assessment with id '{id}'"
            )));
        }
        let call = Call::new(
            Method::GET,
            Self::url(account, &format!("assessments/{id}/")),
        )
        .budget(
            Self::budget_key(account, "get_assessment"),
            budget::GET_ASSESSMENT,
        );
        let reply = self.send(account, call).await?.ok()?;
        package_of(&reply.body).ok_or_else(|| unreadable("the assessment has no id"))
    }

    fn check_order(
        &self,
        _account: &AccountContext,
        order: &OrderRequest,
    ) -> Result<(), ProviderError> {
        let id = order.package_id().unwrap_or_default();
        if is_numeric(id) {
            Ok(())
        } else {
            Err(ProviderError::rejected(format!(
                "package.id: TestGorilla assessment ids are numbers, not '{id}'"
            )))
        }
    }

    async fn place_order(
        &self,
        account: &AccountContext,
        order: &PlaceOrder<'_>,
    ) -> Result<Invitation, ProviderError> {
        let query = if account.setting_bool("send_email") == Some(true) {
            ""
        } else {
            "?no_email=true"
        };
        let mut body = json!({"email": order.email});
        if let Some(first) = order.request.first_name() {
            body["first_name"] = json!(first);
        }
        if let Some(last) = order.request.last_name() {
            body["last_name"] = json!(last);
        }
        let path = format!(
            "assessments/{}/invite_candidate/{query}",
            path_segment(order.package_id, "package.id")?
        );
        let call = Call::new(Method::POST, Self::url(account, &path))
            .json(body)
            .budget(Self::budget_key(account, "invite"), budget::INVITE);
        let reply = self.send(account, call).await?;
        if reply.is_success() {
            return Self::invitation_from(&reply.body, order.package_id, InvitationOrigin::Created);
        }
        if is_repeating_invitation(&reply) {
            // A retry after a lost answer, or another order for the same person: the gateway
            // decides which once it knows the candidature.
            return self.repeated_invitation(account, order, &reply).await;
        }
        Err(reply.error())
    }

    async fn fetch_result(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<VendorOutcome, ProviderError> {
        let wanted = Wanted::Id {
            id: order.remote_id,
            created: created_since(order),
        };
        let mut lookup = self
            .find_candidature(account, order.package_id, &wanted)
            .await?;
        if matches!(lookup, Lookup::Absent) {
            // Offsets shift when candidatures are deleted during a walk, which can hide one: a
            // cancellation is final, so only a second walk that misses it too confirms it.
            lookup = self
                .find_candidature(account, order.package_id, &wanted)
                .await?;
        }
        let candidature = match lookup {
            Lookup::Found { candidature, .. } => candidature,
            Lookup::Absent => {
                // Candidatures only disappear when deleted, which is TestGorilla's cancel.
                return Ok(VendorOutcome::status_only(
                    OrderStatus::Cancelled,
                    json!({"status": "deleted", "candidature": order.remote_id}),
                ));
            }
            Lookup::Unseen { read } => {
                tracing::warn!(order_id = order.order_id, candidature = order.remote_id, read,
                    "TestGorilla's candidature is not among the newest candidatures read; the order stays open");
                return Ok(VendorOutcome::status_only(
                    OrderStatus::Invited,
                    json!({"status": "not seen", "read": read}),
                ));
            }
        };
        let vendor_status = candidature["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let status = status_of(&vendor_status);
        let mut source = json!({"status": vendor_status, "stage": candidature["stage"],
            "avg_score": candidature["avg_score"], "created": candidature["created"]});
        if status != OrderStatus::Completed {
            return Ok(VendorOutcome::status_only(status, source));
        }
        let testtaker = vendor_id(&candidature["testtaker_id"])
            .or_else(|| vendor_id(&order.provider_data["testtaker_id"]))
            .ok_or_else(|| unreadable("the candidature has no testtaker_id"))?;
        let path = format!(
            "assessments/results/?candidature__assessment={}&candidature__test_taker={}",
            query_value(order.package_id),
            query_value(&testtaker)
        );
        let call = Call::new(Method::GET, Self::url(account, &path))
            .budget(Self::budget_key(account, "results"), budget::RESULTS);
        let results = self.send(account, call).await?.ok()?;
        let tests: Vec<Value> = results.body["results"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| json!({"name": t["name"], "algorithm": t["algorithm"], "score": t["score"], "score_display": t["score_display"], "completed": t["completed"]}))
            .collect();
        let summary = tests
            .iter()
            .filter_map(|t| {
                let name = t["name"].as_str()?;
                let shown = match (&t["score"], t["score_display"].as_str()) {
                    (Value::Number(n), _) => format!("{n}%"),
                    (_, Some(display)) if !display.is_empty() => display.to_string(),
                    _ => "no score".into(),
                };
                Some(format!("{name}: {shown}"))
            })
            .collect::<Vec<_>>()
            .join("; ");
        source["tests"] = Value::Array(tests);
        // TestGorilla documents no start or submission time of a candidature (its `created` is
        // the invitation's), so both dates stay null.
        Ok(VendorOutcome {
            score_percent: candidature["avg_score"].as_f64(),
            summary: (!summary.is_empty()).then_some(summary),
            ..VendorOutcome::status_only(OrderStatus::Completed, source)
        })
    }

    async fn cancel(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<(), ProviderError> {
        let call = Call::new(
            Method::DELETE,
            Self::url(
                account,
                &format!(
                    "assessments/candidature/{}/",
                    path_segment(order.remote_id, "remote_id")?
                ),
            ),
        )
        .budget(
            Self::budget_key(account, "delete_candidature"),
            budget::DELETE_CANDIDATURE,
        );
        self.send(account, call).await?.ok().map(|_| ())
    }

    /// TestGorilla's one deletion is the candidature's (the cancel call); the test taker's
    /// account, shared by the customer's assessments, is not the gateway's to delete.
    async fn erase_candidate(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<(), ProviderError> {
        match self.cancel(account, order).await {
            Err(ProviderError::NotFound { .. }) => Ok(()),
            done => done,
        }
    }

    async fn reject(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<(), ProviderError> {
        let stage = Call::new(
            Method::PATCH,
            Self::url(
                account,
                &format!(
                    "assessments/candidature/{}/change_stage/",
                    path_segment(order.remote_id, "remote_id")?
                ),
            ),
        )
        .json(json!({"stage": "REJ"}))
        .budget(
            Self::budget_key(account, "change_stage"),
            budget::CHANGE_STAGE,
        );
        self.send(account, stage).await?.ok()?;
        if account.setting_bool("send_rejection_email") != Some(false) {
            let email = Call::new(
                Method::POST,
                Self::url(
                    account,
                    &format!(
                        "assessments/candidature/{}/send-reminder/",
                        path_segment(order.remote_id, "remote_id")?
                    ),
                ),
            )
            .json(json!({}))
            .budget(
                Self::budget_key(account, "send_reminder"),
                budget::SEND_REMINDER,
            );
            self.send(account, email).await?.ok()?;
        }
        Ok(())
    }

    fn parse_callback(&self, _body: &[u8]) -> Result<String, ProviderError> {
        Err(ProviderError::Unsupported {
            message: "TestGorilla has no callbacks; its results are polled".into(),
        })
    }

    fn first_poll_after(
        &self,
        _account: &AccountContext,
        _order: &OrderRequest,
    ) -> Option<Duration> {
        Some(self.poll_interval)
    }
}

/// The time from which an order's candidature is looked for in the newest-first list: its own
/// `created` as TestGorilla gave it, else (orders placed before it was kept) the order's time with
/// an hour for clocks that disagree.
fn created_since(order: &OrderRef<'_>) -> DateTime<Utc> {
    let margin = chrono::Duration::minutes(1);
    match parse_time(&order.provider_data["created"]) {
        Some(created) => created - margin,
        None => order.invited_at - chrono::Duration::hours(1),
    }
}

fn is_numeric(id: &str) -> bool {
    !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidature_statuses_map_explicitly() {
        assert_eq!(status_of("invited"), OrderStatus::Invited);
        assert_eq!(status_of("started"), OrderStatus::InProgress);
        assert_eq!(status_of("completed"), OrderStatus::Completed);
    }

    #[test]
    fn credentials_are_a_token_or_a_login() {
        let tg = TestGorilla::new(
            VendorClient::new(Duration::from_secs(1)).unwrap(),
            Duration::from_secs(60),
        );
        assert!(tg
            .validate_account(&json!({"token": "t"}), &json!({}))
            .is_ok());
        assert!(tg
            .validate_account(
                &json!({"username": "u", "password": "p"}),
                &json!({"send_email": true})
            )
            .is_ok());
        assert!(tg
            .validate_account(&json!({"username": "u"}), &json!({}))
            .is_err());
        assert!(tg
            .validate_account(&json!({"token": "t"}), &json!({"send_email": "yes"}))
            .is_err());
    }
}
