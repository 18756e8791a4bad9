//! `/console/login`: the admin token for a session; `/console/logout` ends it.

use std::{net::SocketAddr, sync::Arc};

use askama::Template;
use axum::{
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};
use serde::Deserialize;

use super::{render, session, Operator};
use crate::{http::audit::SignedIn, service::Gateway};

#[derive(Template)]
#[template(path = "console/login.html")]
struct SignIn {
    error: Option<String>,
}

pub async fn form(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    if session::session_of(&gateway, &headers).is_some() {
        return Redirect::to("/console").into_response();
    }
    render(SignIn { error: None })
}

#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    token: String,
}

pub async fn submit(
    State(gateway): State<Gateway>,
    Extension(throttle): Extension<Arc<session::SignInThrottle>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(credentials): Form<Credentials>,
) -> Response {
    let client = client.ip();
    if !throttle.may_try(client) {
        let page = SignIn {
            error: Some("Too many wrong tokens from this address: wait a minute.".into()),
        };
        return (StatusCode::TOO_MANY_REQUESTS, render(page)).into_response();
    }
    if !session::same_origin(&gateway, &headers) {
        let page = SignIn {
            error: Some("This form did not come from the console's own page.".into()),
        };
        return (StatusCode::FORBIDDEN, render(page)).into_response();
    }
    if !session::is_admin_token(&gateway, &credentials.token) {
        throttle.failed(client);
        let page = SignIn {
            error: Some("That is not the admin token.".into()),
        };
        return (StatusCode::UNAUTHORIZED, render(page)).into_response();
    }
    let session = session::new_session(&gateway);
    let cookie = session::set_cookie(&gateway, Some(&session));
    (
        [(header::SET_COOKIE, cookie)],
        Extension(SignedIn(session::public_id(&session))),
        Redirect::to("/console"),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct Token {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    operator: Operator,
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Form(form): Form<Token>,
) -> Response {
    if let Some(refused) = operator.refusal(&gateway, &headers, &form.csrf) {
        return refused;
    }
    (
        [(header::SET_COOKIE, session::set_cookie(&gateway, None))],
        Redirect::to("/console/login"),
    )
        .into_response()
}
