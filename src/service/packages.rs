//! Listing the packages (vendor tests) an account can order, behind StackOne's opaque cursor.

use chrono::{DateTime, Utc};

use super::{tenancy::Caller, Gateway, ServiceError};
use crate::{
    domain::AssessmentPackage,
    providers::{PackagePage, PackageQuery},
};

pub const DEFAULT_PAGE_SIZE: usize = 25;
pub const MAX_PAGE_SIZE: usize = 200;

/// The caller's query as given: StackOne sends every value as a string.
#[derive(Debug, Default)]
pub struct PackageListing<'a> {
    pub page_size: Option<&'a str>,
    pub next: Option<&'a str>,
    pub updated_after: Option<&'a str>,
}

/// What a cursor looks like, as the document states it: every adapter pages by a positive number
/// (a page or an offset), which the unified cursor is. Callers treat it as opaque.
pub const CURSOR_PATTERN: &str = "^[1-9][0-9]{0,8}$";

/// The unified cursor of an adapter's cursor; `None` for one of another shape, which ends the
/// listing rather than hand out a cursor the document does not allow.
pub fn encode_cursor(provider_cursor: &str) -> Option<String> {
    is_cursor(provider_cursor).then(|| provider_cursor.to_string())
}

fn is_cursor(value: &str) -> bool {
    (1..=9).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_digit())
        && !value.starts_with('0')
}

fn decode_cursor(cursor: &str) -> Result<String, ServiceError> {
    if is_cursor(cursor) {
        Ok(cursor.to_string())
    } else {
        Err(ServiceError::invalid(
            "next: not a cursor returned by this API",
        ))
    }
}

pub fn parse_page_size(
    value: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ServiceError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n) && v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ServiceError::invalid(format!(
                    "page_size: expected a whole number from 1 to {max}"
                ))
            }),
    }
}

fn parse_updated_after(value: Option<&str>) -> Result<Option<DateTime<Utc>>, ServiceError> {
    match value {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| {
                ServiceError::invalid(format!("updated_after: '{v}' is not an RFC 3339 date-time"))
            }),
    }
}

impl Gateway {
    pub async fn list_packages(
        &self,
        caller: &Caller,
        listing: PackageListing<'_>,
    ) -> Result<PackagePage, ServiceError> {
        let query = PackageQuery {
            cursor: listing.next.map(decode_cursor).transpose()?,
            page_size: parse_page_size(listing.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
            updated_after: parse_updated_after(listing.updated_after)?,
        };
        let listed = caller.provider.list_packages(&caller.context, &query).await;
        self.health.note(caller.account.id, &listed);
        let mut page = listed?;
        page.next = page.next.as_deref().and_then(encode_cursor);
        Ok(page)
    }

    pub async fn get_package(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<AssessmentPackage, ServiceError> {
        let package = caller.provider.get_package(&caller.context, id).await;
        self.health.note(caller.account.id, &package);
        Ok(package?)
    }
}
