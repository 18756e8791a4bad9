//! How much of what callers send is kept (ARCHITECTURE.md, "Bounded waits"): every stored string
//! has a limit, and a request over one is refused with 400 naming the field, before anything is
//! written.

use serde_json::{Map, Value};

use super::{HiringTeamMember, OrderRequest, UpdateResultRequest};

/// Ids: the caller's and the vendors'.
pub const ID: usize = 255;
/// People's names, roles, titles.
pub const NAME: usize = 200;
/// RFC 5321's limit on an address.
pub const EMAIL: usize = 254;
pub const URL: usize = 2048;
/// Free text: descriptions, summaries.
pub const TEXT: usize = 4096;
/// A caller's JSON (`passthrough`, `source_value`), serialized.
pub const JSON_BYTES: usize = 16 * 1024;
/// Entries of a list (emails, hiring team, attachments).
pub const ENTRIES: usize = 50;
/// A vendor's answer or values, kept with an order (`provider_errors`, `source_value`).
pub const VENDOR_JSON_BYTES: usize = 20 * 1024;

/// `value` as kept: whole when its JSON is at most `max` bytes, else the start of that JSON as a
/// string saying where it was cut.
pub fn kept_json(value: &Value, max: usize) -> Value {
    let text = value.to_string();
    if text.len() <= max {
        return value.clone();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Value::String(format!("{}… (cut at {max} bytes)", &text[..end]))
}

/// The first field over its limit, as the error message that names it.
#[derive(Default)]
struct Check(Option<String>);

impl Check {
    fn fail(&mut self, message: String) {
        self.0.get_or_insert(message);
    }

    fn text(&mut self, path: &str, value: &Option<String>, max: usize) {
        if value.as_deref().is_some_and(|v| v.chars().count() > max) {
            self.fail(format!("{path}: at most {max} characters"));
        }
    }

    fn json(&mut self, path: &str, value: Option<&Value>) {
        if value.is_some_and(|v| v.to_string().len() > JSON_BYTES) {
            self.fail(format!("{path}: at most {} KB of JSON", JSON_BYTES / 1024));
        }
    }

    fn map(&mut self, path: &str, value: &Option<Map<String, Value>>) {
        if let Some(map) = value {
            self.json(path, Some(&Value::Object(map.clone())));
        }
    }

    fn entries<T>(&mut self, path: &str, list: &Option<Vec<T>>) -> usize {
        let len = list.as_ref().map_or(0, Vec::len);
        if len > ENTRIES {
            self.fail(format!("{path}: at most {ENTRIES} entries"));
        }
        len
    }

    fn person(&mut self, path: &str, person: &HiringTeamMember) {
        self.text(&format!("{path}.user_id"), &person.user_id, ID);
        self.text(
            &format!("{path}.remote_user_id"),
            &person.remote_user_id,
            ID,
        );
        self.text(&format!("{path}.first_name"), &person.first_name, NAME);
        self.text(&format!("{path}.last_name"), &person.last_name, NAME);
        self.text(&format!("{path}.email"), &person.email, EMAIL);
        self.text(&format!("{path}.role"), &person.role, NAME);
    }

    fn done(self) -> Result<(), String> {
        self.0.map_or(Ok(()), Err)
    }
}

impl OrderRequest {
    /// Whether every field is within its limit; else the message naming the first that is not.
    pub fn check_limits(&self) -> Result<(), String> {
        let mut check = Check::default();
        check.text("id", &self.id, ID);
        if let Some(package) = &self.package {
            check.text("package.id", &package.id, ID);
            check.text("package.remote_id", &package.remote_id, ID);
            check.text("package.name", &package.name, NAME);
            check.text("package.description", &package.description, TEXT);
        }
        if let Some(application) = &self.application {
            check.text("application.id", &application.id, ID);
            check.text("application.remote_id", &application.remote_id, ID);
            if let Some(status) = &application.application_status {
                check.text("application.application_status.value", &status.value, NAME);
                check.json(
                    "application.application_status.source_value",
                    status.source_value.as_ref(),
                );
            }
            check.map("application.passthrough", &application.passthrough);
        }
        if let Some(job) = &self.job {
            check.text("job.id", &job.id, ID);
            check.text("job.remote_id", &job.remote_id, ID);
            check.text("job.title", &job.title, NAME);
            check.entries("job.hiring_team", &job.hiring_team);
            for (i, member) in job.hiring_team.iter().flatten().enumerate() {
                check.person(&format!("job.hiring_team[{i}]"), member);
            }
            check.map("job.passthrough", &job.passthrough);
        }
        if let Some(candidate) = &self.candidate {
            check.text("candidate.id", &candidate.id, ID);
            check.text("candidate.remote_id", &candidate.remote_id, ID);
            check.text("candidate.first_name", &candidate.first_name, NAME);
            check.text("candidate.last_name", &candidate.last_name, NAME);
            check.entries("candidate.emails", &candidate.emails);
            for (i, email) in candidate.emails.iter().flatten().enumerate() {
                check.text(&format!("candidate.emails[{i}].type"), &email.kind, NAME);
                check.text(&format!("candidate.emails[{i}].value"), &email.value, EMAIL);
            }
            check.text("candidate.profile_url", &candidate.profile_url, URL);
            check.map("candidate.passthrough", &candidate.passthrough);
        }
        if let Some(requester) = &self.requester {
            check.person("requester", requester);
        }
        check.text("results_update_url", &self.results_update_url, URL);
        check.map("passthrough", &self.passthrough);
        check.done()
    }
}

impl UpdateResultRequest {
    /// Whether every field is within its limit; else the message naming the first that is not.
    pub fn check_limits(&self) -> Result<(), String> {
        let mut check = Check::default();
        check.text("id", &self.id, ID);
        if let Some(score) = &self.score {
            check.text("score.label", &score.label, NAME);
            check.text("score.value", &score.value, NAME);
            check.text("score.min", &score.min, NAME);
            check.text("score.max", &score.max, NAME);
        }
        check.text("start_date", &self.start_date, NAME);
        check.text("submission_date", &self.submission_date, NAME);
        check.text("summary", &self.summary, TEXT);
        if let Some(result) = &self.result {
            check.text("result.value", &result.value, NAME);
            check.json("result.source_value", result.source_value.as_ref());
        }
        check.text("result_url", &self.result_url, URL);
        check.entries("attachments", &self.attachments);
        for (i, attachment) in self.attachments.iter().flatten().enumerate() {
            check.text(&format!("attachments[{i}].url"), &attachment.url, URL);
            if let Some(kind) = &attachment.content_type {
                check.text(
                    &format!("attachments[{i}].content_type.value"),
                    &kind.value,
                    NAME,
                );
            }
        }
        if let Some(candidate) = &self.candidate {
            check.text("candidate.id", &candidate.id, ID);
            check.text("candidate.remote_id", &candidate.remote_id, ID);
            check.text("candidate.profile_url", &candidate.profile_url, URL);
        }
        check.map("passthrough", &self.passthrough);
        check.done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(value: Value) -> OrderRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn each_field_has_its_limit_and_the_first_over_is_named() {
        let long = |n: usize| "x".repeat(n);
        assert!(
            order(json!({"id": long(255), "candidate": {"first_name": long(200)}}))
                .check_limits()
                .is_ok()
        );
        for (body, named) in [
            (json!({"id": long(256)}), "id: at most 255"),
            (
                json!({"candidate": {"first_name": long(201)}}),
                "candidate.first_name: at most 200",
            ),
            (
                json!({"candidate": {"emails": [{"value": "a@b.co"}, {"value": format!("{}@b.co", long(250))}]}}),
                "candidate.emails[1].value: at most 254",
            ),
            (
                json!({"results_update_url": long(2049)}),
                "results_update_url: at most 2048",
            ),
            (
                json!({"passthrough": {"blob": long(16 * 1024)}}),
                "passthrough: at most 16 KB",
            ),
            (
                json!({"job": {"hiring_team": [{"email": long(255)}]}}),
                "job.hiring_team[0].email",
            ),
            (
                json!({"candidate": {"emails": vec![json!({"value": "a@b.co"}); 51]}}),
                "candidate.emails: at most 50 entries",
            ),
        ] {
            let error = order(body).check_limits().unwrap_err();
            assert!(error.starts_with(named), "{error} should name {named}");
        }
        // Characters, not bytes: a 200-letter name in any script is a name.
        assert!(order(json!({"candidate": {"last_name": "é".repeat(200)}}))
            .check_limits()
            .is_ok());
    }

    #[test]
    fn kept_json_is_whole_or_cut_at_a_char_boundary() {
        let small = json!({"a": 1});
        assert_eq!(kept_json(&small, 100), small);
        let cut = kept_json(&json!({"name": "é".repeat(100)}), 21);
        let text = cut.as_str().unwrap();
        assert!(
            text.starts_with("{\"name\":\"é") && text.ends_with("(cut at 21 bytes)"),
            "{text}"
        );
    }

    #[test]
    fn pushed_results_are_bounded_too() {
        let update: UpdateResultRequest =
            serde_json::from_value(json!({"summary": "x".repeat(4097)})).unwrap();
        assert!(update.check_limits().unwrap_err().starts_with("summary"));
        let update: UpdateResultRequest = serde_json::from_value(
            json!({"result": {"value": "passed", "source_value": {"raw": "x".repeat(20_000)}}}),
        )
        .unwrap();
        assert!(update
            .check_limits()
            .unwrap_err()
            .starts_with("result.source_value"));
    }
}
