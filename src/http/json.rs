//! Reading JSON bodies so that every mistake is a StackOne 400 naming the field.

use axum::body::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// Parses `bytes` as `T`, keeping the parsed `Value` as well (e.g. to hash the request).
pub fn parse_json<T: DeserializeOwned>(bytes: &Bytes) -> Result<(T, Value), ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body: expected a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "request body: expected a JSON object",
        ));
    }
    // Postgres cannot store U+0000 in text or jsonb: refused on every database alike.
    if holds_nul(&value) {
        return Err(ApiError::bad_request(
            "request body: strings must not contain U+0000",
        ));
    }
    let typed = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            ApiError::bad_request(format!("request body: {inner}"))
        } else {
            ApiError::bad_request(format!("{path}: {inner}"))
        }
    })?;
    Ok((typed, value))
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderRequest;

    #[test]
    fn a_wrong_type_names_the_field() {
        let body = Bytes::from_static(br#"{"candidate": {"emails": [{"value": 42}]}}"#);
        let err = parse_json::<OrderRequest>(&body).unwrap_err();
        assert!(
            err.message.starts_with("candidate.emails[0].value:"),
            "{}",
            err.message
        );
    }

    #[test]
    fn malformed_and_non_object_bodies_are_refused() {
        assert!(parse_json::<OrderRequest>(&Bytes::from_static(b"{")).is_err());
        assert!(parse_json::<OrderRequest>(&Bytes::from_static(b"[1]")).is_err());
        assert!(parse_json::<OrderRequest>(&Bytes::from_static(b"")).is_err());
        let nul = Bytes::from_static(br#"{"candidate": {"first_name": "A\u0000"}}"#);
        assert!(parse_json::<OrderRequest>(&nul).is_err());
        let (order, _) =
            parse_json::<OrderRequest>(&Bytes::from_static(br#"{"package": null, "extra": 1}"#))
                .unwrap();
        assert!(order.package.is_none());
    }
}
