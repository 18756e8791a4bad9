//! The sandbox provider: a simulated vendor so integrators can run the whole flow without a
//! vendor account.
//!
//! - Packages: a fixed list.
//! - An order's `test_url` is a page served by the gateway (`/sandbox/tests/{token}`) where a
//!   person starts the test and submits a score.
//! - Setting `auto_complete_after` (e.g. `2s`) completes tests by themselves; the candidate's
//!   email steers the outcome: a local part (or a `+tag`) starting with `pass`, `fail`,
//!   `expire` or `cancel` gives that outcome, `refuse` makes the invitation itself fail like a
//!   vendor 400, anything else completes with a score of 75.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::{
    AccountContext, Invitation, InvitationOrigin, OrderRef, PackagePage, PackageQuery, PlaceOrder,
    Provider, ProviderError, ProviderErrorDetail, ProviderKind,
};
use crate::domain::{AssessmentPackage, OrderRequest, OrderStatus, VendorOutcome};

/// Path of the candidate page, below `PUBLIC_URL`.
pub const TEST_PAGE_PATH: &str = "/sandbox/tests";

/// A fixed sandbox package and the day it last changed.
struct FixedPackage {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    updated: (i32, u32, u32),
}

const PACKAGES: [FixedPackage; 5] = [
    FixedPackage {
        id: "sandbox-coding",
        name: "Coding (sandbox)",
        description: "A simulated programming test with a score from 0 to 100.",
        updated: (2025, 1, 10),
    },
    FixedPackage {
        id: "sandbox-cognitive",
        name: "Cognitive ability (sandbox)",
        description: "A simulated reasoning test.",
        updated: (2025, 3, 2),
    },
    FixedPackage {
        id: "sandbox-english",
        name: "English proficiency (sandbox)",
        description: "A simulated language test.",
        updated: (2025, 5, 20),
    },
    FixedPackage {
        id: "sandbox-personality",
        name: "Personality (sandbox)",
        description: "A simulated personality questionnaire.",
        updated: (2025, 8, 14),
    },
    FixedPackage {
        id: "sandbox-typing",
        name: "Typing speed (sandbox)",
        description: "A simulated typing test.",
        updated: (2025, 11, 1),
    },
];

/// How a sandbox test ends, steered by the candidate's email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steering {
    Pass,
    Fail,
    Expire,
    Cancel,
    Refuse,
    Complete,
}

impl Steering {
    pub fn from_email(email: &str) -> Self {
        let local = email
            .split('@')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let tags: Vec<&str> = local.split('+').collect();
        let has = |word: &str| tags.iter().any(|t| t.starts_with(word));
        if has("refuse") {
            Self::Refuse
        } else if has("expire") {
            Self::Expire
        } else if has("cancel") {
            Self::Cancel
        } else if has("fail") {
            Self::Fail
        } else if has("pass") {
            Self::Pass
        } else {
            Self::Complete
        }
    }

    fn outcome(self, invited_at: DateTime<Utc>, now: DateTime<Utc>) -> VendorOutcome {
        let completed = |score: f64, passed: Option<bool>| VendorOutcome {
            score_percent: Some(score),
            passed,
            start_date: Some(invited_at),
            submission_date: Some(now),
            summary: Some(format!(
                "Sandbox test completed automatically with {score}%"
            )),
            ..VendorOutcome::status_only(
                OrderStatus::Completed,
                json!({"status": "auto_completed", "score": score}),
            )
        };
        match self {
            Self::Pass => completed(90.0, Some(true)),
            Self::Fail => completed(20.0, Some(false)),
            Self::Complete | Self::Refuse => completed(75.0, None),
            Self::Expire => {
                VendorOutcome::status_only(OrderStatus::Expired, json!({"status": "expired"}))
            }
            Self::Cancel => {
                VendorOutcome::status_only(OrderStatus::Cancelled, json!({"status": "cancelled"}))
            }
        }
    }
}

/// The outcome of a test a person submitted on the sandbox page.
pub fn submitted_outcome(
    score: f64,
    started_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> VendorOutcome {
    VendorOutcome {
        score_percent: Some(score),
        start_date: started_at,
        submission_date: Some(now),
        summary: Some(format!(
            "Sandbox test submitted with {}%",
            crate::domain::format_score(score)
        )),
        ..VendorOutcome::status_only(
            OrderStatus::Completed,
            json!({"status": "submitted", "score": score}),
        )
    }
}

pub struct SandboxProvider {
    public_url: String,
}

impl SandboxProvider {
    pub fn new(public_url: &url::Url) -> Self {
        Self {
            public_url: public_url.as_str().trim_end_matches('/').to_string(),
        }
    }

    fn packages() -> impl Iterator<Item = (AssessmentPackage, DateTime<Utc>)> {
        PACKAGES.iter().map(|fixed| {
            let (y, m, d) = fixed.updated;
            let updated = Utc
                .with_ymd_and_hms(y, m, d, 0, 0, 0)
                .single()
                .unwrap_or_default();
            let package = AssessmentPackage {
                id: Some(fixed.id.to_string()),
                remote_id: Some(fixed.id.to_string()),
                name: Some(fixed.name.to_string()),
                description: Some(fixed.description.to_string()),
            };
            (package, updated)
        })
    }

    fn auto_complete_after(account: &AccountContext) -> Option<Duration> {
        account
            .setting_str("auto_complete_after")
            .and_then(|v| crate::config::parse_duration(v).ok())
            .map(|d| d.min(MAX_AUTO_COMPLETE_AFTER))
    }
}

/// The longest `auto_complete_after` an account may set.
const MAX_AUTO_COMPLETE_AFTER: Duration = Duration::from_secs(24 * 3600);

#[async_trait]
impl Provider for SandboxProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Sandbox
    }

    fn validate_account(&self, credentials: &Value, settings: &Value) -> Result<(), String> {
        if !credentials.as_object().is_some_and(|c| c.is_empty()) {
            return Err("credentials: the sandbox takes none; send {}".into());
        }
        match settings.get("auto_complete_after") {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(v)) if crate::domain::patterns::up_to_a_day(v).is_none() => Err(
                "settings.auto_complete_after: at most 1 day, in one unit (e.g. \"2s\", \"10m\")"
                    .into(),
            ),
            Some(Value::String(v)) => match crate::config::parse_duration(v) {
                Ok(d) if d <= MAX_AUTO_COMPLETE_AFTER => Ok(()),
                Ok(_) => Err("settings.auto_complete_after: at most 1 day".into()),
                Err(e) => Err(format!("settings.auto_complete_after: {e}")),
            },
            Some(_) => Err(
                "settings.auto_complete_after: expected a duration string such as \"2s\"".into(),
            ),
        }
    }

    async fn list_packages(
        &self,
        _account: &AccountContext,
        query: &PackageQuery,
    ) -> Result<PackagePage, ProviderError> {
        let offset = match &query.cursor {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .map_err(|_| ProviderError::rejected("next: not a cursor of this account"))?,
        };
        let matching: Vec<AssessmentPackage> = Self::packages()
            .filter(|(_, updated)| query.updated_after.is_none_or(|after| *updated > after))
            .map(|(p, _)| p)
            .collect();
        let end = (offset + query.page_size).min(matching.len());
        let packages = matching.get(offset..end).unwrap_or_default().to_vec();
        let next = (end < matching.len()).then(|| end.to_string());
        Ok(PackagePage { packages, next })
    }

    async fn get_package(
        &self,
        _account: &AccountContext,
        id: &str,
    ) -> Result<AssessmentPackage, ProviderError> {
        Self::packages()
            .map(|(p, _)| p)
            .find(|p| p.id.as_deref() == Some(id))
            .ok_or_else(|| ProviderError::not_found(format!("no package with id '{id}'")))
    }

    fn check_order(
        &self,
        _account: &AccountContext,
        order: &OrderRequest,
    ) -> Result<(), ProviderError> {
        let id = order.package_id().unwrap_or_default();
        if Self::packages().any(|(p, _)| p.id.as_deref() == Some(id)) {
            Ok(())
        } else {
            Err(ProviderError::not_found(format!(
                "package.id: no package with id '{id}'"
            )))
        }
    }

    async fn place_order(
        &self,
        _account: &AccountContext,
        order: &PlaceOrder<'_>,
    ) -> Result<Invitation, ProviderError> {
        if Steering::from_email(order.email) == Steering::Refuse {
            let raw = json!({"error": "candidate_refused", "message": format!("the sandbox refuses to invite {}", order.email)});
            return Err(ProviderError::Rejected {
                message: format!("the vendor refused the invitation of {}", order.email),
                detail: Some(ProviderErrorDetail {
                    status: Some(400),
                    url: Some(format!("{}/sandbox/invitations", self.public_url)),
                    raw: Some(raw),
                    headers: Some(json!({"content-type": "application/json"})),
                }),
            });
        }
        let token = crate::crypto::random_token("sbx_", 24);
        Ok(Invitation {
            test_url: format!("{}{TEST_PAGE_PATH}/{token}", self.public_url),
            remote_id: token,
            provider_data: json!({"package_id": order.package_id}),
            origin: InvitationOrigin::Created,
        })
    }

    async fn fetch_result(
        &self,
        account: &AccountContext,
        order: &OrderRef<'_>,
    ) -> Result<VendorOutcome, ProviderError> {
        let now = crate::domain::now();
        let due = Self::auto_complete_after(account)
            .is_some_and(|d| now >= crate::domain::later(order.invited_at, d));
        if due {
            Ok(Steering::from_email(order.email).outcome(order.invited_at, now))
        } else {
            Ok(VendorOutcome::status_only(
                OrderStatus::Invited,
                json!({"status": "invited"}),
            ))
        }
    }

    async fn cancel(
        &self,
        _account: &AccountContext,
        _order: &OrderRef<'_>,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    /// The sandbox keeps nothing of its own: its test pages read the gateway's order.
    async fn erase_candidate(
        &self,
        _account: &AccountContext,
        _order: &OrderRef<'_>,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    fn parse_callback(&self, _body: &[u8]) -> Result<String, ProviderError> {
        Err(ProviderError::Unsupported {
            message: "the sandbox does not call back; its test page reports results directly"
                .into(),
        })
    }

    fn first_poll_after(
        &self,
        account: &AccountContext,
        _order: &OrderRequest,
    ) -> Option<Duration> {
        Self::auto_complete_after(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn account(settings: Value) -> AccountContext {
        AccountContext {
            id: "a".into(),
            credentials: Secret::new(json!({})),
            settings,
        }
    }

    #[test]
    fn email_steers_the_outcome() {
        assert_eq!(Steering::from_email("fail@example.com"), Steering::Fail);
        assert_eq!(
            Steering::from_email("ada+expired@example.com"),
            Steering::Expire
        );
        assert_eq!(Steering::from_email("PASS.me@example.com"), Steering::Pass);
        assert_eq!(Steering::from_email("refuse@example.com"), Steering::Refuse);
        assert_eq!(Steering::from_email("ada@fail.com"), Steering::Complete);
    }

    #[tokio::test]
    async fn packages_page_through_and_filter_by_update() {
        let sandbox = SandboxProvider::new(&url::Url::parse("http://gw.test").unwrap());
        let acc = account(json!({}));
        let mut query = PackageQuery {
            cursor: None,
            page_size: 2,
            updated_after: None,
        };
        let mut ids = Vec::new();
        loop {
            let page = sandbox.list_packages(&acc, &query).await.unwrap();
            ids.extend(page.packages.into_iter().filter_map(|p| p.id));
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(ids.len(), 5);
        let recent = PackageQuery {
            cursor: None,
            page_size: 25,
            updated_after: Some(Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()),
        };
        let page = sandbox.list_packages(&acc, &recent).await.unwrap();
        assert_eq!(page.packages.len(), 2);
    }

    #[test]
    fn settings_are_validated() {
        let sandbox = SandboxProvider::new(&url::Url::parse("http://gw.test").unwrap());
        assert!(sandbox
            .validate_account(&json!({}), &json!({"auto_complete_after": "2s"}))
            .is_ok());
        assert!(sandbox
            .validate_account(&json!({}), &json!({"auto_complete_after": "soon"}))
            .is_err());
        assert!(sandbox
            .validate_account(&json!({"token": "x"}), &json!({}))
            .is_err());
    }
}
