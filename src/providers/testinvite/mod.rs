//! TestInvite REST v1 (reference/providers.md §2): tasks as packages, temporary (or internal)
//! candidates as invitations, test instances as results, a per-candidate callback (a hint; the
//! instances are re-read before anything is recorded).
//!
//! TestInvite does not document how REST v1 authenticates. Credentials are `{token}`, sent as
//! `{auth_header}: {auth_scheme} {token}` with settings `auth_header` (default `Authorization`) and
//! `auth_scheme` (default `Bearer`; empty sends the bare token). Other settings: `lang`.

mod candidates;
mod instances;
mod listing;

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use super::{
    http::{Call, VendorClient},
    path_segment, require_string, vendor_id, AccountContext, Invitation, InvitationOrigin,
    OrderRef, PackagePage, PackageQuery, PlaceOrder, Provider, ProviderError, ProviderKind,
};
use crate::domain::{AssessmentPackage, OrderRequest, VendorOutcome};
use candidates::{is_duplicate_uniq_id, Duplicate};
pub use instances::instance_status;

pub const DEFAULT_BASE_URL: &str = "https://www.testinvite.com";
const API: &str = "api/integration/rest/v1";

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
    vendor_id(value)
}

/// What a REST v1 call does, from its method and path (`tasks/{id}/candidates?…`), for the
/// metrics: a fixed name, never an id.
fn operation_of(method: &Method, path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["tasks"]) => "list_tasks",
        ("GET", ["tasks", _]) => "get_task",
        ("POST", ["tasks", _, "candidates"]) => "create_candidate",
        ("GET", ["tasks", _, "candidates"]) => "list_candidates",
        ("DELETE", ["tasks", _, "candidates", _]) => "delete_candidate",
        ("GET", ["tasks", _, "test-instances"]) => "list_test_instances",
        _ => "other",
    }
}

/// A task id as the path segment of a vendor URL.
fn task_segment(id: &str) -> Result<String, ProviderError> {
    path_segment(id, "package.id")
}

/// Whether an order asks for an internal candidate (a TestInvite user) through `passthrough`.
fn is_internal(request: &OrderRequest) -> bool {
    request
        .passthrough
        .as_ref()
        .and_then(|p| p.get("kind"))
        .and_then(Value::as_str)
        == Some("internal-candidate")
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
        // A final newline is allowed by the document's pattern (`domain::patterns`), not in a
        // header name.
        let header = account
            .setting_str("auth_header")
            .map_or("Authorization", |h| h.strip_suffix('\n').unwrap_or(h));
        let scheme = account.setting_str("auth_scheme").unwrap_or("Bearer");
        let token = account.credential("token").unwrap_or_default();
        let value = if scheme.is_empty() {
            token.to_string()
        } else {
            format!("{scheme} {token}")
        };
        let operation = operation_of(&method, path);
        Call::new(
            method,
            format!("{}/{API}/{path}", account.base_url(DEFAULT_BASE_URL)),
        )
        .header(header, value)
        .labelled("testinvite", operation)
    }

    async fn get(&self, account: &AccountContext, path: &str) -> Result<Value, ProviderError> {
        Ok(self
            .http
            .send(&Self::call(account, Method::GET, path))
            .await?
            .ok()?
            .body)
    }

    /// The invitation of a candidate object (a create answer or a list item) of `task` (its
    /// path segment).
    async fn invitation_from(
        &self,
        account: &AccountContext,
        task: (&str, &str),
        candidate: &Value,
        order_id: &str,
        origin: InvitationOrigin,
    ) -> Result<Invitation, ProviderError> {
        let (task_id, task) = task;
        let remote_id = text(&candidate["candidateId"])
            .ok_or_else(|| unreadable("the candidate has no candidateId"))?;
        let mut link = candidate["directAccessUrl"].as_str().map(str::to_string);
        if link.is_none() {
            if let Some(code) = candidate["invitationCode"].as_str() {
                link = self
                    .direct_access_url(account, task, &remote_id, code)
                    .await?;
            }
            if link.is_none() && candidate["kind"] != "user" {
                tracing::warn!(candidate = %remote_id, "TestInvite shows no directAccessUrl for the new candidate; the order has no test link");
            }
        }
        Ok(Invitation {
            remote_id,
            // Internal candidates (kind "user") have no direct link: they log in with their account.
            test_url: link.unwrap_or_default(),
            provider_data: json!({"task_id": task_id, "invitation_code": candidate["invitationCode"], "kind": candidate["kind"], "uniq_id": order_id}),
            origin,
        })
    }

    /// A task, read directly (`GET /tasks/{id}`); the object may come bare or as `{task: …}`.
    async fn task(
        &self,
        account: &AccountContext,
        id: &str,
        mode: &str,
    ) -> Result<Value, ProviderError> {
        let body = self
            .get(account, &format!("tasks/{}?mode={mode}", task_segment(id)?))
            .await?;
        let task = if body["task"].is_object() {
            body["task"].clone()
        } else {
            body
        };
        if text(&task["taskId"]).as_deref() != Some(id) {
            return Err(unreadable("the task read is not the one asked for"));
        }
        Ok(task)
    }

    /// How many active steps a task has, from its detailed read (cached).
    async fn active_steps(
        &self,
        account: &AccountContext,
        id: &str,
    ) -> Result<usize, ProviderError> {
        let key = format!("{}:{id}", account.id);
        if let Some(steps) = self.task_steps.lock().await.get(&key) {
            return Ok(*steps);
        }
        let task = self.task(account, id, "detailed").await?;
        // Without its steps the task's completion cannot be told: an error, not a guess of one.
        let steps = task["steps"]
            .as_array()
            .ok_or_else(|| unreadable("the detailed task has no steps"))?
            .iter()
            .filter(|s| s["active"] != Value::Bool(false))
            .count()
            .max(1);
        self.task_steps.lock().await.insert(key, steps);
        Ok(steps)
    }

    fn candidate_body(account: &AccountContext, order: &PlaceOrder<'_>) -> Value {
        let request = order.request;
        let passthrough = request.passthrough.clone().unwrap_or_default();
        let mut body = Map::new();
        if is_internal(request) {
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
        let valid = crate::domain::patterns::header_name(header)
            .is_some_and(|h| reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_ok());
        if !valid {
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
        let not_found = || ProviderError::not_found(format!("no TestInvite task with id '{id}'"));
        let task = match self.task(account, id, "basic").await {
            Ok(task) => task,
            Err(ProviderError::NotFound { .. } | ProviderError::Rejected { .. }) => {
                return Err(not_found())
            }
            Err(other) => return Err(other),
        };
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
        let internal_id = order
            .passthrough
            .as_ref()
            .and_then(|p| p.get("id"))
            .and_then(Value::as_str);
        if is_internal(order) && internal_id.is_none() {
            return Err(ProviderError::rejected(
                "passthrough.id: an internal-candidate needs the TestInvite user id",
            ));
        }
        task_segment(order.package_id().unwrap_or_default()).map(|_| ())
    }

    async fn place_order(
        &self,
        account: &AccountContext,
        order: &PlaceOrder<'_>,
    ) -> Result<Invitation, ProviderError> {
        let task = task_segment(order.package_id)?;
        let call = Self::call(account, Method::POST, &format!("tasks/{task}/candidates"))
            .json(Self::candidate_body(account, order));
        let reply = self.http.send(&call).await?;
        let task_ids = (order.package_id, task.as_str());
        if reply.is_success() {
            return self
                .invitation_from(
                    account,
                    task_ids,
                    &reply.body,
                    order.order_id,
                    InvitationOrigin::Created,
                )
                .await;
        }
        if !is_duplicate_uniq_id(&reply) {
            return Err(reply.error());
        }
        // This order's candidate exists already (a retry after a lost answer), or, for an internal
        // candidate, the user is in the task already: find which candidate it is.
        let wanted = Duplicate {
            task: &task,
            email: order.email,
            order_id: order.order_id,
            internal: is_internal(order.request),
        };
        let (candidate, finished) = self.duplicate_candidate(account, &wanted, &reply).await?;
        tracing::info!(
            order_id = order.order_id,
            "TestInvite refused a duplicate uniqId; the order takes the existing candidate"
        );
        self.invitation_from(
            account,
            task_ids,
            &candidate,
            order.order_id,
            InvitationOrigin::Existing { finished },
        )
        .await
    }

    async fn fetch_result(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<VendorOutcome, ProviderError> {
        let task = task_segment(order.package_id)?;
        let listing = self
            .candidate_instances(account, &task, order.remote_id)
            .await?;
        if !listing.complete {
            tracing::warn!(order_id = order.order_id, candidate = order.remote_id, read = listing.read,
                "TestInvite's test-instance list did not end within the pages read; the order is not completed from it");
        }
        let steps = if listing.items.is_empty() {
            1
        } else {
            self.active_steps(account, order.package_id).await?
        };
        Ok(instances::outcome(&listing, steps))
    }

    async fn cancel(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<(), ProviderError> {
        let path = format!(
            "tasks/{}/candidates/{}",
            task_segment(order.package_id)?,
            path_segment(order.remote_id, "remote_id")?
        );
        let reply = self
            .http
            .send(&Self::call(account, Method::DELETE, &path))
            .await?;
        if reply.status == StatusCode::FORBIDDEN {
            return Err(ProviderError::conflict(
                "TestInvite only deletes candidates who never logged in; this candidate already did",
            ));
        }
        reply.ok().map(|_| ())
    }

    /// TestInvite deletes a candidate only while they never logged in (403 otherwise, said as a
    /// conflict by `cancel`); one who did must be erased in TestInvite itself.
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
    fn callbacks_name_the_candidate() {
        let ti = TestInvite::new(
            VendorClient::new(Duration::from_secs(1)).unwrap(),
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
            VendorClient::new(Duration::from_secs(1)).unwrap(),
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
