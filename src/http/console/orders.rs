//! Orders: the list (newest first, filters, one search box, pages) and one order with its
//! result, timeline and deliveries, and the operator's actions on it.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::Response,
    Form,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{error_page, render, status_of, when, when_opt, with_status, Chrome, Notice, Operator};
use crate::{
    domain::OrderStatus,
    providers::ProviderKind,
    service::{results::current_result, Gateway, ServiceError},
    store::{DeliveryFilter, OrderFilter, OrderRecord},
};

const PAGE_SIZE: usize = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    project_id: Option<String>,
    account_id: Option<String>,
    provider: Option<String>,
    status: Option<String>,
    q: Option<String>,
    next: Option<String>,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct OrderRow {
    pub id: String,
    pub created: String,
    pub status: String,
    pub provider: String,
    pub email: String,
    pub package: String,
    pub client_order_id: String,
    pub remote_id: String,
}

#[derive(Template)]
#[template(path = "console/orders.html")]
struct OrderList {
    chrome: Chrome,
    projects: Vec<Choice>,
    providers: Vec<Choice>,
    statuses: Vec<Choice>,
    account_id: String,
    q: String,
    rows: Vec<OrderRow>,
    next_link: Option<String>,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn choices(
    values: impl IntoIterator<Item = (String, String)>,
    selected: Option<&str>,
) -> Vec<Choice> {
    values
        .into_iter()
        .map(|(value, label)| Choice {
            selected: selected == Some(value.as_str()),
            value,
            label,
        })
        .collect()
}

/// The candidate's email as the console shows it.
fn shown_email(order: &OrderRecord) -> String {
    match order.erased_at {
        Some(_) => "[erased]".to_string(),
        None => order.candidate_email.clone(),
    }
}

fn row(order: &OrderRecord) -> OrderRow {
    OrderRow {
        id: order.id.to_string(),
        created: when(order.created_at),
        status: order.status.to_string(),
        provider: order.provider.clone(),
        email: shown_email(order),
        package: order.package_id.clone(),
        client_order_id: order.client_key.clone().unwrap_or_default(),
        remote_id: order.remote_id.clone().unwrap_or_default(),
    }
}

async fn order_list(
    gateway: &Gateway,
    operator: &Operator,
    query: &ListQuery,
) -> Result<OrderList, ServiceError> {
    let uuid = |v: &Option<String>| non_empty(v).and_then(|v| Uuid::parse_str(v).ok());
    let status = non_empty(&query.status).and_then(OrderStatus::parse);
    let filter = OrderFilter {
        project_id: uuid(&query.project_id),
        account_id: uuid(&query.account_id),
        status,
        provider: non_empty(&query.provider).map(str::to_string),
        before: uuid(&query.next),
        limit: PAGE_SIZE as i64 + 1,
        search: non_empty(&query.q).map(str::to_string),
    };
    let mut orders = gateway.store.list_orders(&filter).await?;
    let more = orders.len() > PAGE_SIZE;
    orders.truncate(PAGE_SIZE);
    let next_link = more.then(|| {
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("project_id", &query.project_id),
            ("account_id", &query.account_id),
            ("provider", &query.provider),
            ("status", &query.status),
            ("q", &query.q),
        ] {
            if let Some(value) = non_empty(value) {
                link.append_pair(key, value);
            }
        }
        if let Some(last) = orders.last() {
            link.append_pair("next", &last.id.to_string());
        }
        format!("/console/orders?{}", link.finish())
    });
    let projects = gateway.store.list_projects().await?;
    Ok(OrderList {
        chrome: operator.chrome(gateway, "Orders", None),
        projects: choices(
            projects.into_iter().map(|p| (p.id.to_string(), p.name)),
            non_empty(&query.project_id),
        ),
        providers: choices(
            ProviderKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), k.as_str().to_string())),
            non_empty(&query.provider),
        ),
        statuses: choices(
            OrderStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), s.as_str().to_string())),
            non_empty(&query.status),
        ),
        account_id: non_empty(&query.account_id).unwrap_or_default().to_string(),
        q: non_empty(&query.q).unwrap_or_default().to_string(),
        rows: orders.iter().map(row).collect(),
        next_link,
    })
}

pub async fn list(
    operator: Operator,
    State(gateway): State<Gateway>,
    Query(query): Query<ListQuery>,
) -> Response {
    match order_list(&gateway, &operator, &query).await {
        Ok(page) => render(page),
        Err(error) => error_page(&operator, &gateway, error),
    }
}

pub struct Event {
    pub at: String,
    pub change: String,
    pub message: String,
}

pub struct Attempt {
    pub at: String,
    pub status: String,
    pub duration_ms: i64,
    pub answer: String,
    pub error: String,
}

pub struct DeliveryBox {
    pub id: String,
    pub url: String,
    pub status: String,
    pub attempts: Vec<Attempt>,
    pub next_attempt: String,
    pub last_error: String,
    pub dead: bool,
}

#[derive(Template)]
#[template(path = "console/order.html")]
pub struct OrderPage {
    chrome: Chrome,
    order: OrderRow,
    account_id: String,
    project_id: String,
    candidate: String,
    job: String,
    test_url: String,
    /// Whether the test link is an http(s) URL (a vendor's answer is never trusted as a link).
    test_url_is_link: bool,
    results_update_url: String,
    failure_reason: String,
    score: String,
    verdict: String,
    source: String,
    result: String,
    events: Vec<Event>,
    deliveries: Vec<DeliveryBox>,
    can_cancel: bool,
    can_refresh: bool,
    can_reject: bool,
}

/// One order's page, with what the last action did.
pub async fn order_page(
    gateway: &Gateway,
    operator: &Operator,
    id: Uuid,
    notice: Option<Notice>,
) -> Result<OrderPage, ServiceError> {
    let order = gateway
        .store
        .get_order(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("no order with id '{id}'")))?;
    let events = gateway.store.list_order_events(id).await?;
    let mut deliveries = Vec::new();
    let filter = DeliveryFilter {
        order_id: Some(id),
        limit: 100,
        ..Default::default()
    };
    for delivery in gateway.store.list_deliveries(&filter).await? {
        let attempts = gateway.store.list_attempts(delivery.id).await?;
        deliveries.push(DeliveryBox {
            id: delivery.id.to_string(),
            url: delivery.url.clone(),
            status: delivery.status.as_str().to_string(),
            dead: delivery.status.as_str() == "dead",
            next_attempt: when_opt(delivery.next_attempt_at),
            last_error: delivery.last_error.clone().unwrap_or_default(),
            attempts: attempts
                .into_iter()
                .map(|a| Attempt {
                    at: when(a.at),
                    status: a
                        .status_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "—".into()),
                    duration_ms: a.duration_ms,
                    answer: a
                        .response_body
                        .map(|b| b.chars().take(300).collect())
                        .unwrap_or_default(),
                    error: a.error.unwrap_or_default(),
                })
                .collect(),
        });
    }
    let result = current_result(&order);
    let request = &order.request;
    let candidate = match order.erased_at {
        Some(at) => format!("erased on request or by retention, {}", when(at)),
        None => [
            request.full_name().unwrap_or_default(),
            format!("<{}>", order.candidate_email),
        ]
        .join(" "),
    };
    let job = request
        .job
        .as_ref()
        .map(|j| {
            format!(
                "{} ({})",
                j.title.clone().unwrap_or_default(),
                j.id.clone().unwrap_or_default()
            )
        })
        .unwrap_or_default();
    Ok(OrderPage {
        chrome: operator.chrome(gateway, &format!("Order {}", order.id), notice),
        account_id: order.account_id.to_string(),
        project_id: order.project_id.to_string(),
        candidate,
        job,
        test_url: order.test_url.clone().unwrap_or_default(),
        test_url_is_link: order
            .test_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://")),
        results_update_url: order.results_update_url.clone().unwrap_or_default(),
        failure_reason: order.failure_reason.clone().unwrap_or_default(),
        score: result
            .score
            .as_ref()
            .and_then(|s| s.value.clone())
            .map(|v| format!("{v} / 100"))
            .unwrap_or_default(),
        verdict: result
            .result
            .as_ref()
            .and_then(|r| r.value.clone())
            .unwrap_or_default(),
        source: result
            .result
            .as_ref()
            .and_then(|r| r.source_value.as_ref())
            .and_then(|v| serde_json::to_string_pretty(v).ok())
            .unwrap_or_default(),
        result: serde_json::to_string_pretty(&result).unwrap_or_default(),
        events: events
            .into_iter()
            .map(|e| Event {
                at: when(e.at),
                change: match e.from_status {
                    Some(from) => format!("{from} → {}", e.to_status),
                    None => e.to_status.to_string(),
                },
                message: e.message,
            })
            .collect(),
        deliveries,
        can_cancel: order.status.is_open(),
        can_refresh: order.status.is_placed(),
        can_reject: order.provider == ProviderKind::TestGorilla.as_str()
            && matches!(
                order.status,
                OrderStatus::Invited | OrderStatus::InProgress | OrderStatus::Completed
            ),
        order: row(&order),
    })
}

fn order_id(id: &str) -> Result<Uuid, ServiceError> {
    Uuid::parse_str(id).map_err(|_| ServiceError::not_found(format!("no order with id '{id}'")))
}

pub async fn show(
    operator: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Response {
    let page = match order_id(&id) {
        Ok(id) => order_page(&gateway, &operator, id, None).await,
        Err(error) => Err(error),
    };
    match page {
        Ok(page) => render(page),
        Err(error) => error_page(&operator, &gateway, error),
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

pub async fn act(
    operator: Operator,
    State(gateway): State<Gateway>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(refused) = operator.refusal(&gateway, &headers, &form.csrf) {
        return refused;
    }
    let id = match order_id(&id) {
        Ok(id) => id,
        Err(error) => return error_page(&operator, &gateway, error),
    };
    let outcome = match action.as_str() {
        "cancel" => gateway
            .cancel_order(id)
            .await
            .map(|o| format!("Cancelled at the vendor: the order is {}.", o.status)),
        "refresh" => gateway
            .refresh_order(id)
            .await
            .map(|o| format!("Read from the vendor: the order is {}.", o.status)),
        "reject" => gateway
            .reject_order(id)
            .await
            .map(|_| "Rejected at the vendor.".to_string()),
        other => Err(ServiceError::not_found(format!("no action '{other}'"))),
    };
    let notice = match outcome {
        Ok(done) => Notice::ok(done),
        Err(error) => Notice::failed(&format!("{action} failed"), error),
    };
    let status = status_of(&notice);
    match order_page(&gateway, &operator, id, notice).await {
        Ok(page) => with_status(status, render(page)),
        Err(error) => error_page(&operator, &gateway, error),
    }
}
