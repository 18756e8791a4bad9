//! TestInvite REST v1 (reference/providers.md §2): tasks as packages, temporary (or internal)
//! candidates as invitations, test instances as results, a per-candidate callback (a hint; the
//! instances are re-read before anything is recorded).
//!
//! TestInvite does not document how REST v1 authenticates. Credentials are `{token}`, sent as
//! `{auth_header}: {auth_scheme} {token}` with settings `auth_header` (default `Authorization`) and
//! `auth_scheme` (default `Bearer`; empty sends the bare token). Other settings: `lang`.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use super::{
    http::{Call, Reply, VendorClient},
    require_string, AccountContext, Invitation, OrderRef, PackagePage, PackageQuery, PlaceOrder,
    Provider, ProviderError, ProviderKind,
};
use crate::domain::{AssessmentPackage, OrderRequest, OrderStatus, VendorOutcome};

pub const DEFAULT_BASE_URL: &str = "https://www.testinvite.com";
const API: &str = "api/integration/rest/v1";
/// Pages walked at most when looking a task up in the task list.
const MAX_TASK_PAGES: usize = 50;

/// Documented candidate options a caller may set per order through `passthrough`.
const PASSTHROUGH_KEYS: [&str; 11] = [
    "group",
    "labels",
    "tags",
    "programIds",
    "extraEmails",
    "dates",
    "price",
    "customizedSteps",
    "inviteByEmail",
    "credential1",
    "credential2",
];

pub struct TestInvite {
    http: VendorClient,
    poll_interval: Duration,
    /// Active steps per task, learnt from the detailed task list.
    task_steps: Mutex<HashMap<String, usize>>,
}

fn unreadable(what: &str) -> ProviderError {
    ProviderError::Unavailable {
        message: format!("TestInvite's answer could not be read: {what}"),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn epoch(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(value.as_i64()?, 0)
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A TestInvite test instance status in gateway terms.
pub fn instance_status(status: &str) -> OrderStatus {
    match status.to_ascii_uppercase().as_str() {
        "COMPLETE" | "COMPLETED" => OrderStatus::Completed,
        _ => OrderStatus::InProgress,
    }
}

impl TestInvite {
    pub fn new(http: VendorClient, poll_interval: Duration) -> Self {
        Self {
            http,
            poll_interval,
            task_steps: Mutex::new(HashMap::new()),
        }
    }

    fn call(account: &AccountContext, method: Method, path: &str) -> Call {
        let header = account
            .setting_str("auth_header")
            .unwrap_or("Authorization");
        let scheme = account.setting_str("auth_scheme").unwrap_or("Bearer");
        let token = account.credential("token").unwrap_or_default();
        let value = if scheme.is_empty() {
            token.to_string()
        } else {
            format!("{scheme} {token}")
        };
        Call::new(
            method,
            format!("{}/{API}/{path}", account.base_url(DEFAULT_BASE_URL)),
        )
        .header(header, value)
    }

    async fn get(&self, account: &AccountContext, path: &str) -> Result<Value, ProviderError> {
        Ok(self
            .http
            .send(&Self::call(account, Method::GET, path))
            .await?
            .ok()?
            .body)
    }

    /// The first candidate of the task matching `filter` (`code=…` or `email=…`).
    async fn find_candidate(
        &self,
        account: &AccountContext,
        task: &str,
        filter: &str,
    ) -> Result<Option<Value>, ProviderError> {
        let body = self
            .get(
                account,
                &format!("tasks/{task}/candidates?mode=basic&limit=10&page=1&{filter}"),
            )
            .await?;
        Ok(body["candidates"]
            .as_array()
            .and_then(|c| c.first().cloned()))
    }

    async fn invitation_from(
        &self,
        account: &AccountContext,
        task: &str,
        candidate: &Value,
        order_id: &str,
    ) -> Result<Invitation, ProviderError> {
        let remote_id = text(&candidate["candidateId"])
            .ok_or_else(|| unreadable("the candidate has no candidateId"))?;
        let mut link = candidate["directAccessUrl"].as_str().map(str::to_string);
        if link.is_none() {
            // The create answer is documented without the link; the candidate list has it.
            if let Some(code) = candidate["invitationCode"].as_str() {
                link = self
                    .find_candidate(account, task, &format!("code={}", urlencode(code)))
                    .await?
                    .and_then(|c| c["directAccessUrl"].as_str().map(str::to_string));
            }
        }
        Ok(Invitation {
            remote_id,
            // Internal candidates (kind "user") have no direct link: they log in with their account.
            test_url: link.unwrap_or_default(),
            provider_data: json!({"task_id": task, "invitation_code": candidate["invitationCode"], "kind": candidate["kind"], "uniq_id": order_id}),
        })
    }

    /// How many active steps a task has, from the detailed task list (cached).
    async fn active_steps(
        &self,
        account: &AccountContext,
        task: &str,
    ) -> Result<Option<usize>, ProviderError> {
        let key = format!("{}:{task}", account.id);
        if let Some(steps) = self.task_steps.lock().await.get(&key) {
            return Ok(Some(*steps));
        }
        let Some(found) = self.find_task(account, task, "detailed").await? else {
            return Ok(None);
        };
        let steps = found["steps"]
            .as_array()
            .map(|steps| {
                steps
                    .iter()
                    .filter(|s| s["active"] != Value::Bool(false))
                    .count()
            })
            .unwrap_or(1);
        self.task_steps.lock().await.insert(key, steps);
        Ok(Some(steps))
    }

    async fn find_task(
        &self,
        account: &AccountContext,
        task: &str,
        mode: &str,
    ) -> Result<Option<Value>, ProviderError> {
        for page in 1..=MAX_TASK_PAGES {
            let body = self
                .get(account, &format!("tasks?mode={mode}&limit=100&page={page}"))
                .await?;
            let tasks = body["tasks"].as_array().cloned().unwrap_or_default();
            if let Some(found) = tasks
                .iter()
                .find(|t| text(&t["taskId"]).as_deref() == Some(task))
            {
                return Ok(Some(found.clone()));
            }
            if tasks.is_empty() || body["pagination"]["next"].is_null() {
                break;
            }
        }
        Ok(None)
    }

    fn candidate_body(account: &AccountContext, order: &PlaceOrder<'_>) -> Value {
        let request = order.request;
        let passthrough = request.passthrough.clone().unwrap_or_default();
        let mut body = Map::new();
        let internal =
            passthrough.get("kind").and_then(Value::as_str) == Some("internal-candidate");
        if internal {
            body.insert("kind".into(), json!("internal-candidate"));
            body.insert(
                "id".into(),
                passthrough.get("id").cloned().unwrap_or(Value::Null),
            );
        } else {
            body.insert("kind".into(), json!("temporary-candidate"));
            if let Some(name) = request.full_name() {
                body.insert("fullname".into(), json!(name));
            }
            body.insert("email".into(), json!(order.email));
            body.insert(
                "tracking".into(),
                json!({"uniqId": order.order_id, "scope": "task"}),
            );
        }
        body.insert("externalId".into(), json!(order.order_id));
        let ats = json!({
            "order_id": request.id,
            "candidate_id": request.candidate.as_ref().and_then(|c| c.id.clone()),
            "application_id": request.application.as_ref().and_then(|a| a.id.clone()),
            "job_id": request.job.as_ref().and_then(|j| j.id.clone()),
        });
        body.insert(
            "externalData".into(),
            json!({"ats": ats, "passthrough": passthrough}),
        );
        if let Some(lang) = passthrough
            .get("lang")
            .and_then(Value::as_str)
            .or(account.setting_str("lang"))
        {
            body.insert("lang".into(), json!(lang));
        }
        if let Some(url) = &order.callback_url {
            body.insert(
                "callback".into(),
                json!({"url": url, "resource": "detailed"}),
            );
        }
        for key in PASSTHROUGH_KEYS {
            if let Some(value) = passthrough.get(key) {
                body.insert(key.into(), value.clone());
            }
        }
        Value::Object(body)
    }
}

fn is_duplicate_uniq_id(reply: &Reply) -> bool {
    let said = reply
        .vendor_message()
        .unwrap_or_default()
        .to_ascii_lowercase();
    matches!(reply.status.as_u16(), 400 | 403 | 409)
        && ["uniq", "duplicate", "already exist"]
            .iter()
            .any(|w| said.contains(w))
}

#[async_trait]
impl Provider for TestInvite {
    fn kind(&self) -> ProviderKind {
        ProviderKind::TestInvite
    }

    fn validate_account(&self, credentials: &Value, settings: &Value) -> Result<(), String> {
        require_string(credentials, "credentials", "token")?;
        for key in ["auth_header", "auth_scheme", "lang"] {
            match settings.get(key) {
                None | Some(Value::Null) | Some(Value::String(_)) => {}
                Some(_) => return Err(format!("settings.{key}: expected a string")),
            }
        }
        let header = settings
            .get("auth_header")
            .and_then(Value::as_str)
            .unwrap_or("Authorization");
        if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err("settings.auth_header: not a valid header name".into());
        }
        Ok(())
    }

    async fn list_packages(
        &self,
        account: &AccountContext,
        query: &PackageQuery,
    ) -> Result<PackagePage, ProviderError> {
        let page = super::page_cursor(&query.cursor)?;
        let body = self
            .get(
                account,
                &format!("tasks?mode=basic&limit={}&page={page}", query.page_size),
            )
            .await?;
        let packages = body["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|task| {
                let id = text(&task["taskId"])?;
                Some(AssessmentPackage {
                    remote_id: Some(id.clone()),
                    id: Some(id),
                    name: task["title"].as_str().map(str::to_string),
                    description: Some("TestInvite task".into()),
                })
            })
            .collect();
        let next = (!body["pagination"]["next"].is_null()).then(|| (page + 1).to_string());
        Ok(PackagePage { packages, next })
    }

    async fn get_package(
        &self,
        account: &AccountContext,
        id: &str,
    ) -> Result<AssessmentPackage, ProviderError> {
        let task = self.find_task(account, id, "basic").await?.ok_or_else(|| {
            ProviderError::not_found(format!("no TestInvite task with id '{id}'"))
        })?;
        Ok(AssessmentPackage {
            id: Some(id.to_string()),
            remote_id: Some(id.to_string()),
            name: task["title"].as_str().map(str::to_string),
            description: Some("TestInvite task".into()),
        })
    }

    fn check_order(
        &self,
        _account: &AccountContext,
        order: &OrderRequest,
    ) -> Result<(), ProviderError> {
        let passthrough = order.passthrough.as_ref();
        let internal = passthrough
            .and_then(|p| p.get("kind"))
            .and_then(Value::as_str)
            == Some("internal-candidate");
        if internal
            && passthrough
                .and_then(|p| p.get("id"))
                .and_then(Value::as_str)
                .is_none()
        {
            return Err(ProviderError::rejected(
                "passthrough.id: an internal-candidate needs the TestInvite user id",
            ));
        }
        if order.package_id().is_some_and(|id| id.contains('/')) {
            return Err(ProviderError::rejected(
                "package.id: not a TestInvite task id",
            ));
        }
        Ok(())
    }

    async fn place_order(
        &self,
        account: &AccountContext,
        order: &PlaceOrder<'_>,
    ) -> Result<Invitation, ProviderError> {
        let task = order.package_id;
        let call = Self::call(account, Method::POST, &format!("tasks/{task}/candidates"))
            .json(Self::candidate_body(account, order));
        let reply = self.http.send(&call).await?;
        if reply.is_success() {
            return self
                .invitation_from(account, task, &reply.body, order.order_id)
                .await;
        }
        if is_duplicate_uniq_id(&reply) {
            // This order's candidate exists already (a retry after a lost answer): it is ours.
            if let Some(existing) = self
                .find_candidate(account, task, &format!("email={}", urlencode(order.email)))
                .await?
            {
                return self
                    .invitation_from(account, task, &existing, order.order_id)
                    .await;
            }
        }
        Err(reply.error())
    }

    async fn fetch_result(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<VendorOutcome, ProviderError> {
        let task = order.package_id;
        let path = format!(
            "tasks/{task}/test-instances?mode=detailed&limit=50&page=1&candidateId={}",
            urlencode(order.remote_id)
        );
        let body = self.get(account, &path).await?;
        let instances: Vec<Value> = body["testInstances"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|i| i["ignored"] != Value::Bool(true))
            .collect();
        let summary: Vec<Value> = instances
            .iter()
            .map(|i| json!({"testInstanceId": i["testInstanceId"], "stepId": i["stepId"], "status": i["status"], "scoreboard": i["result"]["scoreboard"]}))
            .collect();
        let source = json!({"instances": summary});
        if instances.is_empty() {
            return Ok(VendorOutcome::status_only(OrderStatus::Invited, source));
        }
        let complete: Vec<&Value> = instances
            .iter()
            .filter(|i| {
                instance_status(i["status"].as_str().unwrap_or_default()) == OrderStatus::Completed
            })
            .collect();
        let steps = self.active_steps(account, task).await?.unwrap_or(1);
        if complete.len() < instances.len() || complete.len() < steps {
            return Ok(VendorOutcome::status_only(OrderStatus::InProgress, source));
        }
        let ratios: Vec<f64> = complete
            .iter()
            .filter_map(|i| i["result"]["scoreboard"]["achievementRatio"].as_f64())
            .collect();
        let score =
            (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64 * 100.0);
        let submitted = complete
            .iter()
            .filter_map(|i| epoch(&i["result"]["completedAt"]))
            .max();
        Ok(VendorOutcome {
            score_percent: score,
            submission_date: submitted,
            summary: Some(format!(
                "{} of {} test sessions complete",
                complete.len(),
                steps.max(complete.len())
            )),
            ..VendorOutcome::status_only(OrderStatus::Completed, source)
        })
    }

    async fn cancel(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<(), ProviderError> {
        let path = format!(
            "tasks/{}/candidates/{}",
            order.package_id,
            urlencode(order.remote_id)
        );
        let reply = self
            .http
            .send(&Self::call(account, Method::DELETE, &path))
            .await?;
        if reply.status == StatusCode::FORBIDDEN {
            return Err(ProviderError::Conflict {
                message: "TestInvite only deletes candidates who never logged in; this candidate already did".into(),
            });
        }
        reply.ok().map(|_| ())
    }

    fn parse_callback(&self, body: &[u8]) -> Result<String, ProviderError> {
        let instance: Value = serde_json::from_slice(body)
            .map_err(|e| ProviderError::rejected(format!("callback body is not JSON: {e}")))?;
        text(&instance["ticketId"])
            .or_else(|| text(&instance["candidate"]["id"]))
            .ok_or_else(|| ProviderError::rejected("callback body names no candidate (ticketId)"))
    }

    fn first_poll_after(
        &self,
        _account: &AccountContext,
        _order: &OrderRequest,
    ) -> Option<Duration> {
        // TestInvite calls back when a test session completes; polling is the fallback.
        Some(self.poll_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_statuses_map_explicitly() {
        assert_eq!(instance_status("COMPLETE"), OrderStatus::Completed);
        assert_eq!(instance_status("STARTED"), OrderStatus::InProgress);
        assert_eq!(instance_status("RESETUP"), OrderStatus::InProgress);
    }

    #[test]
    fn callbacks_name_the_candidate() {
        let ti = TestInvite::new(
            VendorClient::new(Duration::from_secs(1)),
            Duration::from_secs(60),
        );
        assert_eq!(
            ti.parse_callback(
                br#"{"testInstanceId": "ti_1", "ticketId": "c_abc", "status": "COMPLETE"}"#
            )
            .unwrap(),
            "c_abc"
        );
        assert_eq!(
            ti.parse_callback(br#"{"candidate": {"id": "c_x", "kind": "temp"}}"#)
                .unwrap(),
            "c_x"
        );
        assert!(ti.parse_callback(b"{}").is_err());
    }

    #[test]
    fn an_internal_candidate_comes_through_passthrough() {
        use crate::secret::Secret;
        let request: OrderRequest = serde_json::from_value(json!({
            "id": "ats-1", "package": {"id": "t_1"}, "candidate": {"emails": [{"value": "a@b.co"}]},
            "passthrough": {"kind": "internal-candidate", "id": "u_42", "programIds": ["p1"]}
        }))
        .unwrap();
        let account = AccountContext {
            id: "a".into(),
            credentials: Secret::new(json!({"token": "t"})),
            settings: json!({}),
        };
        let order = PlaceOrder {
            order_id: "ord-1",
            package_id: "t_1",
            email: "a@b.co",
            request: &request,
            callback_url: None,
        };
        let body = TestInvite::candidate_body(&account, &order);
        assert_eq!(body["kind"], "internal-candidate");
        assert_eq!(body["id"], "u_42");
        assert_eq!(body["programIds"], json!(["p1"]));
        assert!(
            body.get("tracking").is_none(),
            "TestInvite tracks internal candidates by username"
        );
        assert!(body.get("email").is_none());
        assert_eq!(body["externalId"], "ord-1");
    }

    #[test]
    fn settings_are_checked() {
        let ti = TestInvite::new(
            VendorClient::new(Duration::from_secs(1)),
            Duration::from_secs(60),
        );
        assert!(ti
            .validate_account(
                &json!({"token": "t"}),
                &json!({"auth_header": "X-Auth-Token", "auth_scheme": ""})
            )
            .is_ok());
        assert!(ti.validate_account(&json!({}), &json!({})).is_err());
        assert!(ti
            .validate_account(
                &json!({"token": "t"}),
                &json!({"auth_header": "bad header"})
            )
            .is_err());
    }
}
