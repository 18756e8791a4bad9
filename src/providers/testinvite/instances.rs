//! A candidate's test instances (reference/providers.md §2.6) and what they say about the order.
//!
//! The listing's candidate filter is documented under two names (`candidateId` in its prose,
//! `ticketId` in its parameter table); whichever TestInvite honours, an instance counts only when
//! its own `ticketId` (detailed: `candidate.id`) is the order's candidate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{listing::Listing, text, TestInvite};
use crate::{
    domain::{OrderStatus, VendorOutcome},
    providers::{query_value, AccountContext, ProviderError},
};

/// A TestInvite test instance status in gateway terms.
pub fn instance_status(status: &str) -> OrderStatus {
    match status.to_ascii_uppercase().as_str() {
        "COMPLETE" | "COMPLETED" => OrderStatus::Completed,
        _ => OrderStatus::InProgress,
    }
}

fn belongs_to(instance: &Value, candidate: &str) -> bool {
    [&instance["ticketId"], &instance["candidate"]["id"]]
        .into_iter()
        .any(|id| text(id).as_deref() == Some(candidate))
}

fn is_complete(instance: &Value) -> bool {
    instance_status(instance["status"].as_str().unwrap_or_default()) == OrderStatus::Completed
}

fn epoch(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(value.as_i64()?, 0)
}

impl TestInvite {
    /// The test instances of `candidate` in `task` (its path segment), ignored ones left out.
    pub(super) async fn candidate_instances(
        &self,
        account: &AccountContext,
        task: &str,
        candidate: &str,
    ) -> Result<Listing, ProviderError> {
        let path = format!(
            "tasks/{task}/test-instances?mode=detailed&candidateId={}",
            query_value(candidate)
        );
        self.list_all(account, &path, "testInstances", |instance| {
            belongs_to(instance, candidate) && instance["ignored"] != Value::Bool(true)
        })
        .await
    }

    /// Whether the candidate has a completed test session (an attempt already taken).
    pub(super) async fn has_completed_sessions(
        &self,
        account: &AccountContext,
        task: &str,
        candidate: &str,
    ) -> Result<bool, ProviderError> {
        let listing = self.candidate_instances(account, task, candidate).await?;
        Ok(listing.items.iter().any(is_complete))
    }
}

/// The order's state from its candidate's instances: completed once every active step of the
/// task (`steps`) has a `COMPLETE` instance, the score the mean of each step's latest
/// `achievementRatio` × 100. An incomplete listing never completes an order.
pub(super) fn outcome(listing: &Listing, steps: usize) -> VendorOutcome {
    let summary: Vec<Value> = listing
        .items
        .iter()
        .map(|i| json!({"testInstanceId": i["testInstanceId"], "stepId": i["stepId"], "status": i["status"], "scoreboard": i["result"]["scoreboard"]}))
        .collect();
    let source = json!({"instances": summary});
    if listing.items.is_empty() {
        return VendorOutcome::status_only(OrderStatus::Invited, source);
    }
    let mut by_step: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for instance in &listing.items {
        by_step
            .entry(text(&instance["stepId"]).unwrap_or_default())
            .or_default()
            .push(instance);
    }
    // Per step, its latest completed instance (a step may have been set up again).
    let completed: Vec<&Value> = by_step
        .values()
        .filter_map(|instances| {
            instances
                .iter()
                .copied()
                .filter(|i| is_complete(i))
                .max_by_key(|i| i["result"]["completedAt"].as_i64().unwrap_or_default())
        })
        .collect();
    if !listing.complete || completed.len() < by_step.len() || completed.len() < steps {
        return VendorOutcome::status_only(OrderStatus::InProgress, source);
    }
    let ratios: Vec<f64> = completed
        .iter()
        .filter_map(|i| i["result"]["scoreboard"]["achievementRatio"].as_f64())
        .collect();
    let score =
        (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64 * 100.0);
    let submitted = completed
        .iter()
        .filter_map(|i| epoch(&i["result"]["completedAt"]))
        .max();
    VendorOutcome {
        score_percent: score,
        submission_date: submitted,
        summary: Some(format!(
            "{} of {} test sessions complete",
            completed.len(),
            steps.max(completed.len())
        )),
        ..VendorOutcome::status_only(OrderStatus::Completed, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, ticket: &str, step: &str, status: &str, ratio: f64, at: i64) -> Value {
        json!({"testInstanceId": id, "ticketId": ticket, "stepId": step, "status": status,
               "result": {"completedAt": at, "scoreboard": {"achievementRatio": ratio}}})
    }

    #[test]
    fn instance_statuses_map_explicitly() {
        assert_eq!(instance_status("COMPLETE"), OrderStatus::Completed);
        assert_eq!(instance_status("STARTED"), OrderStatus::InProgress);
        assert_eq!(instance_status("RESETUP"), OrderStatus::InProgress);
    }

    #[test]
    fn instances_belong_by_their_own_candidate_id() {
        assert!(belongs_to(&json!({"ticketId": "c_1"}), "c_1"));
        assert!(belongs_to(&json!({"candidate": {"id": "c_1"}}), "c_1"));
        assert!(!belongs_to(&json!({"ticketId": "c_2"}), "c_1"));
        assert!(!belongs_to(&json!({}), "c_1"));
    }

    #[test]
    fn a_step_set_up_again_counts_once_with_its_latest_result() {
        let listing = Listing {
            items: vec![
                instance("i1", "c", "s1", "COMPLETE", 0.2, 100),
                instance("i2", "c", "s1", "COMPLETE", 0.8, 200),
                instance("i3", "c", "s2", "COMPLETE", 0.6, 150),
            ],
            complete: true,
            read: 3,
        };
        let done = outcome(&listing, 2);
        assert_eq!(done.status, OrderStatus::Completed);
        assert_eq!(done.score_percent, Some(70.0));
        assert_eq!(done.submission_date.map(|d| d.timestamp()), Some(200));
        assert_eq!(
            outcome(&listing, 3).status,
            OrderStatus::InProgress,
            "a third active step is still to take"
        );
        let partial = Listing {
            complete: false,
            ..listing
        };
        assert_eq!(
            outcome(&partial, 2).status,
            OrderStatus::InProgress,
            "a listing cut short never completes an order"
        );
    }
}
