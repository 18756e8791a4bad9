//! Vendor list endpoints as the vendors document them, doing the less convenient thing where the
//! documents are silent or contradict themselves: undocumented filters are ignored, and pages
//! hold at most the documented default number of items, whatever `limit` asks for.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

fn query(request: &Request, key: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn number(request: &Request, key: &str, default: usize) -> usize {
    query(request, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A shared, changeable list of items behind a fake endpoint.
#[derive(Clone, Default)]
pub struct Items(Arc<Mutex<Vec<Value>>>);

impl Items {
    pub fn new(items: Vec<Value>) -> Self {
        Self(Arc::new(Mutex::new(items)))
    }

    pub fn set(&self, items: Vec<Value>) {
        *self.0.lock().unwrap() = items;
    }

    /// Changes the item whose `key` is `id`.
    pub fn update(&self, key: &str, id: Value, change: impl FnOnce(&mut Value)) {
        let mut items = self.0.lock().unwrap();
        let item = items
            .iter_mut()
            .find(|i| i[key] == id)
            .expect("the item to change");
        change(item);
    }

    pub fn remove(&self, key: &str, id: Value) {
        self.0.lock().unwrap().retain(|i| i[key] != id);
    }

    fn snapshot(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }
}

/// `GET /api/assessments/candidature/` (TestGorilla, seed 000): `assessment` required, `status`
/// and `stage` filters, `ordering` by `created` (`-` for newest first; by id otherwise),
/// `limit` (default 10) and `offset`, DRF's `{count, next, previous, results}`. Every other filter
/// (`search`, `test_taker`) is ignored, and a page never holds more than 10 items.
#[derive(Clone)]
pub struct TgCandidatures {
    pub items: Items,
    pub assessment: String,
}

impl TgCandidatures {
    pub fn new(assessment: &str, items: Vec<Value>) -> Self {
        Self {
            items: Items::new(items),
            assessment: assessment.into(),
        }
    }

    pub async fn mount(&self, fake: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/api/assessments/candidature/"))
            .respond_with(self.clone())
            .mount(fake)
            .await;
    }
}

impl Respond for TgCandidatures {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Some(assessment) = query(request, "assessment") else {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"assessment": ["This field is required."]}));
        };
        let mut items: Vec<Value> = if assessment == self.assessment {
            self.items.snapshot()
        } else {
            Vec::new()
        };
        if let Some(status) = query(request, "status") {
            items.retain(|i| i["status"] == status.as_str());
        }
        if let Some(stage) = query(request, "stage") {
            items.retain(|i| i["stage"] == stage.as_str());
        }
        let created = |i: &Value| {
            i["created"]
                .as_str()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        };
        match query(request, "ordering").as_deref() {
            Some("created") => items.sort_by_key(created),
            Some("-created") => items.sort_by_key(|i| std::cmp::Reverse(created(i))),
            _ => items.sort_by_key(|i| i["id"].as_u64()),
        }
        let limit = number(request, "limit", 10).min(10);
        let offset = number(request, "offset", 0);
        let count = items.len();
        let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
        let link = |offset: usize| {
            let mut url = request.url.clone();
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "offset" && k != "limit")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(pairs)
                .append_pair("limit", &limit.to_string())
                .append_pair("offset", &offset.to_string());
            url.to_string()
        };
        let next = (offset + limit < count).then(|| link(offset + limit));
        let previous = (offset > 0).then(|| link(offset.saturating_sub(limit)));
        ResponseTemplate::new(200).set_body_json(
            json!({"count": count, "next": next, "previous": previous, "results": page}),
        )
    }
}

/// A TestInvite REST v1 list (reference/providers.md §2.3–2.6): `{<key>: […], pagination:
/// {totalItems, totalPages, currentPage, limit, next, previous}}` with `page` (from 1), at most 10
/// items a page whatever `limit` asks. Only the `honoured` filters apply, exactly and
/// case-sensitively as documented; any other query key is ignored.
#[derive(Clone)]
pub struct TiList {
    pub items: Items,
    key: &'static str,
    honoured: &'static [&'static str],
}

impl TiList {
    /// `GET /tasks/:taskId/candidates`, honouring its documented `fullname`, `email`, `code`.
    pub fn candidates(items: Vec<Value>) -> Self {
        Self {
            items: Items::new(items),
            key: "candidates",
            honoured: &["fullname", "email", "code"],
        }
    }

    /// `GET /tasks/:taskId/test-instances`: its candidate filter is documented under two names
    /// (`candidateId`, `ticketId`), so this fake honours neither.
    pub fn test_instances(items: Vec<Value>) -> Self {
        Self {
            items: Items::new(items),
            key: "testInstances",
            honoured: &[],
        }
    }

    /// Serves the list at `path` (under `/api/integration/rest/v1`).
    pub async fn mount(&self, fake: &MockServer, list_path: &str) {
        Mock::given(method("GET"))
            .and(path(format!("/api/integration/rest/v1{list_path}")))
            .respond_with(self.clone())
            .mount(fake)
            .await;
    }
}

impl Respond for TiList {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut items = self.items.snapshot();
        fn filter_key(filter: &str) -> &str {
            match filter {
                "code" => "invitationCode",
                other => other,
            }
        }
        for filter in self.honoured {
            if let Some(value) = query(request, filter) {
                items.retain(|i| i[filter_key(filter)] == value.as_str());
            }
        }
        let limit = number(request, "limit", 10).min(10);
        let page = number(request, "page", 1).max(1);
        let total = items.len();
        let pages = total.div_ceil(limit).max(1);
        let shown: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * limit)
            .take(limit)
            .collect();
        let link = |page: usize| format!("?limit={limit}&page={page}");
        ResponseTemplate::new(200).set_body_json(json!({
            self.key: shown,
            "pagination": {"totalItems": total, "totalPages": pages, "currentPage": page, "limit": limit,
                           "next": (page < pages).then(|| link(page + 1)),
                           "previous": (page > 1).then(|| link(page - 1))}
        }))
    }
}
