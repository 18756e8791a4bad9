//! Erasing a candidate's personal data from an order. What stays is what the order is, not who it
//! was for: ids, package, status, score, result value and dates. What goes: names, emails, profile
//! URLs, every free text of the request (job title, passthrough, the hiring team and requester),
//! the result's own words and links (summary, report URL, attachments, the vendor's raw value),
//! and, wherever text was recorded about the order (timeline, errors, delivery bodies), each
//! occurrence of those personal values.

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::{AssessmentResult, OrderRequest, OrderStatus};

/// What an erased text or value reads.
pub const ERASED: &str = "[erased]";

/// Keys whose values are personal or free text wherever they appear in a JSON document the
/// gateway recorded (a delivery body, a vendor's data): dropped whole.
const PERSONAL_KEYS: &[&str] = &[
    "first_name",
    "last_name",
    "fullname",
    "full_name",
    "name",
    "email",
    "emails",
    "phone",
    "phone_number",
    "phone_numbers",
    "profile_url",
    "hiring_team",
    "requester",
    "passthrough",
    "summary",
    "result_url",
    "attachments",
    "source_value",
    "title",
];

/// Finds an order's personal values in free text.
pub struct Scrubber {
    pattern: Option<Regex>,
}

impl Scrubber {
    /// The personal values of an order: the candidate's email(s), names and profile URL, the
    /// hiring team's and requester's names and emails, the result's links.
    pub fn for_order(
        email: &str,
        request: &OrderRequest,
        result: Option<&AssessmentResult>,
    ) -> Self {
        let mut terms: Vec<String> = vec![email.to_string()];
        if let Some(candidate) = &request.candidate {
            terms.extend(candidate.first_name.clone());
            terms.extend(candidate.last_name.clone());
            terms.extend(candidate.profile_url.clone());
            for email in candidate.emails.iter().flatten() {
                terms.extend(email.value.clone());
            }
        }
        let members = request
            .job
            .iter()
            .flat_map(|j| j.hiring_team.iter().flatten())
            .chain(request.requester.iter());
        for member in members {
            terms.extend(member.first_name.clone());
            terms.extend(member.last_name.clone());
            terms.extend(member.email.clone());
        }
        if let Some(result) = result {
            terms.extend(result.result_url.clone());
            terms.extend(
                result
                    .candidate
                    .as_ref()
                    .and_then(|c| c.profile_url.clone()),
            );
        }
        Self::new(terms)
    }

    fn new(terms: Vec<String>) -> Self {
        let mut terms: Vec<String> = terms
            .into_iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        // Longest first, so that a full value is taken before a part of it.
        terms.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
        terms.dedup();
        let alternatives: Vec<String> = terms
            .iter()
            .map(|term| {
                // Whole words only where the value starts or ends with one: "Al" is not erased
                // out of "cancelled".
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                let before = if word(term.chars().next()) { r"\b" } else { "" };
                let after = if word(term.chars().last()) { r"\b" } else { "" };
                format!("{before}{}{after}", regex::escape(term))
            })
            .collect();
        let pattern = (!alternatives.is_empty())
            .then(|| {
                RegexBuilder::new(&alternatives.join("|"))
                    .case_insensitive(true)
                    .size_limit(1 << 22)
                    .build()
                    .ok()
            })
            .flatten();
        Self { pattern }
    }

    /// `text` with every personal value replaced by `[erased]`.
    pub fn text(&self, text: &str) -> String {
        match &self.pattern {
            Some(pattern) => pattern.replace_all(text, ERASED).into_owned(),
            None => text.to_string(),
        }
    }

    /// A recorded JSON document without its personal keys and with its texts scrubbed.
    pub fn json(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, value)| {
                        let kept = if PERSONAL_KEYS.contains(&key.as_str()) {
                            Value::Null
                        } else {
                            self.json(value)
                        };
                        (key.clone(), kept)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::String(text) => Value::String(self.text(text)),
            other => other.clone(),
        }
    }
}

/// The request without its personal data and free text: the caller's ids, the package and where
/// results go stay.
pub fn erased_request(request: &OrderRequest) -> OrderRequest {
    let mut erased = request.clone();
    erased.requester = None;
    erased.passthrough = None;
    if let Some(candidate) = &mut erased.candidate {
        candidate.first_name = None;
        candidate.last_name = None;
        candidate.emails = None;
        candidate.profile_url = None;
        candidate.passthrough = None;
    }
    if let Some(job) = &mut erased.job {
        job.title = None;
        job.hiring_team = None;
        job.passthrough = None;
    }
    if let Some(application) = &mut erased.application {
        application.passthrough = None;
    }
    erased
}

/// The result without its words and links: ids, score, dates and the result's value stay.
pub fn erased_result(result: &AssessmentResult) -> AssessmentResult {
    let mut erased = result.clone();
    erased.summary = None;
    erased.result_url = None;
    erased.attachments = None;
    if let Some(candidate) = &mut erased.candidate {
        candidate.profile_url = None;
    }
    if let Some(outcome) = &mut erased.result {
        outcome.source_value = None;
    }
    erased
}

/// Whether an order can be erased now: not while its vendor call may still be in flight.
pub fn erasable(status: OrderStatus) -> bool {
    status != OrderStatus::Pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        CandidateEmail, HiringTeamMember, OpenEnum, OrderCandidate, OrderJob, ResultCandidate,
        Score,
    };
    use serde_json::json;

    fn request() -> OrderRequest {
        OrderRequest {
            id: Some("ats-1".into()),
            candidate: Some(OrderCandidate {
                id: Some("cand-1".into()),
                first_name: Some("Al".into()),
                last_name: Some("Lovelace-Byron".into()),
                emails: Some(vec![CandidateEmail {
                    kind: Some("personal".into()),
                    value: Some("Al.L@Example.com".into()),
                }]),
                profile_url: Some("https://ats.example/c/1".into()),
                ..Default::default()
            }),
            job: Some(OrderJob {
                id: Some("job-1".into()),
                title: Some("Engineer".into()),
                hiring_team: Some(vec![HiringTeamMember {
                    first_name: Some("Grace".into()),
                    email: Some("grace@corp.example".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn texts_lose_every_personal_value_in_any_case_and_keep_the_rest() {
        let scrubber = Scrubber::for_order("al.l@example.com", &request(), None);
        assert_eq!(
            scrubber.text("invited AL.L@EXAMPLE.COM (Al Lovelace-Byron), cancelled by grace"),
            "invited [erased] ([erased] [erased]), cancelled by [erased]"
        );
        assert_eq!(
            scrubber.text("cancelled at the vendor"),
            "cancelled at the vendor"
        );
    }

    #[test]
    fn documents_lose_personal_keys_and_values() {
        let scrubber = Scrubber::for_order("al.l@example.com", &request(), None);
        let body = json!({"type": "x", "data": {"id": "o1", "summary": "Al did well",
            "candidate": {"id": "cand-1", "profile_url": "https://ats.example/c/1"},
            "note": ["mail al.l@example.com"], "score": {"value": "88"}}});
        assert_eq!(
            scrubber.json(&body),
            json!({"type": "x", "data": {"id": "o1", "summary": null,
                "candidate": {"id": "cand-1", "profile_url": null},
                "note": ["mail [erased]"], "score": {"value": "88"}}})
        );
    }

    #[test]
    fn requests_and_results_keep_only_what_is_not_personal() {
        let erased = erased_request(&request());
        assert_eq!(erased.id.as_deref(), Some("ats-1"));
        let candidate = erased.candidate.unwrap();
        assert_eq!(candidate.id.as_deref(), Some("cand-1"));
        assert!(candidate.first_name.is_none() && candidate.emails.is_none());
        let job = erased.job.unwrap();
        assert_eq!(job.id.as_deref(), Some("job-1"));
        assert!(job.title.is_none() && job.hiring_team.is_none());

        let result = AssessmentResult {
            id: Some("o1".into()),
            candidate: Some(ResultCandidate {
                id: Some("cand-1".into()),
                remote_id: None,
                profile_url: Some("https://ats.example/c/1".into()),
            }),
            score: Some(Score {
                value: Some("88".into()),
                ..Default::default()
            }),
            summary: Some("words".into()),
            result: Some(OpenEnum::new("passed", json!({"vendor": "PASS"}))),
            result_url: Some("https://vendor.example/report/1".into()),
            ..Default::default()
        };
        let erased = erased_result(&result);
        assert_eq!(erased.score, result.score);
        assert_eq!(erased.result.unwrap().value.as_deref(), Some("passed"));
        assert!(erased.summary.is_none() && erased.result_url.is_none());
        assert!(erased.candidate.unwrap().profile_url.is_none());
    }
}
