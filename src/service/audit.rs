//! The audit trail of operators' actions (admin API and console): who did what to what, how it
//! ended, and the request id that finds it in the logs. The HTTP layer says what was asked and how
//! it was answered; this finds the project of the target and keeps the entry. Entries hold names,
//! ids and statuses only: never a secret, a request body or a candidate's data.

use std::net::IpAddr;

use uuid::Uuid;

use super::{Gateway, ServiceError};
use crate::{
    domain::now,
    store::{AuditEvent, AuditFilter, NewAuditEvent},
};

/// Every action the trail records, as `GET /admin/audit-events?action=` accepts it.
pub const ACTIONS: &[&str] = &[
    "project.create",
    "project.update",
    "project.rotate_signing_secret",
    "project.erase_candidate",
    "api_key.create",
    "api_key.revoke",
    "account.create",
    "account.update",
    "account.delete",
    "order.cancel",
    "order.reject",
    "order.refresh",
    "delivery.retry",
    "delivery.retry_dead",
    "console.sign_in",
    "console.sign_out",
];

/// What an action was done to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Project(Uuid),
    ApiKey(Uuid),
    Account(Uuid),
    Order(Uuid),
    Delivery(Uuid),
    /// The address a console sign-in came from.
    Client(IpAddr),
}

impl Target {
    fn label(&self) -> String {
        match self {
            Self::Project(id) => format!("project:{id}"),
            Self::ApiKey(id) => format!("api_key:{id}"),
            Self::Account(id) => format!("account:{id}"),
            Self::Order(id) => format!("order:{id}"),
            Self::Delivery(id) => format!("delivery:{id}"),
            Self::Client(ip) => format!("client:{ip}"),
        }
    }
}

/// How an action ended, from the status it was answered with.
pub fn outcome(status_code: u16) -> &'static str {
    match status_code {
        200..=399 => "succeeded",
        401 | 403 | 429 => "refused",
        _ => "failed",
    }
}

/// One action as the HTTP layer saw it.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// `admin_api`, `console:<session id>`, or `console` before a session exists.
    pub actor: String,
    /// One of `ACTIONS`.
    pub action: &'static str,
    pub target: Option<Target>,
    /// The target's project (`project_of`, asked before the action: a deleted account has none
    /// after it).
    pub project_id: Option<Uuid>,
    pub status_code: u16,
    pub request_id: Option<String>,
}

impl Gateway {
    /// Keeps `entry`. The action is done by now, whatever happens here: a trail that cannot be
    /// written is logged as an error, not turned into a failure of the action.
    pub async fn record_audit(&self, entry: AuditEntry) {
        let event = NewAuditEvent {
            at: now(),
            actor: entry.actor,
            action: entry.action.to_string(),
            target: entry.target.map(|t| t.label()),
            project_id: entry.project_id,
            outcome: outcome(entry.status_code).to_string(),
            status_code: i32::from(entry.status_code),
            request_id: entry.request_id,
        };
        if let Err(error) = self.store.insert_audit_event(&event).await {
            tracing::error!(%error, action = entry.action, "an audit event could not be stored");
        }
    }

    /// The project `target` belongs to, when it exists.
    pub async fn project_of(&self, target: Target) -> Option<Uuid> {
        let found = match target {
            Target::Project(id) => return Some(id),
            Target::ApiKey(_) | Target::Client(_) => return None,
            Target::Account(id) => self
                .store
                .get_account(id)
                .await
                .map(|a| a.map(|a| a.project_id)),
            Target::Order(id) => self
                .store
                .get_order(id)
                .await
                .map(|o| o.map(|o| o.project_id)),
            Target::Delivery(id) => self
                .store
                .get_delivery(id)
                .await
                .map(|d| d.map(|d| d.project_id)),
        };
        found.ok().flatten()
    }

    /// The trail, newest first.
    pub async fn audit_events(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        if let Some(action) = &filter.action {
            if !ACTIONS.contains(&action.as_str()) {
                return Err(ServiceError::invalid(format!(
                    "action: '{action}' is not an audited action"
                )));
            }
        }
        Ok(self.store.list_audit_events(filter).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_status() {
        assert_eq!(outcome(201), "succeeded");
        assert_eq!(outcome(303), "succeeded");
        assert_eq!(outcome(401), "refused");
        assert_eq!(outcome(409), "failed");
        assert_eq!(outcome(502), "failed");
    }
}
