//! Deliveries: by status (dead first when there are any) and project; one sent again, or every
//! dead one of a project (bounded, and reported).

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::Response,
    Form,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    error_page, orders, render, status_of, when, when_opt, with_status, Chrome, Notice, Operator,
};
use crate::{
    service::{deliveries::BULK_RETRY_LIMIT, Gateway, ServiceError},
    store::{DeliveryFilter, DeliveryStatus},
};

const PAGE_SIZE: i64 = 100;
const STATUSES: [&str; 4] = ["dead", "pending", "delivered", "superseded"];

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    project_id: Option<String>,
}

pub struct Row {
    pub id: String,
    pub order_id: String,
    pub project: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt: String,
    pub last_error: String,
    pub created: String,
    pub dead: bool,
}

pub struct ProjectDead {
    pub id: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "console/deliveries.html")]
struct Deliveries {
    chrome: Chrome,
    status: String,
    statuses: Vec<orders::Choice>,
    projects: Vec<orders::Choice>,
    rows: Vec<Row>,
    with_dead: Vec<ProjectDead>,
    bulk_limit: usize,
}

fn parse_status(value: &str) -> Option<DeliveryStatus> {
    DeliveryStatus::parse(value)
}

async fn deliveries_page(
    gateway: &Gateway,
    operator: &Operator,
    query: &ListQuery,
    notice: Option<Notice>,
) -> Result<Deliveries, ServiceError> {
    let projects = gateway.store.list_projects().await?;
    let project_id = query
        .project_id
        .as_deref()
        .and_then(|p| Uuid::parse_str(p.trim()).ok());
    let mut with_dead = Vec::new();
    for project in &projects {
        let dead = gateway
            .store
            .list_deliveries(&DeliveryFilter {
                status: Some(DeliveryStatus::Dead),
                project_id: Some(project.id),
                limit: 1,
                ..Default::default()
            })
            .await?;
        if !dead.is_empty() {
            with_dead.push(ProjectDead {
                id: project.id.to_string(),
                name: project.name.clone(),
            });
        }
    }
    // Dead first when there are any: they are what an operator has to act on.
    let status = match query.status.as_deref().map(str::trim) {
        Some("all") => None,
        Some(s) if !s.is_empty() => parse_status(s),
        _ if !with_dead.is_empty() => Some(DeliveryStatus::Dead),
        _ => None,
    };
    let records = gateway
        .store
        .list_deliveries(&DeliveryFilter {
            status,
            project_id,
            limit: PAGE_SIZE,
            ..Default::default()
        })
        .await?;
    let name_of = |id: Uuid| {
        projects
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    };
    let shown = status.map_or("all", |s| s.as_str()).to_string();
    Ok(Deliveries {
        chrome: operator.chrome(gateway, "Deliveries", notice),
        statuses: STATUSES
            .iter()
            .chain(["all"].iter())
            .map(|s| orders::Choice {
                value: s.to_string(),
                label: s.to_string(),
                selected: *s == shown,
            })
            .collect(),
        status: shown,
        projects: projects
            .iter()
            .map(|p| orders::Choice {
                value: p.id.to_string(),
                label: p.name.clone(),
                selected: Some(p.id) == project_id,
            })
            .collect(),
        rows: records
            .iter()
            .map(|d| Row {
                id: d.id.to_string(),
                order_id: d.order_id.to_string(),
                project: name_of(d.project_id),
                status: d.status.as_str().to_string(),
                dead: d.status == DeliveryStatus::Dead,
                attempts: d.attempts,
                next_attempt: when_opt(d.next_attempt_at),
                last_error: d.last_error.clone().unwrap_or_default(),
                created: when(d.created_at),
            })
            .collect(),
        with_dead,
        bulk_limit: BULK_RETRY_LIMIT,
    })
}

pub async fn list(
    operator: Operator,
    State(gateway): State<Gateway>,
    Query(query): Query<ListQuery>,
) -> Response {
    match deliveries_page(&gateway, &operator, &query, None).await {
        Ok(page) => render(page),
        Err(error) => error_page(&operator, &gateway, error),
    }
}

#[derive(Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    csrf: String,
    /// Set when the retry was asked from an order's page, to go back there.
    order_id: Option<String>,
}

pub async fn retry(
    operator: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RetryForm>,
) -> Response {
    if let Some(refused) = operator.refusal(&gateway, &headers, &form.csrf) {
        return refused;
    }
    let retried = match Uuid::parse_str(&id) {
        Ok(id) => gateway.retry_delivery(id).await,
        Err(_) => Err(ServiceError::not_found(format!(
            "no delivery with id '{id}'"
        ))),
    };
    let notice = match retried {
        Ok(()) => Notice::ok("Queued: the delivery is sent again now."),
        Err(error) => Notice::failed("Retry failed", error),
    };
    let status = status_of(&notice);
    if let Some(order) = form
        .order_id
        .as_deref()
        .and_then(|o| Uuid::parse_str(o).ok())
    {
        return match orders::order_page(&gateway, &operator, order, notice).await {
            Ok(page) => with_status(status, render(page)),
            Err(error) => error_page(&operator, &gateway, error),
        };
    }
    match deliveries_page(&gateway, &operator, &ListQuery::default(), notice).await {
        Ok(page) => with_status(status, render(page)),
        Err(error) => error_page(&operator, &gateway, error),
    }
}

#[derive(Deserialize)]
pub struct RetryDeadForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project_id: String,
}

pub async fn retry_dead(
    operator: Operator,
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Form(form): Form<RetryDeadForm>,
) -> Response {
    if let Some(refused) = operator.refusal(&gateway, &headers, &form.csrf) {
        return refused;
    }
    let outcome = match Uuid::parse_str(form.project_id.trim()) {
        Ok(project) => gateway.retry_dead_deliveries(project).await,
        Err(_) => Err(ServiceError::invalid("project_id: not a project id")),
    };
    let notice = match outcome {
        Ok(done) => Notice::ok(format!(
            "{} dead deliveries queued to be sent again{}{}.",
            done.retried,
            if done.skipped > 0 {
                format!(
                    "; {} not, because a newer state of their order is sent instead",
                    done.skipped
                )
            } else {
                String::new()
            },
            if done.more {
                format!("; more were dead than the {BULK_RETRY_LIMIT} one retry takes: retry again")
            } else {
                String::new()
            }
        )),
        Err(error) => Notice::failed("Retry failed", error),
    };
    let status = status_of(&notice);
    let query = ListQuery {
        status: Some("all".into()),
        project_id: Some(form.project_id),
    };
    match deliveries_page(&gateway, &operator, &query, notice).await {
        Ok(page) => with_status(status, render(page)),
        Err(error) => error_page(&operator, &gateway, error),
    }
}
