//! Linked accounts per project: provider, name, settings and what this instance has seen of
//! their vendor; created and edited here. Credentials are write-only: never shown, replaced
//! only when new ones are given.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
    Form,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    error_page, orders::Choice, render, status_of, when, when_opt, with_status, with_subject,
    Chrome, Notice, Operator,
};
use crate::{
    domain::now,
    service::{audit::Target, tenancy::AccountPatch, Gateway, ServiceError},
    store::AccountRecord,
};

pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub settings: String,
    pub last_error: String,
    pub last_ok: String,
    pub errors_last_hour: usize,
}

pub struct ProjectAccounts {
    pub name: String,
    pub accounts: Vec<AccountRow>,
}

#[derive(Template)]
#[template(path = "console/accounts.html")]
struct Accounts {
    chrome: Chrome,
    projects: Vec<ProjectAccounts>,
    project_choices: Vec<Choice>,
    providers: Vec<&'static str>,
}

fn row(gateway: &Gateway, account: &AccountRecord) -> AccountRow {
    let health = gateway.health.of(account.id);
    AccountRow {
        id: account.id.to_string(),
        name: account.name.clone(),
        provider: account.provider.clone(),
        settings: serde_json::to_string(&account.settings).unwrap_or_default(),
        last_error: health
            .last_error
            .as_ref()
            .map(|(at, e)| format!("{}: {e}", when(*at)))
            .unwrap_or_default(),
        last_ok: when_opt(health.last_ok),
        errors_last_hour: health.errors_since(now() - chrono::Duration::hours(1)),
    }
}

async fn accounts_page(
    gateway: &Gateway,
    operator: &Operator,
    notice: Option<Notice>,
) -> Result<Accounts, ServiceError> {
    let mut projects = Vec::new();
    let mut project_choices = Vec::new();
    for project in gateway.store.list_projects().await? {
        let accounts = gateway.store.list_accounts(project.id).await?;
        project_choices.push(Choice {
            value: project.id.to_string(),
            label: project.name.clone(),
            selected: false,
        });
        projects.push(ProjectAccounts {
            name: project.name,
            accounts: accounts.iter().map(|a| row(gateway, a)).collect(),
        });
    }
    Ok(Accounts {
        chrome: operator.chrome(gateway, "Accounts", notice),
        projects,
        project_choices,
        providers: gateway.providers.names(),
    })
}

pub async fn list(operator: Operator, State(gateway): State<Gateway>) -> Response {
    match accounts_page(&gateway, &operator, None).await {
        Ok(page) => render(page),
        Err(error) => error_page(&operator, &gateway, error),
    }
}

/// A JSON object typed into a form (empty: `{}`).
fn json_object(field: &str, text: &str) -> Result<Value, ServiceError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(ServiceError::invalid(format!(
            "{field}: expected a JSON object such as {{\"token\": \"…\"}}"
        ))),
    }
}

#[derive(Deserialize)]
pub struct NewAccount {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project_id: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    credentials: String,
    #[serde(default)]
    settings: String,
}

pub async fn create(
    operator: Operator,
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Form(form): Form<NewAccount>,
) -> Response {
    if let Some(refused) = operator.refusal(&gateway, &headers, &form.csrf) {
        return refused;
    }
    let created = async {
        let project = Uuid::parse_str(form.project_id.trim())
            .map_err(|_| ServiceError::invalid("project: choose a project"))?;
        let credentials = json_object("credentials", &form.credentials)?;
        let settings = json_object("settings", &form.settings)?;
        gateway
            .create_account(project, &form.provider, &form.name, credentials, settings)
            .await
    }
    .await;
    let subject = created.as_ref().ok().map(|a| (a.id, a.project_id));
    let notice = match created {
        Ok(account) => Notice::ok(format!(
            "Account {} created ({}).",
            account.name, account.id
        )),
        Err(error) => Notice::failed("The account was not created", error),
    };
    let status = status_of(&notice);
    let page = match accounts_page(&gateway, &operator, notice).await {
        Ok(page) => with_status(status, render(page)),
        Err(error) => error_page(&operator, &gateway, error),
    };
    match subject {
        Some((account, project)) => with_subject(page, Target::Account(account), project),
        None => page,
    }
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountForm {
    chrome: Chrome,
    account: AccountRow,
    settings: String,
}

async fn account_page(
    gateway: &Gateway,
    operator: &Operator,
    id: &str,
    notice: Option<Notice>,
) -> Result<AccountForm, ServiceError> {
    let id = Uuid::parse_str(id)
        .map_err(|_| ServiceError::not_found(format!("no linked account with id '{id}'")))?;
    let account = gateway.account(id).await?;
    Ok(AccountForm {
        chrome: operator.chrome(gateway, &format!("Account {}", account.name), notice),
        settings: serde_json::to_string_pretty(&account.settings).unwrap_or_default(),
        account: row(gateway, &account),
    })
}

pub async fn edit(
    operator: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Response {
    match account_page(&gateway, &operator, &id, None).await {
        Ok(page) => render(page),
        Err(error) => error_page(&operator, &gateway, error),
    }
}

#[derive(Deserialize)]
pub struct AccountChange {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    credentials: String,
    #[serde(default)]
    settings: String,
}

pub async fn update(
    operator: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AccountChange>,
) -> Response {
    if let Some(refused) = operator.refusal(&gateway, &headers, &form.csrf) {
        return refused;
    }
    let updated = async {
        let id = Uuid::parse_str(&id)
            .map_err(|_| ServiceError::not_found(format!("no linked account with id '{id}'")))?;
        let current = gateway.account(id).await?;
        let wanted = json_object("settings", &form.settings)?;
        // The form shows every setting: one taken out of it is removed.
        let mut changes = wanted.as_object().cloned().unwrap_or_default();
        for key in current
            .settings
            .as_object()
            .into_iter()
            .flat_map(|s| s.keys())
        {
            changes.entry(key.clone()).or_insert(Value::Null);
        }
        let credentials = (!form.credentials.trim().is_empty())
            .then(|| json_object("credentials", &form.credentials))
            .transpose()?;
        gateway
            .update_account(
                id,
                AccountPatch {
                    name: Some(form.name.clone()),
                    credentials,
                    settings: Some(changes),
                },
            )
            .await
    }
    .await;
    let notice = match updated {
        Ok(_) => Notice::ok("Saved."),
        Err(error) => Notice::failed("Not saved", error),
    };
    let status = status_of(&notice);
    match account_page(&gateway, &operator, &id, notice).await {
        Ok(page) => with_status(status, render(page)),
        Err(error) => error_page(&operator, &gateway, error),
    }
}
