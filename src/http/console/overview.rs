//! The overview: orders by status over the last day and week per provider, the delivery backlog,
//! and the vendor errors of the last hour per linked account.

use std::collections::BTreeMap;

use askama::Template;
use axum::{extract::State, response::Response};

use super::{error_page, render, Chrome, Operator};
use crate::{
    domain::{now, OrderStatus},
    service::{Gateway, ServiceError},
};

pub struct CountRow {
    pub provider: String,
    pub counts: Vec<i64>,
    pub total: i64,
}

pub struct CountTable {
    pub caption: &'static str,
    pub rows: Vec<CountRow>,
}

pub struct VendorErrors {
    pub account_id: String,
    pub account: String,
    pub project: String,
    pub provider: String,
    pub errors: usize,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Overview {
    chrome: Chrome,
    statuses: Vec<&'static str>,
    tables: Vec<CountTable>,
    pending: i64,
    dead: i64,
    due_polls: i64,
    vendor_errors: Vec<VendorErrors>,
}

async fn counts(gateway: &Gateway, days: i64) -> Result<Vec<CountRow>, ServiceError> {
    let since = now() - chrono::Duration::days(days);
    let mut rows: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (provider, status, count) in gateway.store.order_counts_since(since).await? {
        let row = rows
            .entry(provider)
            .or_insert_with(|| vec![0; OrderStatus::ALL.len()]);
        if let Some(i) = OrderStatus::ALL.iter().position(|s| *s == status) {
            row[i] += count;
        }
    }
    Ok(rows
        .into_iter()
        .map(|(provider, counts)| CountRow {
            total: counts.iter().sum(),
            provider,
            counts,
        })
        .collect())
}

async fn overview(gateway: &Gateway, operator: &Operator) -> Result<Overview, ServiceError> {
    let backlog = gateway.store.backlog(now()).await?;
    let hour_ago = now() - chrono::Duration::hours(1);
    let mut vendor_errors = Vec::new();
    for project in gateway.store.list_projects().await? {
        for account in gateway.store.list_accounts(project.id).await? {
            let health = gateway.health.of(account.id);
            let errors = health.errors_since(hour_ago);
            if errors > 0 {
                vendor_errors.push(VendorErrors {
                    account_id: account.id.to_string(),
                    account: account.name,
                    project: project.name.clone(),
                    provider: account.provider,
                    errors,
                    last_error: health.last_error.map(|(_, e)| e).unwrap_or_default(),
                });
            }
        }
    }
    Ok(Overview {
        chrome: operator.chrome(gateway, "Overview", None),
        statuses: OrderStatus::ALL.iter().map(|s| s.as_str()).collect(),
        tables: vec![
            CountTable {
                caption: "Orders of the last 24 hours",
                rows: counts(gateway, 1).await?,
            },
            CountTable {
                caption: "Orders of the last 7 days",
                rows: counts(gateway, 7).await?,
            },
        ],
        pending: backlog.pending_deliveries,
        dead: backlog.dead_deliveries,
        due_polls: backlog.due_polls,
        vendor_errors,
    })
}

pub async fn page(operator: Operator, State(gateway): State<Gateway>) -> Response {
    match overview(&gateway, &operator).await {
        Ok(page) => render(page),
        Err(error) => error_page(&operator, &gateway, error),
    }
}
