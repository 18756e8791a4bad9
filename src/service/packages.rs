//! Listing the packages (vendor tests) an account can order, behind StackOne's opaque cursor.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
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

/// The unified cursor wraps the adapter's own cursor so that callers treat it as opaque.
pub fn encode_cursor(provider_cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(provider_cursor)
}

fn decode_cursor(cursor: &str) -> Result<String, ServiceError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ServiceError::invalid("next: not a cursor returned by this API"))
}

pub fn parse_page_size(
    value: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ServiceError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ServiceError::invalid(format!(
                    "page_size: expected a whole number from 1 to {max}"
                ))
            }),
    }
}

fn parse_updated_after(value: Option<&str>) -> Result<Option<DateTime<Utc>>, ServiceError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
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
            cursor: listing
                .next
                .filter(|c| !c.trim().is_empty())
                .map(decode_cursor)
                .transpose()?,
            page_size: parse_page_size(listing.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
            updated_after: parse_updated_after(listing.updated_after)?,
        };
        let listed = caller.provider.list_packages(&caller.context, &query).await;
        self.health.note(caller.account.id, &listed);
        let mut page = listed?;
        page.next = page.next.as_deref().map(encode_cursor);
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
