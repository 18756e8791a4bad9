//! Console sign-in: the admin token, checked once, becomes a session cookie (`HttpOnly`,
//! `SameSite=Strict`, `Secure` when `PUBLIC_URL` is https, 12 hours). The cookie is signed with
//! a key derived from `MASTER_KEY` and the admin token, so changing either ends every session.
//! Each state-changing form carries a token derived from the session (a page of another site
//! cannot know it), and a request from another origin is refused whatever it carries. Wrong
//! tokens: at most 5 a minute per client address.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::http::{header, HeaderMap};

use crate::{crypto::constant_time_eq, service::Gateway};

pub const COOKIE: &str = "agw_console";
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Wrong admin tokens allowed per client address per `THROTTLE_WINDOW`.
const MAX_FAILED_SIGN_INS: usize = 5;
const THROTTLE_WINDOW: Duration = Duration::from_secs(60);

fn mac(gateway: &Gateway, purpose: &str) -> String {
    let key_of_token = crate::crypto::sha256_hex(gateway.config.admin_token.expose());
    crate::crypto::derive_token(
        gateway.config.master_key.expose(),
        &format!("console:{key_of_token}:{purpose}"),
    )
}

/// A new session's cookie value: its expiry (Unix seconds) and the signature of it.
pub fn new_session(gateway: &Gateway) -> String {
    let expires = chrono::Utc::now().timestamp() + LIFETIME.as_secs() as i64;
    format!("{expires}.{}", mac(gateway, &format!("session:{expires}")))
}

/// The session cookie of a request, when it is genuine and not expired.
pub fn session_of(gateway: &Gateway, headers: &HeaderMap) -> Option<String> {
    let value = cookie(headers, COOKIE)?;
    let (expires, signature) = value.split_once('.')?;
    let expires: i64 = expires.parse().ok()?;
    let expected = mac(gateway, &format!("session:{expires}"));
    (constant_time_eq(signature.as_bytes(), expected.as_bytes())
        && expires > chrono::Utc::now().timestamp())
    .then_some(value)
}

/// How the audit trail names a session: a digest of it, which cannot be used as the cookie.
pub fn public_id(session: &str) -> String {
    let digest = crate::crypto::sha256_hex(session);
    format!("console:{}", &digest[..16])
}

/// The token forms of this session carry.
pub fn form_token(gateway: &Gateway, session: &str) -> String {
    mac(gateway, &format!("form:{session}"))
}

pub fn form_token_ok(gateway: &Gateway, session: &str, presented: &str) -> bool {
    constant_time_eq(
        presented.as_bytes(),
        form_token(gateway, session).as_bytes(),
    )
}

/// Whether a state-changing request comes from the console's own pages: an `Origin` (or, without
/// one, a `Referer`) of another site is refused; a request with neither relies on the form token.
pub fn same_origin(gateway: &Gateway, headers: &HeaderMap) -> bool {
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(from) = from else {
        return true;
    };
    let Ok(from) = url::Url::parse(from) else {
        return false;
    };
    let origin = |url: &url::Url| {
        (
            url.scheme().to_string(),
            url.host_str().map(str::to_string),
            url.port_or_known_default(),
        )
    };
    if origin(&from) == origin(&gateway.config.public_url) {
        return true;
    }
    // The host the browser addressed (a gateway reached under another name than PUBLIC_URL).
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    host.is_some_and(|host| {
        let authority = match from.port() {
            Some(port) => format!("{}:{port}", from.host_str().unwrap_or_default()),
            None => from.host_str().unwrap_or_default().to_string(),
        };
        authority.eq_ignore_ascii_case(host)
    })
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value of a session (`None`: the cookie that ends it).
pub fn set_cookie(gateway: &Gateway, session: Option<&str>) -> String {
    let secure = if gateway.config.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    match session {
        Some(value) => format!(
            "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            LIFETIME.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// Wrong sign-ins per client address.
#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl SignInThrottle {
    /// Whether `client` may try now (fewer than 5 wrong tokens in the last minute).
    pub fn may_try(&self, client: IpAddr) -> bool {
        let Ok(mut failures) = self.failures.lock() else {
            return false;
        };
        let recent = failures.entry(client).or_default();
        while recent
            .front()
            .is_some_and(|at| at.elapsed() > THROTTLE_WINDOW)
        {
            recent.pop_front();
        }
        recent.len() < MAX_FAILED_SIGN_INS
    }

    pub fn failed(&self, client: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() > 10_000 {
                failures.retain(|_, r| r.back().is_some_and(|at| at.elapsed() < THROTTLE_WINDOW));
            }
            failures
                .entry(client)
                .or_default()
                .push_back(Instant::now());
        }
    }
}

/// Whether `presented` is the admin token.
pub fn is_admin_token(gateway: &Gateway, presented: &str) -> bool {
    constant_time_eq(
        presented.trim().as_bytes(),
        gateway.config.admin_token.expose().as_bytes(),
    )
}
