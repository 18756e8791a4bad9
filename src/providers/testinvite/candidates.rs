//! A task's candidates (reference/providers.md §2.5): the test link of a new candidate, and the
//! candidate TestInvite already has when it refuses a duplicate `uniqId`.
//!
//! The list's `code` and `email` filters are documented (exact, case-sensitive), but a candidate
//! is still taken only by its own id, or, after a duplicate refusal, as the one candidate that
//! can carry the order's `uniqId`.

use serde_json::Value;

use super::{text, TestInvite};
use crate::providers::{http::Reply, query_value, AccountContext, FinishedAttempt, ProviderError};

/// Which candidate a duplicate refusal is about.
pub(super) struct Duplicate<'a> {
    /// The task's path segment.
    pub task: &'a str,
    pub email: &'a str,
    /// The gateway order id: the `uniqId` and `externalId` of a temporary candidate.
    pub order_id: &'a str,
    /// An internal candidate: its `uniqId` is the user's name, one candidate per user and task.
    pub internal: bool,
}

/// The ids a candidate object may show of the caller's side (neither is documented in the
/// candidate objects; when present they tell candidates apart).
fn own_keys(candidate: &Value) -> Vec<String> {
    [
        &candidate["externalId"],
        &candidate["uniqId"],
        &candidate["tracking"]["uniqId"],
    ]
    .into_iter()
    .filter_map(text)
    .collect()
}

/// TestInvite's refusal of a duplicate `tracking.uniqId`: TestInvite documents the rule but not
/// the answer, so the refusal must name the field (`uniqId`), not merely say "duplicate".
pub(super) fn is_duplicate_uniq_id(reply: &Reply) -> bool {
    let said: String = reply
        .vendor_message()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(reply.status.as_u16(), 400 | 403 | 409) && said.contains("uniqid")
}

/// Narrows a duplicate refusal's same-email candidates down to the one that is the order's.
pub(super) fn pick_duplicate<'a>(
    wanted: &Duplicate<'_>,
    candidates: &'a [Value],
) -> Result<&'a Value, usize> {
    let kind = if wanted.internal { "user" } else { "temp" };
    let mut same: Vec<&Value> = candidates
        .iter()
        .filter(|c| {
            c["email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(wanted.email))
        })
        .filter(|c| c["kind"].as_str().is_none_or(|k| k == kind))
        .collect();
    if !wanted.internal {
        if let Some(own) = same
            .iter()
            .find(|c| own_keys(c).iter().any(|k| k == wanted.order_id))
        {
            return Ok(own);
        }
        // A candidate that shows another order's id is not this one.
        same.retain(|c| own_keys(c).is_empty());
    }
    match same.as_slice() {
        [one] => Ok(one),
        others => Err(others.len()),
    }
}

impl TestInvite {
    /// The test link of the candidate `candidate_id`, read from the list by its invitation code
    /// (the create answer is documented without it).
    pub(super) async fn direct_access_url(
        &self,
        account: &AccountContext,
        task: &str,
        candidate_id: &str,
        code: &str,
    ) -> Result<Option<String>, ProviderError> {
        let path = format!(
            "tasks/{task}/candidates?mode=basic&code={}",
            query_value(code)
        );
        let listing = self
            .list_all(account, &path, "candidates", |c| {
                text(&c["candidateId"]).as_deref() == Some(candidate_id)
            })
            .await?;
        Ok(listing
            .items
            .first()
            .and_then(|c| c["directAccessUrl"].as_str())
            .map(str::to_string))
    }

    /// The candidate a duplicate refusal is about, and whether its attempt is already over (for
    /// an internal candidate, who may have been invited by another order or by hand).
    pub(super) async fn duplicate_candidate(
        &self,
        account: &AccountContext,
        wanted: &Duplicate<'_>,
        refusal: &Reply,
    ) -> Result<(Value, Option<FinishedAttempt>), ProviderError> {
        let path = format!(
            "tasks/{}/candidates?mode=detailed&email={}",
            wanted.task,
            query_value(wanted.email)
        );
        let listing = self
            .list_all(account, &path, "candidates", |_| true)
            .await?;
        let candidate = match pick_duplicate(wanted, &listing.items) {
            Ok(candidate) => candidate.clone(),
            Err(0) if !listing.complete => {
                return Err(ProviderError::Unavailable {
                    message: format!(
                        "TestInvite refused a duplicate uniqId; {} is not among the first {} candidates of the task",
                        wanted.email, listing.read
                    ),
                })
            }
            Err(0) => {
                return Err(ProviderError::Rejected {
                    message: format!(
                        "TestInvite refused a duplicate uniqId, but the task has no candidate with email {}",
                        wanted.email
                    ),
                    detail: Some(refusal.detail()),
                })
            }
            Err(count) => {
                return Err(ProviderError::Conflict {
                    message: format!(
                        "TestInvite refused a duplicate uniqId and the task has {count} candidates with email {}; the gateway cannot tell which is this order's",
                        wanted.email
                    ),
                    detail: Some(refusal.detail()),
                })
            }
        };
        let id = text(&candidate["candidateId"])
            .ok_or_else(|| super::unreadable("the candidate has no candidateId"))?;
        let finished = if wanted.internal
            && self
                .has_completed_sessions(account, wanted.task, &id)
                .await?
        {
            Some(FinishedAttempt {
                state: "has COMPLETE test sessions".into(),
                detail: Some(refusal.detail()),
            })
        } else {
            None
        };
        Ok((candidate, finished))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wanted(internal: bool) -> Duplicate<'static> {
        Duplicate {
            task: "t",
            email: "ada@example.com",
            order_id: "ord-1",
            internal,
        }
    }

    #[test]
    fn one_same_email_candidate_is_the_order_s() {
        let list = [
            json!({"candidateId": "c1", "kind": "temp", "email": "bob@example.com"}),
            json!({"candidateId": "c2", "kind": "temp", "email": "Ada@example.com"}),
        ];
        assert_eq!(
            pick_duplicate(&wanted(false), &list).unwrap()["candidateId"],
            "c2"
        );
    }

    #[test]
    fn several_same_email_candidates_are_told_apart_only_by_their_own_ids() {
        let list = [
            json!({"candidateId": "c1", "kind": "temp", "email": "ada@example.com"}),
            json!({"candidateId": "c2", "kind": "temp", "email": "ada@example.com"}),
        ];
        assert_eq!(pick_duplicate(&wanted(false), &list), Err(2));
        let shown = [
            json!({"candidateId": "c1", "kind": "temp", "email": "ada@example.com", "externalId": "ord-0"}),
            json!({"candidateId": "c2", "kind": "temp", "email": "ada@example.com", "externalId": "ord-1"}),
        ];
        assert_eq!(
            pick_duplicate(&wanted(false), &shown).unwrap()["candidateId"],
            "c2"
        );
        let other = [
            json!({"candidateId": "c1", "kind": "temp", "email": "ada@example.com", "externalId": "ord-0"}),
            json!({"candidateId": "c2", "kind": "temp", "email": "ada@example.com"}),
        ];
        assert_eq!(
            pick_duplicate(&wanted(false), &other).unwrap()["candidateId"],
            "c2"
        );
    }

    #[test]
    fn an_internal_candidate_is_the_user_s_one() {
        let list = [
            json!({"candidateId": "c1", "kind": "temp", "email": "ada@example.com"}),
            json!({"candidateId": "u1", "kind": "user", "email": "ada@example.com", "externalId": "ord-0"}),
        ];
        assert_eq!(
            pick_duplicate(&wanted(true), &list).unwrap()["candidateId"],
            "u1"
        );
    }
}
