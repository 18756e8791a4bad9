//! Finding one candidature in TestGorilla's documented list (reference/providers.md §1.5):
//! `GET /api/assessments/candidature/?assessment=…&ordering=-created&limit=…&offset=…`.
//!
//! TestGorilla documents no read of one candidature and no filter by candidate, so the list is
//! read newest first, page after page, and every item is matched by its own id (or, to resolve a
//! repeated invitation, by email: a candidate takes an assessment once). The walk ends when the
//! item is found, when the list ends, or, for a known candidature, once the list is past the time
//! it was created; it gives up after `MAX_PAGES` pages, which proves nothing either way.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::Value;

use super::{budget, parse_time, TestGorilla};
use crate::providers::{http::Call, query_value, vendor_id, AccountContext, ProviderError};

/// Pages read at most in one walk.
pub(super) const MAX_PAGES: usize = 50;
/// Items asked for per page; TestGorilla may send fewer (its default is 10).
const PAGE_SIZE: usize = 100;

/// The candidature a walk looks for.
pub(super) enum Wanted<'a> {
    /// This order's own candidature, created at `created` (TestGorilla's time) or later.
    Id { id: &'a str, created: DateTime<Utc> },
    /// The candidature of this email at the assessment (there is at most one).
    Email(&'a str),
}

impl Wanted<'_> {
    fn matches(&self, item: &Value) -> bool {
        match self {
            Self::Id { id, .. } => vendor_id(&item["id"]).as_deref() == Some(*id),
            Self::Email(email) => item["email"]
                .as_str()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case(email)),
        }
    }
}

/// What a walk saw.
#[derive(Debug)]
pub(super) enum Lookup {
    /// The candidature, and the URL of the page that showed it.
    Found { candidature: Value, url: String },
    /// The whole list, or all of it newer than the candidature's creation, was read without it.
    Absent,
    /// `MAX_PAGES` pages were read (`read` items) without reaching an answer.
    Unseen { read: usize },
}

/// Whether a page is the list's last: DRF's `next` is null there, or `count` is reached.
fn is_last_page(body: &Value, items: usize, read: usize) -> bool {
    items == 0
        || body.get("next").is_some_and(Value::is_null)
        || body["count"]
            .as_u64()
            .is_some_and(|count| read as u64 >= count)
}

impl TestGorilla {
    pub(super) async fn find_candidature(
        &self,
        account: &AccountContext,
        assessment: &str,
        wanted: &Wanted<'_>,
    ) -> Result<Lookup, ProviderError> {
        let mut read = 0;
        // The time of the last item seen, while the list keeps to its documented order.
        let mut newest_first: Option<Option<DateTime<Utc>>> = Some(None);
        for _ in 0..MAX_PAGES {
            let url = Self::url(
                account,
                &format!(
                    "assessments/candidature/?assessment={}&ordering=-created&limit={PAGE_SIZE}&offset={read}",
                    query_value(assessment)
                ),
            );
            let call = Call::new(Method::GET, url.clone()).budget(
                Self::budget_key(account, "list_candidatures"),
                budget::LIST_CANDIDATURES,
            );
            let body = self.send(account, call).await?.ok()?.body;
            let items = body["results"]
                .as_array()
                .ok_or_else(|| super::unreadable("the candidature list has no results"))?;
            if let Some(found) = items.iter().find(|item| wanted.matches(item)) {
                return Ok(Lookup::Found {
                    candidature: found.clone(),
                    url,
                });
            }
            for created in items.iter().map(|item| parse_time(&item["created"])) {
                if let Some(previous) = newest_first {
                    if matches!((previous, created), (Some(p), Some(c)) if c > p) {
                        tracing::warn!(%assessment, "TestGorilla's candidature list is not newest first as asked (ordering=-created); reading it to the end");
                        newest_first = None;
                    } else {
                        newest_first = Some(created.or(previous));
                    }
                }
            }
            read += items.len();
            if is_last_page(&body, items.len(), read) {
                return Ok(Lookup::Absent);
            }
            if let (Wanted::Id { created, .. }, Some(Some(oldest_seen))) = (wanted, newest_first) {
                if oldest_seen < *created {
                    // Everything from here on was created before the candidature we look for.
                    return Ok(Lookup::Absent);
                }
            }
        }
        Ok(Lookup::Unseen { read })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_last_page_is_told_by_next_or_count() {
        assert!(is_last_page(&json!({"next": null, "results": [1]}), 1, 1));
        assert!(!is_last_page(
            &json!({"next": "https://x/?offset=10", "count": 30}),
            10,
            10
        ));
        assert!(is_last_page(&json!({"count": 30}), 10, 30));
        assert!(
            !is_last_page(&json!({"results": [1]}), 1, 1),
            "a short page without next or count may not be the last"
        );
        assert!(is_last_page(&json!({"results": []}), 0, 0));
    }

    #[test]
    fn candidatures_match_by_id_or_email_only() {
        let item = json!({"id": 8000, "email": "Ada@Example.com"});
        let id = Wanted::Id {
            id: "8000",
            created: Utc::now(),
        };
        assert!(id.matches(&item));
        assert!(!Wanted::Id {
            id: "800",
            created: Utc::now()
        }
        .matches(&item));
        assert!(Wanted::Email("ada@example.com").matches(&item));
        assert!(!Wanted::Email("bob@example.com").matches(&item));
    }
}
