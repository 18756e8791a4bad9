//! Authenticating TestGorilla calls: the account's static token, or a session token from logging
//! in with its username and password (reference/providers.md §1.2), kept for those credentials
//! only and renewed on a 401.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{unreadable, TestGorilla, DEFAULT_BASE_URL};
use crate::providers::{
    http::{Call, Reply},
    AccountContext, ProviderError,
};

/// What a call does, for the metrics: the endpoint of its budget (every TestGorilla call but the
/// login has one), from the fixed set of `budget`'s names.
fn operation_of(call: &Call) -> &'static str {
    const OPERATIONS: [&str; 8] = [
        "list_assessments",
        "get_assessment",
        "invite",
        "list_candidatures",
        "delete_candidature",
        "change_stage",
        "send_reminder",
        "results",
    ];
    let endpoint = call
        .budget
        .as_ref()
        .and_then(|b| b.key.rsplit(':').next())
        .unwrap_or_default();
    OPERATIONS
        .into_iter()
        .find(|operation| *operation == endpoint)
        .unwrap_or("other")
}

/// A token from logging in, with the fingerprint of the credentials it was obtained with.
pub(super) struct SessionToken {
    credentials: String,
    token: String,
}

/// A digest of what a login depends on; the token is only reused while it is the same.
fn login_fingerprint(account: &AccountContext, username: &str, password: &str) -> String {
    crate::crypto::sha256_hex(&format!(
        "{}\n{username}\n{password}",
        account.base_url(DEFAULT_BASE_URL)
    ))
}

impl TestGorilla {
    async fn token(&self, account: &AccountContext, fresh: bool) -> Result<String, ProviderError> {
        if let Some(token) = account.credential("token") {
            return Ok(token.to_string());
        }
        let (Some(username), Some(password)) = (
            account.credential("username"),
            account.credential("password"),
        ) else {
            return Err(ProviderError::CredentialsRefused {
                message: "the linked account has no TestGorilla token nor username and password"
                    .into(),
                detail: None,
            });
        };
        let fingerprint = login_fingerprint(account, username, password);
        if !fresh {
            if let Some(session) = self.session_tokens.lock().await.get(&account.id) {
                if session.credentials == fingerprint {
                    return Ok(session.token.clone());
                }
            }
        }
        let call = Call::new(
            Method::POST,
            format!("{}/api/profiles/login/", account.base_url(DEFAULT_BASE_URL)),
        )
        .header("origin", "https://app.testgorilla.com")
        .json(json!({"username": username, "password": password}))
        .labelled("testgorilla", "login");
        let reply = self.http.send(&call).await?.ok()?;
        let token = reply.body["token"]
            .as_str()
            .ok_or_else(|| unreadable("the login answer has no token"))?
            .to_string();
        self.session_tokens.lock().await.insert(
            account.id.clone(),
            SessionToken {
                credentials: fingerprint,
                token: token.clone(),
            },
        );
        Ok(token)
    }

    /// Sends an authenticated call; with username and password, a 401 logs in again once.
    pub(super) async fn send(
        &self,
        account: &AccountContext,
        call: Call,
    ) -> Result<Reply, ProviderError> {
        let operation = operation_of(&call);
        let call = call.labelled("testgorilla", operation);
        let token = self.token(account, false).await?;
        let reply = self
            .http
            .send(
                &call
                    .clone()
                    .header("authorization", format!("Token {token}")),
            )
            .await?;
        if reply.status == StatusCode::UNAUTHORIZED && account.credential("token").is_none() {
            let token = self.token(account, true).await?;
            return self
                .http
                .send(&call.header("authorization", format!("Token {token}")))
                .await;
        }
        Ok(reply)
    }
}
