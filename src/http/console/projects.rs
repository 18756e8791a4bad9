//! Projects and their API keys: a new project's signing secret and a new key are shown once,
//! here, and never again; keys are revoked at once.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
    Form,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    error_page, render, status_of, when, when_opt, with_status, with_subject, Chrome, Notice,
    Operator,
};
use crate::service::{audit::Target, Gateway, ServiceError};

pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub revoked: String,
}

pub struct ProjectBox {
    pub id: String,
    pub name: String,
    pub created: String,
    pub keys: Vec<KeyRow>,
}

/// A secret shown this once.
pub struct Shown {
    pub what: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "console/projects.html")]
struct Projects {
    chrome: Chrome,
    projects: Vec<ProjectBox>,
    shown: Option<Shown>,
}

async fn projects_page(
    gateway: &Gateway,
    operator: &Operator,
    notice: Option<Notice>,
    shown: Option<Shown>,
) -> Result<Projects, ServiceError> {
    let mut projects = Vec::new();
    for project in gateway.store.list_projects().await? {
        let keys = gateway.store.list_api_keys(project.id).await?;
        projects.push(ProjectBox {
            id: project.id.to_string(),
            name: project.name,
            created: when(project.created_at),
            keys: keys
                .into_iter()
                .map(|k| KeyRow {
                    id: k.id.to_string(),
                    name: k.name,
                    prefix: k.key_prefix,
                    created: when(k.created_at),
                    revoked: when_opt(k.revoked_at),
                })
                .collect(),
        });
    }
    Ok(Projects {
        chrome: operator.chrome(gateway, "Projects", notice),
        projects,
        shown,
    })
}

async fn respond(
    gateway: &Gateway,
    operator: &Operator,
    notice: Option<Notice>,
    shown: Option<Shown>,
) -> Response {
    let status = status_of(&notice);
    match projects_page(gateway, operator, notice, shown).await {
        Ok(page) => with_status(status, render(page)),
        Err(error) => error_page(operator, gateway, error),
    }
}

pub async fn list(operator: Operator, State(gateway): State<Gateway>) -> Response {
    respond(&gateway, &operator, None, None).await
}

#[derive(Deserialize)]
pub struct Named {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn create(
    operator: Operator,
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Form(form): Form<Named>,
) -> Response {
    if let Some(refused) = operator.refusal(&gateway, &headers, &form.csrf) {
        return refused;
    }
    match gateway.create_project(&form.name).await {
        Ok(created) => {
            let id = created.project.id;
            let shown = Shown {
                what: format!("Signing secret of {}", created.project.name),
                value: created.signing_secret.expose().clone(),
            };
            let page = respond(
                &gateway,
                &operator,
                Notice::ok("Project created. Copy its signing secret now: it is not shown again."),
                Some(shown),
            )
            .await;
            with_subject(page, Target::Project(id), id)
        }
        Err(error) => {
            let notice = Notice::failed("The project was not created", error);
            respond(&gateway, &operator, notice, None).await
        }
    }
}

pub async fn create_key(
    operator: Operator,
    State(gateway): State<Gateway>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Named>,
) -> Response {
    if let Some(refused) = operator.refusal(&gateway, &headers, &form.csrf) {
        return refused;
    }
    let created = match Uuid::parse_str(&project) {
        Ok(project) => gateway.create_api_key(project, &form.name).await,
        Err(_) => Err(ServiceError::not_found(format!(
            "no project with id '{project}'"
        ))),
    };
    match created {
        Ok(key) => {
            let subject = (key.record.id, key.record.project_id);
            let shown = Shown {
                what: format!("API key {}", key.record.name),
                value: key.key.expose().clone(),
            };
            let page = respond(
                &gateway,
                &operator,
                Notice::ok("API key created. Copy it now: it is not shown again."),
                Some(shown),
            )
            .await;
            with_subject(page, Target::ApiKey(subject.0), subject.1)
        }
        Err(error) => {
            let notice = Notice::failed("The key was not created", error);
            respond(&gateway, &operator, notice, None).await
        }
    }
}

#[derive(Deserialize)]
pub struct Token {
    #[serde(default)]
    csrf: String,
}

pub async fn revoke_key(
    operator: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Token>,
) -> Response {
    if let Some(refused) = operator.refusal(&gateway, &headers, &form.csrf) {
        return refused;
    }
    let revoked = match Uuid::parse_str(&id) {
        Ok(id) => gateway.revoke_api_key(id).await,
        Err(_) => Err(ServiceError::not_found(format!(
            "no API key with id '{id}'"
        ))),
    };
    let subject = revoked.as_ref().ok().map(|k| (k.id, k.project_id));
    let notice = match revoked {
        Ok(_) => Notice::ok("API key revoked: it stops working at once."),
        Err(error) => Notice::failed("Not revoked", error),
    };
    let page = respond(&gateway, &operator, notice, None).await;
    match subject {
        Some((key, project)) => with_subject(page, Target::ApiKey(key), project),
        None => page,
    }
}
