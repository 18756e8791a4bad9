//! Normalizing what a vendor reports into the StackOne `AssessmentResult` (README: "For ATS
//! developers").

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{rfc3339, AssessmentResult, Attachment, OpenEnum, OrderStatus, ResultCandidate, Score};

/// What a provider read from its vendor about one invitation, already in gateway terms.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorOutcome {
    /// `invited` (nothing yet), `in_progress`, `completed`, `cancelled` or `expired`.
    pub status: OrderStatus,
    /// The overall score on a 0–100 scale, when the vendor gave one.
    pub score_percent: Option<f64>,
    /// The vendor's own verdict, when it gives one (overrides the account's pass mark).
    pub passed: Option<bool>,
    /// The vendor's own status and score values, kept as `result.source_value`.
    pub source: Value,
    pub start_date: Option<DateTime<Utc>>,
    pub submission_date: Option<DateTime<Utc>>,
    pub summary: Option<String>,
    pub result_url: Option<String>,
    pub attachments: Vec<Attachment>,
}

impl VendorOutcome {
    pub fn status_only(status: OrderStatus, source: Value) -> Self {
        Self {
            status,
            score_percent: None,
            passed: None,
            source,
            start_date: None,
            submission_date: None,
            summary: None,
            result_url: None,
            attachments: Vec::new(),
        }
    }
}

/// What the result says before any vendor outcome, or for a status without one.
pub fn result_value_for(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending | OrderStatus::Invited => "initiated",
        OrderStatus::InProgress => "in_progress",
        OrderStatus::Completed => "completed",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Expired => "expired",
        OrderStatus::Failed => "unmapped_value",
    }
}

/// Identity of the order a result is about.
#[derive(Debug, Clone, Default)]
pub struct ResultSubject {
    pub order_id: String,
    pub remote_id: Option<String>,
    pub candidate_id: Option<String>,
    pub candidate_profile_url: Option<String>,
}

/// The result for an order in `status` without a vendor outcome (e.g. before the candidate starts).
pub fn status_result(subject: &ResultSubject, status: OrderStatus) -> AssessmentResult {
    let source = match status {
        OrderStatus::Failed => "invitation_failed",
        other => other.as_str(),
    };
    AssessmentResult {
        result: Some(OpenEnum::new(result_value_for(status), source)),
        ..base(subject)
    }
}

/// The normalized result of a vendor outcome; `pass_mark` (0–100) turns a verdict-less
/// completion into `passed` or `failed`.
pub fn outcome_result(
    subject: &ResultSubject,
    outcome: &VendorOutcome,
    pass_mark: Option<f64>,
) -> AssessmentResult {
    let value = match (
        outcome.status,
        outcome.passed,
        pass_mark,
        outcome.score_percent,
    ) {
        (OrderStatus::Completed, Some(true), _, _) => "passed",
        (OrderStatus::Completed, Some(false), _, _) => "failed",
        (OrderStatus::Completed, None, Some(mark), Some(score)) if score >= mark => "passed",
        (OrderStatus::Completed, None, Some(_), Some(_)) => "failed",
        (status, _, _, _) => result_value_for(status),
    };
    AssessmentResult {
        score: outcome.score_percent.map(|score| Score {
            label: Some("Percentage".into()),
            value: Some(format_score(score)),
            min: Some("0".into()),
            max: Some("100".into()),
        }),
        start_date: outcome.start_date.map(rfc3339),
        submission_date: outcome.submission_date.map(rfc3339),
        summary: outcome.summary.clone(),
        result: Some(OpenEnum {
            value: Some(value.into()),
            source_value: Some(super::limits::kept_json(
                &outcome.source,
                super::limits::VENDOR_JSON_BYTES,
            )),
        }),
        result_url: outcome.result_url.clone(),
        attachments: (!outcome.attachments.is_empty()).then(|| outcome.attachments.clone()),
        ..base(subject)
    }
}

fn base(subject: &ResultSubject) -> AssessmentResult {
    AssessmentResult {
        id: Some(subject.order_id.clone()),
        remote_id: subject.remote_id.clone(),
        candidate: Some(ResultCandidate {
            id: subject.candidate_id.clone(),
            remote_id: None,
            profile_url: subject.candidate_profile_url.clone(),
        }),
        ..AssessmentResult::default()
    }
}

/// The order status a pushed StackOne result moves an order to; `None` keeps the status.
pub fn status_for_result_value(value: &str) -> Option<OrderStatus> {
    match value {
        "initiated" => Some(OrderStatus::Invited),
        "in_progress" => Some(OrderStatus::InProgress),
        "completed" | "passed" | "failed" => Some(OrderStatus::Completed),
        "cancelled" => Some(OrderStatus::Cancelled),
        "expired" => Some(OrderStatus::Expired),
        _ => None,
    }
}

/// A decimal string without trailing zeros, rounded to two places: `75`, `87.5`, `33.33`.
pub fn format_score(score: f64) -> String {
    let rounded = (score * 100.0).round() / 100.0;
    let text = format!("{rounded:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subject() -> ResultSubject {
        ResultSubject {
            order_id: "ord".into(),
            remote_id: Some("r1".into()),
            candidate_id: Some("c1".into()),
            candidate_profile_url: None,
        }
    }

    fn completed(score: f64) -> VendorOutcome {
        VendorOutcome {
            score_percent: Some(score),
            ..VendorOutcome::status_only(OrderStatus::Completed, json!({"status": "done"}))
        }
    }

    #[test]
    fn scores_have_no_trailing_zeros() {
        assert_eq!(format_score(75.0), "75");
        assert_eq!(format_score(87.5), "87.5");
        assert_eq!(format_score(100.0 / 3.0), "33.33");
        assert_eq!(format_score(0.0), "0");
        assert_eq!(format_score(99.999), "100");
    }

    #[test]
    fn a_completion_without_verdict_is_completed_unless_a_pass_mark_is_set() {
        let result = outcome_result(&subject(), &completed(70.0), None);
        assert_eq!(result.result.unwrap().value.as_deref(), Some("completed"));
        let passed = outcome_result(&subject(), &completed(70.0), Some(70.0));
        assert_eq!(passed.result.unwrap().value.as_deref(), Some("passed"));
        let failed = outcome_result(&subject(), &completed(69.5), Some(70.0));
        assert_eq!(failed.result.unwrap().value.as_deref(), Some("failed"));
    }

    #[test]
    fn a_vendor_verdict_wins_and_the_source_is_kept() {
        let outcome = VendorOutcome {
            passed: Some(false),
            ..completed(95.0)
        };
        let result = outcome_result(&subject(), &outcome, Some(50.0));
        let verdict = result.result.unwrap();
        assert_eq!(verdict.value.as_deref(), Some("failed"));
        assert_eq!(verdict.source_value, Some(json!({"status": "done"})));
        let score = result.score.unwrap();
        assert_eq!(
            (score.value.as_deref(), score.max.as_deref()),
            (Some("95"), Some("100"))
        );
        assert_eq!(result.id.as_deref(), Some("ord"));
    }

    #[test]
    fn statuses_without_outcome() {
        assert_eq!(
            status_result(&subject(), OrderStatus::Invited)
                .result
                .unwrap()
                .value
                .as_deref(),
            Some("initiated")
        );
        assert_eq!(
            status_result(&subject(), OrderStatus::InProgress)
                .result
                .unwrap()
                .value
                .as_deref(),
            Some("in_progress")
        );
        assert_eq!(
            status_for_result_value("passed"),
            Some(OrderStatus::Completed)
        );
        assert_eq!(status_for_result_value("weird"), None);
    }
}
