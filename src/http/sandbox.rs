//! The sandbox provider's candidate pages: the `test_url` of a sandbox order.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Router,
};
use serde::Deserialize;

use crate::{
    domain::OrderStatus,
    providers::sandbox::TEST_PAGE_PATH,
    service::{results::current_result, Gateway, ServiceError},
    store::OrderRecord,
};

pub fn routes() -> Router<Gateway> {
    Router::new()
        .route(&format!("{TEST_PAGE_PATH}/{{token}}"), get(show_test))
        .route(
            &format!("{TEST_PAGE_PATH}/{{token}}/start"),
            post(start_test),
        )
        .route(
            &format!("{TEST_PAGE_PATH}/{{token}}/submit"),
            post(submit_test),
        )
}

#[derive(Debug, Deserialize)]
pub struct Submission {
    pub score: String,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}\
         .note{{color:#666;font-size:.9em}}button{{font-size:1rem;padding:.4rem 1rem}}</style></head>\
         <body><h1>{title}</h1>{body}<p class=\"note\">This is the assessment gateway's sandbox: a simulated vendor for trying the flow end to end.</p></body></html>",
        title = escape(title),
    )
}

fn error_page(error: ServiceError) -> Response {
    let (status, message) = match &error {
        ServiceError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
        ServiceError::Invalid(m) => (StatusCode::BAD_REQUEST, m.clone()),
        ServiceError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
        other => {
            tracing::error!(error = %other, "sandbox page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "something went wrong".to_string(),
            )
        }
    };
    (
        status,
        Html(page(
            "Sandbox test",
            &format!("<p>{}</p>", escape(&message)),
        )),
    )
        .into_response()
}

fn render(order: &OrderRecord) -> String {
    let request = &order.request;
    let package = request
        .package
        .as_ref()
        .and_then(|p| p.name.clone())
        .unwrap_or_else(|| order.package_id.clone());
    let candidate = request
        .full_name()
        .unwrap_or_else(|| order.candidate_email.clone());
    let token = escape(order.remote_id.as_deref().unwrap_or_default());
    let intro = format!(
        "<p>Candidate: <strong>{}</strong><br>Test: <strong>{}</strong></p>",
        escape(&candidate),
        escape(&package)
    );
    let action = match order.status {
        OrderStatus::Invited => format!(
            "<p>The test has not started yet.</p>\
             <form method=\"post\" action=\"{TEST_PAGE_PATH}/{token}/start\"><button type=\"submit\">Start the test</button></form>"
        ),
        OrderStatus::InProgress => format!(
            "<p>The test is in progress. Choose the score to submit.</p>\
             <form method=\"post\" action=\"{TEST_PAGE_PATH}/{token}/submit\">\
             <label>Score (0–100) <input name=\"score\" type=\"number\" min=\"0\" max=\"100\" step=\"0.01\" value=\"75\" required></label> \
             <button type=\"submit\">Submit the test</button></form>"
        ),
        status => {
            let result = current_result(order);
            let verdict = result.result.and_then(|r| r.value).unwrap_or_else(|| status.to_string());
            let score = result
                .score
                .and_then(|s| s.value)
                .map(|v| format!(" with a score of <strong>{}</strong>", escape(&v)))
                .unwrap_or_default();
            format!("<p>This test is over: <strong>{}</strong>{score}.</p>", escape(&verdict))
        }
    };
    page("Sandbox test", &format!("{intro}{action}"))
}

#[utoipa::path(get, path = "/sandbox/tests/{token}", tag = "Sandbox", params(("token" = String, Path, description = "The token of a sandbox test link")),
    responses((status = 200, description = "The candidate's test page", content_type = "text/html"), (status = 404, description = "Unknown link", content_type = "text/html")))]
pub async fn show_test(State(gateway): State<Gateway>, Path(token): Path<String>) -> Response {
    match gateway.sandbox_order(&token).await {
        Ok(order) => Html(render(&order)).into_response(),
        Err(error) => error_page(error),
    }
}

#[utoipa::path(post, path = "/sandbox/tests/{token}/start", tag = "Sandbox", params(("token" = String, Path)),
    responses((status = 303, description = "Started; back to the test page"), (status = 404, description = "Unknown link", content_type = "text/html")))]
pub async fn start_test(State(gateway): State<Gateway>, Path(token): Path<String>) -> Response {
    match gateway.sandbox_start(&token).await {
        Ok(_) => Redirect::to(&format!("{TEST_PAGE_PATH}/{token}")).into_response(),
        Err(error) => error_page(error),
    }
}

#[utoipa::path(post, path = "/sandbox/tests/{token}/submit", tag = "Sandbox", params(("token" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "score=<0..100>"),
    responses((status = 303, description = "Submitted; back to the test page"), (status = 400, description = "Bad score", content_type = "text/html"),
              (status = 409, description = "The test is over", content_type = "text/html")))]
pub async fn submit_test(
    State(gateway): State<Gateway>,
    Path(token): Path<String>,
    Form(form): Form<Submission>,
) -> Response {
    let Ok(score) = form.score.trim().parse::<f64>() else {
        return error_page(ServiceError::invalid(
            "score: expected a number from 0 to 100",
        ));
    };
    match gateway.sandbox_submit(&token, score).await {
        Ok(_) => Redirect::to(&format!("{TEST_PAGE_PATH}/{token}")).into_response(),
        Err(error) => error_page(error),
    }
}
