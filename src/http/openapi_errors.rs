//! The error answers every operation shares, added to the document in one place so that each
//! status the server can give is documented with its body (`ErrorBody`), whatever the handler's
//! own annotation lists. An operation's own description of a status is kept.

use std::collections::BTreeMap;

use utoipa::{
    openapi::{
        path::{Operation, ParameterIn},
        Content, OpenApi, Ref, RefOr, ResponseBuilder,
    },
    Modify,
};

pub struct CommonErrors;

/// Operations that call the account's vendor while the client waits.
fn calls_the_vendor(method: &str, path: &str) -> bool {
    matches!(
        (method, path),
        ("get", "/unified/ats/assessments/packages")
            | ("get", "/unified/ats/assessments/packages/{id}")
            | ("post", "/unified/ats/assessments/orders")
            | ("post", "/admin/orders/{id}/cancel")
            | ("post", "/admin/orders/{id}/reject")
            | ("post", "/admin/orders/{id}/refresh")
            | ("post", "/admin/projects/{id}/erasures")
    )
}

/// The statuses `operation` can answer beyond success, and why.
fn statuses(method: &str, path: &str, operation: &Operation) -> Vec<(u16, &'static str)> {
    let mut statuses = Vec::new();
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let unified = path.starts_with("/unified/");
    let has_query = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    if secured {
        statuses.push((401, "Missing, malformed or refused credentials"));
    }
    if operation.request_body.is_some() {
        statuses.push((
            400,
            "The body is not JSON, or breaks this operation's schema",
        ));
        statuses.push((413, "The body is larger than 1 MiB"));
    }
    if has_query {
        statuses.push((400, "A query parameter breaks its schema"));
    }
    if path.contains('{') {
        statuses.push((404, "No such resource"));
    }
    if unified {
        statuses.push((400, "The x-account-id header is missing"));
        statuses.push((
            404,
            "No linked account with that x-account-id in the key's project",
        ));
        statuses.push((
            429,
            "More than RATE_LIMIT requests a minute with this key, or the vendor's own limit; see Retry-After",
        ));
    }
    if calls_the_vendor(method, path) {
        statuses.push((
            400,
            "The vendor refused the request or the account's credentials",
        ));
        statuses.push((403, "The account's quota at the vendor is spent"));
        statuses.push((408, "The vendor did not answer within PROVIDER_TIMEOUT"));
        statuses.push((409, "The vendor refuses in the invitation's current state"));
        statuses.push((429, "The vendor is rate limiting; see Retry-After"));
        statuses.push((501, "The vendor has no such operation"));
        statuses.push((
            502,
            "The vendor failed, could not be reached, or answered unreadably",
        ));
    }
    if secured {
        statuses.push((503, "The database is unavailable; see Retry-After"));
    }
    statuses
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build(),
    )
}

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else {
                    continue;
                };
                let mut reasons: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
                for (status, reason) in statuses(method, path, operation) {
                    reasons.entry(status).or_default().push(reason);
                }
                for (status, reasons) in reasons {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error_response(&reasons.join("; ")));
                }
            }
        }
    }
}
