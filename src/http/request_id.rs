//! `x-request-id`: the caller's, when it is a sane token, else a new one; returned on every
//! response and recorded on the request's span, so every log line written for the request (its
//! vendor calls included) carries it.

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a caller's id can be used as it is: 1 to 128 characters of letters, digits and
/// `-_.:`, nothing that could forge a log line or carry a payload.
fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The request's id: kept when sane, else a new UUID.
pub fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane(id))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Sets the request's id on the request (for the span made after it) and on the response.
pub async fn propagate(mut request: Request, next: Next) -> Response {
    let id = request_id(&request);
    let value = HeaderValue::from_str(&id).ok();
    if let Some(value) = &value {
        request.headers_mut().insert(HEADER, value.clone());
    }
    let mut response = next.run(request).await;
    if let Some(value) = value {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::is_sane;

    #[test]
    fn only_plain_tokens_are_taken() {
        assert!(is_sane("req-123_abc.def:9"));
        assert!(is_sane("01a2385f-7fdb-76ec-b805-d5e247560539"));
        for bad in ["", "a b", "x\ny", "{\"json\":1}", &"a".repeat(129), "é"] {
            assert!(!is_sane(bad), "{bad:?}");
        }
    }
}
