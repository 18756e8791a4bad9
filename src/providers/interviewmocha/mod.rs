//! InterviewMocha / iMocha v3 (reference/providers.md §3): `X-API-KEY`, tests (and their test
//! links) as packages, invitations as orders, a report per invitation as the result, and a
//! callback per invitation (a hint; the report is re-read before anything is recorded).
//!
//! Credentials: `{api_key}`. Settings: `test_link_id` (default link for packages given as a bare
//! `testId`), `redirect_url`, `send_email` (default false), `hide_instruction`,
//! `disable_mandatory_fields`, `list_test_links` (list each test's links as packages too),
//! `reattempt` (default false: a new order that iMocha answers with a finished attempt is refused;
//! true asks iMocha for a fresh attempt instead).

mod errors;
mod invite;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{
    http::{Call, VendorClient},
    optional_bool, path_segment, require_string, vendor_id, AccountContext, Invitation, OrderRef,
    PackagePage, PackageQuery, PlaceOrder, Provider, ProviderError, ProviderKind,
};
use crate::domain::{
    AssessmentPackage, Attachment, OpenEnum, OrderRequest, OrderStatus, VendorOutcome,
};
use errors::checked;

/// The largest `test_link_id` setting, as the document states it (18 digits).
pub const MAX_TEST_LINK_ID: u64 = 999_999_999_999_999_999;

/// The `test_link_id` setting as iMocha's id: a whole number (JSON may write it `297090.0`) or a
/// string of digits.
fn test_link_id(value: &Value) -> Option<String> {
    let whole = |n: &serde_json::Number| {
        n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=MAX_TEST_LINK_ID as f64).contains(f))
                .map(|f| f as u64)
        })
    };
    match value {
        Value::Number(n) => whole(n)
            .filter(|n| *n <= MAX_TEST_LINK_ID)
            .map(|n| n.to_string()),
        Value::String(s) => crate::domain::patterns::digits(s).map(str::to_string),
        _ => None,
    }
}

pub const DEFAULT_BASE_URL: &str = "https://apiv3.imocha.io";

pub struct InterviewMocha {
    http: VendorClient,
    poll_interval: Duration,
}

/// A package id: `testId` or `testId:testLinkId`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PackageId {
    test: String,
    link: Option<String>,
}

impl PackageId {
    fn parse(id: &str) -> Option<Self> {
        let numeric =
            |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
        match id.split_once(':') {
            Some((test, link)) if numeric(test) && numeric(link) => Some(Self {
                test: test.into(),
                link: Some(link.into()),
            }),
            None if numeric(id) => Some(Self {
                test: id.into(),
                link: None,
            }),
            _ => None,
        }
    }
}

fn unreadable(what: &str) -> ProviderError {
    ProviderError::Unavailable {
        message: format!("InterviewMocha's answer could not be read: {what}"),
    }
}

/// What a v3 call does, from its path, for the metrics: a fixed name, never an id.
fn operation_of(path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["tests"] => "list_tests",
        ["tests", _] => "get_test",
        ["tests", _, "testlinks"] => "list_test_links",
        ["tests", _, "invite"] | ["tests", _, "testlinks", _, "invite"] => "invite",
        ["reports", _] => "report",
        ["invitations", _, "cancel"] => "cancel",
        ["invitations", _, "reattempt"] => "reattempt",
        _ => "other",
    }
}

/// A key of `object` matched case-insensitively (iMocha's docs and clients disagree on casing).
fn field<'a>(object: &'a Value, name: &str) -> &'a Value {
    object
        .as_object()
        .and_then(|map| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null)
}

/// iMocha's invitation states in gateway terms, matched case- and space-insensitively.
pub fn status_of(vendor_status: &str) -> OrderStatus {
    let key: String = vendor_status
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match key.as_str() {
        "inprogress" | "started" => OrderStatus::InProgress,
        "complete" | "completed" | "testleft" | "terminated" => OrderStatus::Completed,
        "expired" => OrderStatus::Expired,
        "cancelled" | "canceled" => OrderStatus::Cancelled,
        _ => OrderStatus::Invited,
    }
}

fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    let text = value.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        // `AttemptedOnUtc` comes without a zone: it is UTC.
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

fn flag(account: &AccountContext, key: &str) -> u8 {
    u8::from(account.setting_bool(key) == Some(true))
}

impl InterviewMocha {
    pub fn new(http: VendorClient, poll_interval: Duration) -> Self {
        Self {
            http,
            poll_interval,
        }
    }

    fn call(account: &AccountContext, method: Method, path: &str) -> Call {
        let operation = operation_of(path);
        Call::new(
            method,
            format!("{}/v3/{path}", account.base_url(DEFAULT_BASE_URL)),
        )
        .header(
            "x-api-key",
            account.credential("api_key").unwrap_or_default(),
        )
        .labelled("interviewmocha", operation)
    }

    async fn test_links(
        &self,
        account: &AccountContext,
        test_id: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        let reply = checked(
            self.http
                .send(&Self::call(
                    account,
                    Method::GET,
                    &format!("tests/{test_id}/testlinks"),
                ))
                .await?,
        )?;
        Ok(reply.body["testLinks"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    fn link_package(
        test_id: &str,
        test_name: Option<&str>,
        link: &Value,
    ) -> Option<AssessmentPackage> {
        let link_id = vendor_id(&link["testLinkId"])?;
        let id = format!("{test_id}:{link_id}");
        let link_name = link["testLinkName"].as_str().unwrap_or("test link");
        Some(AssessmentPackage {
            remote_id: Some(id.clone()),
            id: Some(id),
            name: Some(match test_name {
                Some(test) => format!("{test} — {link_name}"),
                None => link_name.to_string(),
            }),
            description: link["invitationType"]
                .as_str()
                .map(|t| format!("InterviewMocha test link ({t} invitation)")),
        })
    }
}

fn test_package(test: &Value) -> Option<AssessmentPackage> {
    let id = vendor_id(&test["testId"])?;
    let name = test["testName"]
        .as_str()
        .or_else(|| test["name"].as_str())
        .map(str::to_string);
    let description = match (test["status"].as_str(), test["duration"].as_u64()) {
        (Some(status), Some(minutes)) => {
            Some(format!("InterviewMocha test ({status}, {minutes} min)"))
        }
        (Some(status), None) => Some(format!("InterviewMocha test ({status})")),
        _ => None,
    };
    Some(AssessmentPackage {
        remote_id: Some(id.clone()),
        id: Some(id),
        name,
        description,
    })
}

#[async_trait]
impl Provider for InterviewMocha {
    fn kind(&self) -> ProviderKind {
        ProviderKind::InterviewMocha
    }

    fn validate_account(&self, credentials: &Value, settings: &Value) -> Result<(), String> {
        require_string(credentials, "credentials", "api_key")?;
        for key in [
            "send_email",
            "hide_instruction",
            "disable_mandatory_fields",
            "list_test_links",
            "reattempt",
        ] {
            optional_bool(settings, key)?;
        }
        match settings.get("test_link_id") {
            None | Some(Value::Null) => {}
            Some(v) if test_link_id(v).is_some() => {}
            Some(_) => {
                return Err("settings.test_link_id: expected a test link id (a number)".into())
            }
        }
        match settings.get("redirect_url") {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(url))
                if crate::domain::patterns::http_url(url)
                    .is_some_and(|u| url::Url::parse(u).is_ok()) =>
            {
                Ok(())
            }
            Some(_) => Err("settings.redirect_url: expected an absolute URL".into()),
        }
    }

    async fn list_packages(
        &self,
        account: &AccountContext,
        query: &PackageQuery,
    ) -> Result<PackagePage, ProviderError> {
        let page = super::page_cursor(&query.cursor)?;
        let path = format!("tests?pageNo={page}&pageSize={}", query.page_size);
        let reply = checked(
            self.http
                .send(&Self::call(account, Method::GET, &path))
                .await?,
        )?;
        let tests = reply.body["tests"].as_array().cloned().unwrap_or_default();
        let mut packages = Vec::new();
        for test in &tests {
            let Some(package) = test_package(test) else {
                continue;
            };
            let test_id = package.id.clone().unwrap_or_default();
            let test_name = package.name.clone();
            packages.push(package);
            if account.setting_bool("list_test_links") == Some(true) {
                for link in self.test_links(account, &test_id).await? {
                    packages.extend(Self::link_package(&test_id, test_name.as_deref(), &link));
                }
            }
        }
        // iMocha does not say whether `count` is the page's or the total: a full page may have more.
        let next =
            (tests.len() >= query.page_size && !tests.is_empty()).then(|| (page + 1).to_string());
        Ok(PackagePage { packages, next })
    }

    async fn get_package(
        &self,
        account: &AccountContext,
        id: &str,
    ) -> Result<AssessmentPackage, ProviderError> {
        let not_found = || {
            ProviderError::not_found(format!(
                "no InterviewMocha test or test link with id '{id}'"
            ))
        };
        let package = PackageId::parse(id).ok_or_else(not_found)?;
        let reply = checked(
            self.http
                .send(&Self::call(
                    account,
                    Method::GET,
                    &format!("tests/{}", package.test),
                ))
                .await?,
        )?;
        let test = if reply.body["test"].is_object() {
            &reply.body["test"]
        } else {
            &reply.body
        };
        let test_package = test_package(test).unwrap_or(AssessmentPackage {
            id: Some(package.test.clone()),
            remote_id: Some(package.test.clone()),
            name: None,
            description: None,
        });
        let Some(link_id) = &package.link else {
            return Ok(test_package);
        };
        let links = self.test_links(account, &package.test).await?;
        let link = links
            .iter()
            .find(|l| vendor_id(&l["testLinkId"]).as_deref() == Some(link_id.as_str()))
            .ok_or_else(not_found)?;
        Self::link_package(&package.test, test_package.name.as_deref(), link).ok_or_else(not_found)
    }

    fn check_order(
        &self,
        account: &AccountContext,
        order: &OrderRequest,
    ) -> Result<(), ProviderError> {
        let id = order.package_id().unwrap_or_default();
        if PackageId::parse(id).is_none() {
            return Err(ProviderError::rejected(format!(
                "package.id: InterviewMocha packages are a testId or testId:testLinkId, not '{id}'"
            )));
        }
        if order.full_name().is_none()
            && account.setting_bool("disable_mandatory_fields") != Some(true)
        {
            return Err(ProviderError::rejected(
                "candidate.first_name: InterviewMocha needs the candidate's name (first_name and/or last_name)",
            ));
        }
        Ok(())
    }

    async fn place_order(
        &self,
        account: &AccountContext,
        order: &PlaceOrder<'_>,
    ) -> Result<Invitation, ProviderError> {
        self.invite(account, order).await
    }

    async fn fetch_result(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<VendorOutcome, ProviderError> {
        let path = format!(
            "reports/{}?reportType=1",
            path_segment(order.remote_id, "remote_id")?
        );
        let reply = self
            .http
            .send(&Self::call(account, Method::GET, &path))
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            // No report before the candidate starts.
            return Ok(VendorOutcome::status_only(
                OrderStatus::Invited,
                json!({"status": "no report yet"}),
            ));
        }
        let report = checked(reply)?.body;
        if vendor_id(field(&report, "testInvitationId"))
            .is_some_and(|reported| reported != order.remote_id)
        {
            return Err(unreadable("the report is of another invitation"));
        }
        let vendor_status = report["status"].as_str().unwrap_or_default().to_string();
        let status = status_of(&vendor_status);
        let source = json!({
            "status": vendor_status,
            "scorePercentage": report["scorePercentage"],
            "candidatePoints": report["candidatePoints"],
            "totalTestPoints": report["totalTestPoints"],
            "performanceCategory": field(&report, "performanceCategory"),
            "sections": report["sections"],
        });
        if status != OrderStatus::Completed {
            return Ok(VendorOutcome {
                start_date: parse_time(&report["attemptedOn"]),
                ..VendorOutcome::status_only(status, source)
            });
        }
        let pdf = report["pdfReportUrl"].as_str().filter(|u| !u.is_empty());
        let category = field(&report, "performanceCategory").as_str();
        let test_name = report["testName"].as_str();
        let summary = match (test_name, category) {
            (Some(test), Some(category)) => Some(format!("{test}: {category} ({vendor_status})")),
            (Some(test), None) => Some(format!("{test}: {vendor_status}")),
            _ => None,
        };
        Ok(VendorOutcome {
            score_percent: report["scorePercentage"].as_f64(),
            start_date: parse_time(&report["attemptedOn"]),
            summary,
            result_url: pdf.map(str::to_string),
            attachments: pdf
                .map(|url| Attachment {
                    url: Some(url.to_string()),
                    content_type: Some(OpenEnum::new("pdf", "application/pdf")),
                })
                .into_iter()
                .collect(),
            ..VendorOutcome::status_only(status, source)
        })
    }

    async fn cancel(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<(), ProviderError> {
        let path = format!(
            "invitations/{}/cancel",
            path_segment(order.remote_id, "remote_id")?
        );
        let reply = self
            .http
            .send(&Self::call(account, Method::POST, &path))
            .await?;
        let refused = |reason: String| {
            // Only Pending invitations can be cancelled; iMocha says why not.
            Err(ProviderError::Conflict {
                message: format!("InterviewMocha refused to cancel: {reason}"),
                detail: Some(reply.detail()),
            })
        };
        if reply.status == StatusCode::BAD_REQUEST {
            return refused(
                reply
                    .vendor_message()
                    .unwrap_or_else(|| "the invitation is no longer pending".into()),
            );
        }
        match checked(reply.clone()) {
            // iMocha's 403 "operation on resource is invalid": the invitation's state forbids it.
            Err(ProviderError::Rejected { message, .. }) => refused(message),
            other => other.map(|_| ()),
        }
    }

    fn parse_callback(&self, body: &[u8]) -> Result<String, ProviderError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ProviderError::rejected(format!("callback body is not JSON: {e}")))?;
        vendor_id(field(&value, "TestInvitationId"))
            .ok_or_else(|| ProviderError::rejected("callback body has no TestInvitationId"))
    }

    fn first_poll_after(
        &self,
        _account: &AccountContext,
        _order: &OrderRequest,
    ) -> Option<Duration> {
        // iMocha calls back; polling is the fallback for callbacks that never came.
        Some(self.poll_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_case_and_space_insensitively() {
        for (text, status) in [
            ("Pending", OrderStatus::Invited),
            ("In Progress", OrderStatus::InProgress),
            ("inprogress", OrderStatus::InProgress),
            ("Complete", OrderStatus::Completed),
            ("Test Left", OrderStatus::Completed),
            ("TestLeft", OrderStatus::Completed),
            ("Terminated", OrderStatus::Completed),
            ("Expired", OrderStatus::Expired),
            ("Canceled", OrderStatus::Cancelled),
            ("cancelled", OrderStatus::Cancelled),
        ] {
            assert_eq!(status_of(text), status, "{text}");
        }
    }

    #[test]
    fn package_ids_are_a_test_or_a_test_link() {
        assert_eq!(
            PackageId::parse("1134601"),
            Some(PackageId {
                test: "1134601".into(),
                link: None
            })
        );
        assert_eq!(
            PackageId::parse("303076:201044"),
            Some(PackageId {
                test: "303076".into(),
                link: Some("201044".into())
            })
        );
        assert_eq!(PackageId::parse("abc"), None);
        assert_eq!(PackageId::parse("1:"), None);
    }

    #[test]
    fn callbacks_name_their_invitation_in_any_casing() {
        let mocha = InterviewMocha::new(
            VendorClient::new(Duration::from_secs(1)).unwrap(),
            Duration::from_secs(60),
        );
        assert_eq!(
            mocha
                .parse_callback(br#"{"TestInvitationId": 331469, "Status": "Complete"}"#)
                .unwrap(),
            "331469"
        );
        assert_eq!(
            mocha
                .parse_callback(br#"{"testInvitationId": "7"}"#)
                .unwrap(),
            "7"
        );
        assert!(mocha.parse_callback(b"{}").is_err());
        assert!(mocha.parse_callback(b"<xml/>").is_err());
        assert_eq!(
            parse_time(&json!("2020-10-09T13:21:53"))
                .unwrap()
                .to_rfc3339(),
            "2020-10-09T13:21:53+00:00"
        );
    }
}
