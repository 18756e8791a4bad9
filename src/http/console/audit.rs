//! The audit trail: operators' actions, newest first, by project and action, a page at a time.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::Response,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{error_page, orders::Choice, render, when, Chrome, Operator};
use crate::{
    service::{audit::ACTIONS, Gateway, ServiceError},
    store::AuditFilter,
};

const PAGE_SIZE: usize = 100;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    project_id: Option<String>,
    action: Option<String>,
    /// The id of the last event of the previous page.
    before: Option<String>,
}

pub struct Row {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub project: String,
    pub outcome: String,
    pub status_code: i32,
    pub request_id: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct Audit {
    chrome: Chrome,
    projects: Vec<Choice>,
    actions: Vec<Choice>,
    rows: Vec<Row>,
    /// The query of the next page, when there is one.
    older: Option<String>,
}

async fn audit_page(
    gateway: &Gateway,
    operator: &Operator,
    query: &AuditQuery,
) -> Result<Audit, ServiceError> {
    let projects = gateway.store.list_projects().await?;
    let project_id = query
        .project_id
        .as_deref()
        .and_then(|p| Uuid::parse_str(p.trim()).ok());
    let action = query
        .action
        .as_deref()
        .map(str::trim)
        .filter(|a| ACTIONS.contains(a));
    let mut events = gateway
        .audit_events(&AuditFilter {
            project_id,
            action: action.map(str::to_string),
            before: query.before.as_deref().and_then(|b| b.trim().parse().ok()),
            limit: PAGE_SIZE as i64 + 1,
        })
        .await?;
    let older = (events.len() > PAGE_SIZE).then(|| {
        events.truncate(PAGE_SIZE);
        let last = events.last().map_or(0, |e| e.id);
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        if let Some(project) = project_id {
            url.append_pair("project_id", &project.to_string());
        }
        if let Some(action) = action {
            url.append_pair("action", action);
        }
        url.append_pair("before", &last.to_string());
        url.finish()
    });
    let name_of = |id: Option<Uuid>| {
        id.and_then(|id| projects.iter().find(|p| p.id == id))
            .map(|p| p.name.clone())
            .unwrap_or_default()
    };
    Ok(Audit {
        chrome: operator.chrome(gateway, "Audit", None),
        rows: events
            .into_iter()
            .map(|e| Row {
                at: when(e.event.at),
                project: name_of(e.event.project_id),
                actor: e.event.actor,
                action: e.event.action,
                target: e.event.target.unwrap_or_default(),
                outcome: e.event.outcome,
                status_code: e.event.status_code,
                request_id: e.event.request_id.unwrap_or_default(),
            })
            .collect(),
        projects: projects
            .iter()
            .map(|p| Choice {
                value: p.id.to_string(),
                label: p.name.clone(),
                selected: Some(p.id) == project_id,
            })
            .collect(),
        actions: ACTIONS
            .iter()
            .map(|a| Choice {
                value: a.to_string(),
                label: a.to_string(),
                selected: Some(*a) == action,
            })
            .collect(),
        older,
    })
}

pub async fn list(
    operator: Operator,
    State(gateway): State<Gateway>,
    Query(query): Query<AuditQuery>,
) -> Response {
    match audit_page(&gateway, &operator, &query).await {
        Ok(page) => render(page),
        Err(error) => error_page(&operator, &gateway, error),
    }
}
