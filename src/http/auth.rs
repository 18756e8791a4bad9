//! Who is calling: an ATS with an API key and a linked account, or an operator.

use axum::{
    extract::FromRequestParts,
    http::{header::AUTHORIZATION, request::Parts, HeaderMap},
};
use base64::{engine::general_purpose::STANDARD, Engine};

use super::error::ApiError;
use crate::{
    crypto::constant_time_eq,
    service::{tenancy::Caller, Gateway},
};

pub const ACCOUNT_HEADER: &str = "x-account-id";

/// The API key of `Authorization: Basic base64("<key>:")` (the password is ignored).
fn basic_api_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            "missing Authorization header: expected Basic base64(\"<api key>:\")",
        )
    })?;
    let garbled = || {
        ApiError::unauthorized(
            "malformed Authorization header: expected Basic base64(\"<api key>:\")",
        )
    };
    let text = value.to_str().map_err(|_| garbled())?.trim();
    let (scheme, encoded) = text.split_once(' ').ok_or_else(garbled)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(garbled());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| garbled())?;
    let decoded = String::from_utf8(decoded).map_err(|_| garbled())?;
    let key = decoded
        .split_once(':')
        .map_or(decoded.as_str(), |(user, _)| user);
    if key.is_empty() {
        return Err(garbled());
    }
    Ok(key.to_string())
}

/// An authenticated unified API call on one linked account of the key's project.
pub struct UnifiedCaller(pub Caller);

impl FromRequestParts<Gateway> for UnifiedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Gateway,
    ) -> Result<Self, Self::Rejection> {
        let key = basic_api_key(&parts.headers)?;
        let project_id = gateway.authenticate(&key).await?;
        let account_id = parts
            .headers
            .get(ACCOUNT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::bad_request("x-account-id header is required"))?;
        Ok(Self(gateway.caller(project_id, account_id).await?))
    }
}

/// An operator presenting `Authorization: Bearer $ADMIN_TOKEN`.
pub struct Operator;

impl FromRequestParts<Gateway> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Gateway,
    ) -> Result<Self, Self::Rejection> {
        operator_token(gateway, &parts.headers).map(|()| Self)
    }
}

/// Whether `headers` carry the admin token; the refusal says what is wrong.
pub fn operator_token(gateway: &Gateway, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <ADMIN_TOKEN>"))?;
    let expected = gateway.config.admin_token.expose();
    if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("the admin token is not valid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_key_is_the_basic_username() {
        let encoded = STANDARD.encode("agw_abc:");
        assert_eq!(
            basic_api_key(&headers(&format!("Basic {encoded}"))).unwrap(),
            "agw_abc"
        );
        let encoded = STANDARD.encode("agw_abc:ignored");
        assert_eq!(
            basic_api_key(&headers(&format!("basic {encoded}"))).unwrap(),
            "agw_abc"
        );
    }

    #[test]
    fn garbled_headers_are_unauthorized() {
        for value in [
            "Basic",
            "Basic !!!",
            "Bearer abc",
            &format!("Basic {}", STANDARD.encode(":pw")),
        ] {
            let err = basic_api_key(&headers(value)).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::UNAUTHORIZED, "{value}");
        }
        assert!(basic_api_key(&HeaderMap::new()).is_err());
    }
}
