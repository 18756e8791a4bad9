//! iMocha's error answers as its error page documents them (reference/providers.md §3.9): a 403 is
//! "API key doesn't have permission … or operation on resource is invalid", a 429 "too many
//! requests hit API too quickly or quota assigned has been exhausted". Each pair is told apart by
//! iMocha's own words; without them the message says both, and the classification is the one
//! that does no harm (a refusal of the request, a rate limit that is retried later).

use crate::providers::{http::Reply, ProviderError};

fn said(reply: &Reply) -> (String, String) {
    let words = reply.vendor_message().unwrap_or_default();
    let lower = words.to_ascii_lowercase();
    let shown = if words.is_empty() {
        String::new()
    } else {
        format!(": {words}")
    };
    (shown, lower)
}

/// `reply` if 2xx, else its error in iMocha's terms.
pub(super) fn checked(reply: Reply) -> Result<Reply, ProviderError> {
    if reply.is_success() {
        return Ok(reply);
    }
    let (shown, lower) = said(&reply);
    let names_the_key = ["permission", "api key", "apikey", "subscription"]
        .iter()
        .any(|w| lower.contains(w));
    match reply.status.as_u16() {
        403 if names_the_key => Err(ProviderError::CredentialsRefused {
            message: format!("InterviewMocha answered 403{shown}"),
            detail: Some(reply.detail()),
        }),
        403 => Err(ProviderError::Rejected {
            message: format!(
                "InterviewMocha refused the operation (403: the API key lacks permission for it, \
                 or the operation is invalid for the resource){shown}"
            ),
            detail: Some(reply.detail()),
        }),
        429 if lower.contains("quota") => Err(ProviderError::QuotaExhausted {
            message: format!("InterviewMocha's request quota for this account is exhausted{shown}"),
            detail: Some(reply.detail()),
        }),
        _ => Err(reply.error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::{header::HeaderMap, StatusCode};
    use serde_json::{json, Value};

    fn reply(status: u16, body: Value) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            url: "https://apiv3.imocha.io/v3/x".into(),
            headers: HeaderMap::new(),
            body,
        }
    }

    #[test]
    fn a_403_is_credentials_only_when_imocha_says_so() {
        assert!(matches!(
            checked(reply(
                403,
                json!({"errors": ["API key doesn't have permission"]})
            )),
            Err(ProviderError::CredentialsRefused { .. })
        ));
        match checked(reply(
            403,
            json!({"errors": ["Operation on resource is invalid"]}),
        )) {
            Err(ProviderError::Rejected { message, .. }) => {
                assert!(
                    message.contains("Operation on resource is invalid"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            checked(reply(403, Value::Null)),
            Err(ProviderError::Rejected { .. })
        ));
    }

    #[test]
    fn a_spent_quota_is_not_a_rate_limit() {
        assert!(matches!(
            checked(reply(
                429,
                json!({"errors": ["Quota assigned has been exhausted"]})
            )),
            Err(ProviderError::QuotaExhausted { .. })
        ));
        assert!(matches!(
            checked(reply(429, json!({"errors": ["Too many requests"]}))),
            Err(ProviderError::RateLimited { .. })
        ));
        assert!(checked(reply(201, json!({}))).is_ok());
    }
}
