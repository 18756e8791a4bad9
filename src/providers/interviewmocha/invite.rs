//! Inviting a candidate (reference/providers.md §3.4–3.5). iMocha dedupes by itself: inviting the
//! same email on the same test link again answers the existing invitation, whatever its state.
//! So every answer may be an invitation that is already another order's, or an attempt already
//! over (`Complete`, `Test Left`, `Terminated`; `Expired` or `Cancelled` would be reset to
//! `Pending` by iMocha, and are refused too if they ever come back). The answer's `status` tells;
//! when it is missing, the invitation's report does. A finished attempt is refused, or, with the
//! account setting `reattempt`, replaced by a fresh one through iMocha's reattempt API.

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::{errors::checked, field, flag, status_of, unreadable, InterviewMocha, PackageId};
use crate::{
    domain::OrderStatus,
    providers::{
        http::Reply, path_segment, vendor_id, AccountContext, FinishedAttempt, Invitation,
        InvitationOrigin, PlaceOrder, ProviderError,
    },
};

/// Invitation options a caller may set per order through `passthrough` (iMocha's own names).
const PASSTHROUGH_KEYS: [&str; 8] = [
    "redirectUrl",
    "hideInstruction",
    "disableMandatoryFields",
    "stakeholderEmails",
    "startDateTime",
    "endDateTime",
    "timeZoneId",
    "ProctoringMode",
];

/// The reattempt API's names for the schedule options an order may carry.
const REATTEMPT_KEYS: [(&str, &str); 3] = [
    ("startDateTime", "StartDateTime"),
    ("endDateTime", "EndDateTime"),
    ("timeZoneId", "TimeZoneId"),
];

/// Whether an invitation in `state` is an attempt that is over (or no longer usable).
fn is_over(state: &str) -> bool {
    matches!(
        status_of(state),
        OrderStatus::Completed | OrderStatus::Expired | OrderStatus::Cancelled
    )
}

fn send_email(account: &AccountContext) -> &'static str {
    if account.setting_bool("send_email") == Some(true) {
        "yes"
    } else {
        "no"
    }
}

fn invite_body(account: &AccountContext, order: &PlaceOrder<'_>) -> Value {
    let mut body = Map::new();
    body.insert("email".into(), json!(order.email));
    body.insert(
        "name".into(),
        json!(order.request.full_name().unwrap_or_default()),
    );
    if let Some(callback) = &order.callback_url {
        body.insert("callbackUrl".into(), json!(callback));
    }
    if let Some(redirect) = account.setting_str("redirect_url") {
        body.insert("redirectUrl".into(), json!(redirect));
    }
    body.insert("sendEmail".into(), json!(send_email(account)));
    body.insert(
        "hideInstruction".into(),
        json!(flag(account, "hide_instruction")),
    );
    body.insert(
        "disableMandatoryFields".into(),
        json!(flag(account, "disable_mandatory_fields")),
    );
    if let Some(passthrough) = &order.request.passthrough {
        for key in PASSTHROUGH_KEYS {
            if let Some(value) = passthrough.get(key) {
                body.insert(key.into(), value.clone());
            }
        }
    }
    Value::Object(body)
}

fn reattempt_body(account: &AccountContext, order: &PlaceOrder<'_>) -> Value {
    let mut body = Map::new();
    if let Some(callback) = &order.callback_url {
        body.insert("CallbackUrl".into(), json!(callback));
    }
    if let Some(redirect) = account.setting_str("redirect_url") {
        body.insert("RedirectUrl".into(), json!(redirect));
    }
    body.insert(
        "hideInstruction".into(),
        json!(flag(account, "hide_instruction")),
    );
    body.insert("sendEmail".into(), json!(send_email(account)));
    if let Some(passthrough) = &order.request.passthrough {
        for (ours, theirs) in REATTEMPT_KEYS {
            if let Some(value) = passthrough.get(ours) {
                body.insert(theirs.into(), value.clone());
            }
        }
    }
    Value::Object(body)
}

/// The invitation id and test URL of an invite or reattempt answer.
fn invitation_of(reply: &Reply) -> Result<(String, String), ProviderError> {
    let id = vendor_id(field(&reply.body, "testInvitationId"))
        .ok_or_else(|| unreadable("no testInvitationId"))?;
    let url = field(&reply.body, "testUrl")
        .as_str()
        .ok_or_else(|| unreadable("no testUrl"))?
        .to_string();
    Ok((id, url))
}

impl InterviewMocha {
    pub(super) async fn invite(
        &self,
        account: &AccountContext,
        order: &PlaceOrder<'_>,
    ) -> Result<Invitation, ProviderError> {
        let package = PackageId::parse(order.package_id)
            .ok_or_else(|| ProviderError::rejected("package.id: not an InterviewMocha package"))?;
        let link = package.link.clone().or_else(|| {
            account
                .settings
                .get("test_link_id")
                .and_then(super::test_link_id)
        });
        let path = match &link {
            Some(link) => format!("tests/{}/testlinks/{link}/invite", package.test),
            None => format!("tests/{}/invite", package.test),
        };
        let reply = checked(
            self.http
                .send(&Self::call(account, Method::POST, &path).json(invite_body(account, order)))
                .await?,
        )?;
        let (remote_id, test_url) = invitation_of(&reply)?;
        let state = match field(&reply.body, "status").as_str() {
            Some(state) => state.to_string(),
            None => self.report_state(account, &remote_id).await?,
        };
        let provider_data = json!({"test_id": package.test, "test_link_id": link});
        if !is_over(&state) {
            return Ok(Invitation {
                remote_id,
                test_url,
                provider_data,
                origin: InvitationOrigin::Existing { finished: None },
            });
        }
        if account.setting_bool("reattempt") == Some(true) {
            return self
                .reattempt(account, order, &remote_id, provider_data)
                .await;
        }
        Ok(Invitation {
            remote_id,
            test_url,
            provider_data,
            origin: InvitationOrigin::Existing {
                finished: Some(FinishedAttempt {
                    state,
                    detail: Some(reply.detail()),
                }),
            },
        })
    }

    /// An invitation's state from its report: none yet means the candidate has not started.
    async fn report_state(
        &self,
        account: &AccountContext,
        remote_id: &str,
    ) -> Result<String, ProviderError> {
        let path = format!(
            "reports/{}?reportType=1",
            path_segment(remote_id, "remote_id")?
        );
        let reply = self
            .http
            .send(&Self::call(account, Method::GET, &path))
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok("Pending".into());
        }
        let report = checked(reply)?.body;
        Ok(field(&report, "status")
            .as_str()
            .unwrap_or("Pending")
            .to_string())
    }

    /// A fresh attempt for the candidate of the finished invitation `previous` (iMocha's
    /// reattempt API: a new invitation after `Complete` or `Test Left`; while one it made is
    /// still unused, that one again, which may be another order's).
    async fn reattempt(
        &self,
        account: &AccountContext,
        order: &PlaceOrder<'_>,
        previous: &str,
        mut provider_data: Value,
    ) -> Result<Invitation, ProviderError> {
        let path = format!(
            "invitations/{}/reattempt",
            path_segment(previous, "remote_id")?
        );
        let reply = checked(
            self.http
                .send(
                    &Self::call(account, Method::POST, &path).json(reattempt_body(account, order)),
                )
                .await?,
        )?;
        let (remote_id, test_url) = invitation_of(&reply)?;
        provider_data["reattempt_of"] = json!(previous);
        Ok(Invitation {
            remote_id,
            test_url,
            provider_data,
            origin: InvitationOrigin::Existing { finished: None },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_and_unusable_states_are_over() {
        for state in [
            "Complete",
            "Test Left",
            "TestLeft",
            "Terminated",
            "Expired",
            "Cancelled",
        ] {
            assert!(is_over(state), "{state}");
        }
        for state in ["Pending", "In Progress", "Inprogress"] {
            assert!(!is_over(state), "{state}");
        }
    }
}
