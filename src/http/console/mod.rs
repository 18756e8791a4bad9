//! The operator console under `/console`: server-rendered pages (askama templates in
//! `templates/console`, escaped everywhere), a stylesheet of its own, no script and no CDN.
//! Every page but the sign-in needs the session (`session.rs`); every form that changes
//! something carries the session's form token and must come from the console's own origin.

mod accounts;
mod audit;
mod deliveries;
mod orders;
mod overview;
mod projects;
mod session;
mod sign_in;

use std::sync::Arc;

use askama::Template;
use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Extension, Router,
};
use chrono::{DateTime, Utc};

use crate::{
    domain::rfc3339,
    http::audit::Subject,
    service::{audit::Target, Gateway, ServiceError},
};

pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/console", get(overview::page))
        .route("/console/login", get(sign_in::form).post(sign_in::submit))
        .route("/console/logout", post(sign_in::sign_out))
        .route("/console/static/console.css", get(stylesheet))
        .route("/console/orders", get(orders::list))
        .route("/console/orders/{id}", get(orders::show))
        .route("/console/orders/{id}/{action}", post(orders::act))
        .route("/console/deliveries", get(deliveries::list))
        .route(
            "/console/deliveries/retry-dead",
            post(deliveries::retry_dead),
        )
        .route("/console/deliveries/{id}/retry", post(deliveries::retry))
        .route(
            "/console/accounts",
            get(accounts::list).post(accounts::create),
        )
        .route(
            "/console/accounts/{id}",
            get(accounts::edit).post(accounts::update),
        )
        .route(
            "/console/projects",
            get(projects::list).post(projects::create),
        )
        .route("/console/projects/{id}/keys", post(projects::create_key))
        .route("/console/keys/{id}/revoke", post(projects::revoke_key))
        .route("/console/audit", get(audit::list))
        .layer(Extension(Arc::new(session::SignInThrottle::default())))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../templates/console/console.css"),
    )
        .into_response()
}

/// The audit trail's name for the session a request carries, when it carries a genuine one.
pub(super) fn session_actor(gateway: &Gateway, headers: &HeaderMap) -> Option<String> {
    session::session_of(gateway, headers).map(|session| session::public_id(&session))
}

/// An operator signed in to the console.
pub struct Operator {
    session: String,
}

impl FromRequestParts<Gateway> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Gateway,
    ) -> Result<Self, Self::Rejection> {
        session::session_of(gateway, &parts.headers)
            .map(|session| Self { session })
            .ok_or_else(|| Redirect::to("/console/login").into_response())
    }
}

impl Operator {
    /// What every page shows around its content.
    fn chrome(&self, gateway: &Gateway, title: &str, notice: Option<Notice>) -> Chrome {
        Chrome {
            title: title.to_string(),
            form_token: session::form_token(gateway, &self.session),
            notice,
        }
    }

    /// The refusal of a state-changing request that did not come from the console's own form;
    /// `None` when it did.
    fn refusal(&self, gateway: &Gateway, headers: &HeaderMap, token: &str) -> Option<Response> {
        if session::same_origin(gateway, headers)
            && session::form_token_ok(gateway, &self.session, token)
        {
            return None;
        }
        Some(
            (
                StatusCode::FORBIDDEN,
                Html("<!doctype html><title>Refused</title><h1>Refused</h1><p>This form did not come from the console's own page. Nothing was changed.</p>"),
            )
                .into_response(),
        )
    }
}

/// The page title, the form token, and a message about what the last action did.
pub struct Chrome {
    pub title: String,
    pub form_token: String,
    pub notice: Option<Notice>,
}

pub struct Notice {
    /// `ok` or `error` (a CSS class).
    pub kind: &'static str,
    pub text: String,
    /// The status of the page that shows it: a page telling of a failure is not a 200.
    pub status: StatusCode,
}

impl Notice {
    pub fn ok(text: impl Into<String>) -> Option<Self> {
        Some(Self {
            kind: "ok",
            text: text.into(),
            status: StatusCode::OK,
        })
    }

    /// `what` went wrong, and why.
    pub fn failed(what: &str, error: ServiceError) -> Option<Self> {
        let error = crate::http::error::ApiError::from(error);
        Some(Self {
            kind: "error",
            text: format!("{what}: {} ({})", error.message, error.status.as_u16()),
            status: error.status,
        })
    }
}

/// The status of a page showing `notice`.
fn status_of(notice: &Option<Notice>) -> StatusCode {
    notice.as_ref().map_or(StatusCode::OK, |n| n.status)
}

/// `page` answered with `status`, unless it is itself a failure.
fn with_status(status: StatusCode, mut page: Response) -> Response {
    if page.status() == StatusCode::OK {
        *page.status_mut() = status;
    }
    page
}

/// `page`, telling the audit trail what the form created or acted on.
fn with_subject(mut page: Response, target: Target, project_id: uuid::Uuid) -> Response {
    page.extensions_mut().insert(Subject { target, project_id });
    page
}

fn render(page: impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "a console page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A page that could not be made: the error, inside the console's frame.
fn error_page(operator: &Operator, gateway: &Gateway, error: ServiceError) -> Response {
    #[derive(Template)]
    #[template(path = "console/error.html")]
    struct ErrorPage {
        chrome: Chrome,
    }
    let notice = Notice::failed("This page cannot be shown", error);
    let status = status_of(&notice);
    with_status(
        status,
        render(ErrorPage {
            chrome: operator.chrome(gateway, "Something went wrong", notice),
        }),
    )
}

fn when(at: DateTime<Utc>) -> String {
    rfc3339(at)
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

fn when_opt(at: Option<DateTime<Utc>>) -> String {
    at.map(when).unwrap_or_default()
}
