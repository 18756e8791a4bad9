//! Reading TestInvite's paged lists (reference/providers.md §2.3–2.6): `{<items>: […],
//! pagination: {next, …}}` with `page`/`limit`. Filters are sent as documented but never trusted:
//! each item is kept only if `keep` says it is the one wanted, and pages are read until
//! `pagination.next` is null or `MAX_PAGES` were read.

use serde_json::Value;

use super::TestInvite;
use crate::providers::{AccountContext, ProviderError};

/// Pages read at most in one listing.
pub(super) const MAX_PAGES: usize = 50;
/// Items asked for per page; TestInvite may send fewer (its default is 10).
pub(super) const PAGE_SIZE: usize = 50;

/// The items of a listing that `keep` accepted.
#[derive(Debug, Default)]
pub(super) struct Listing {
    pub items: Vec<Value>,
    /// Whether the list was read to its end (else `MAX_PAGES` pages were read).
    pub complete: bool,
    /// How many items were read, kept or not.
    pub read: usize,
}

impl TestInvite {
    /// Reads `path` (which has its query already, without `page`) page after page; `key` names
    /// the array of the answer.
    pub(super) async fn list_all(
        &self,
        account: &AccountContext,
        path: &str,
        key: &str,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<Listing, ProviderError> {
        let mut listing = Listing::default();
        for page in 1..=MAX_PAGES {
            let body = self
                .get(account, &format!("{path}&limit={PAGE_SIZE}&page={page}"))
                .await?;
            let items = body[key]
                .as_array()
                .ok_or_else(|| super::unreadable(&format!("the answer has no {key}")))?;
            listing.read += items.len();
            listing
                .items
                .extend(items.iter().filter(|item| keep(item)).cloned());
            if items.is_empty() || body["pagination"]["next"].is_null() {
                listing.complete = true;
                break;
            }
        }
        Ok(listing)
    }
}
