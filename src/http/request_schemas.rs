//! What the server requires of request bodies, stated in the document: the derived schemas say
//! the types, this adds what the derive cannot (required StackOne fields, the patterns of
//! `domain::patterns`, the account body per provider), so that a body the document allows is one
//! the server accepts and the other way round. StackOne's field names are kept.

use serde_json::{json, Value};

use crate::domain::{limits, patterns};

/// The strict body of `POST /unified/ats/assessments/orders`, under StackOne's DTO name.
pub const CREATE_ORDER: &str = "AtsCreateCandidatesAssessmentsRequestDto";

fn name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": patterns::NOT_BLANK,
           "description": "1 to 200 characters, not all blank"})
}

fn nullable(mut schema: Value) -> Value {
    let kind = schema["type"].clone();
    schema["type"] = json!([kind, "null"]);
    schema
}

fn flag() -> Value {
    json!({"type": ["boolean", "null"]})
}

/// Settings every provider reads.
fn common_settings() -> Value {
    json!({
        "pass_mark": {"type": ["number", "null"], "minimum": 0, "maximum": 100,
                      "description": "Score from which a completed result is `passed` (0 to 100)"},
        "validity": {"type": ["string", "null"], "pattern": patterns::VALIDITY,
                     "description": "How long an invitation stays open, one unit from 1s to 365d (e.g. 14d)"},
        "base_url": {"type": ["string", "null"], "pattern": patterns::ORIGIN,
                     "description": "The vendor's origin, e.g. for a regional instance"},
    })
}

fn settings(extra: Value) -> Value {
    let mut properties = common_settings();
    if let (Some(all), Some(extra)) = (properties.as_object_mut(), extra.as_object()) {
        all.extend(extra.clone());
    }
    json!({"type": "object", "properties": properties,
           "description": "Other keys are kept and ignored"})
}

fn non_blank_string() -> Value {
    json!({"type": "string", "pattern": patterns::NOT_BLANK})
}

/// One provider's account body.
fn account(provider: &str, credentials: Value, extra_settings: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "title": provider,
        "required": required,
        "properties": {
            "provider": {"type": "string", "enum": [provider]},
            "name": name(),
            "credentials": credentials,
            "settings": settings(extra_settings),
        }
    })
}

fn sandbox_credentials() -> Value {
    json!({"type": "object", "maxProperties": 0, "description": "The sandbox takes none"})
}

fn testgorilla_credentials() -> Value {
    json!({"type": "object", "anyOf": [
        {"required": ["token"], "properties": {"token": non_blank_string()}},
        {"required": ["username", "password"],
         "properties": {"username": non_blank_string(), "password": non_blank_string()}},
    ], "description": "TestGorilla's API token, or the username and password that obtain one"})
}

fn testinvite_credentials() -> Value {
    json!({"type": "object", "required": ["token"], "properties": {"token": non_blank_string()}})
}

fn imocha_credentials() -> Value {
    json!({"type": "object", "required": ["api_key"], "properties": {"api_key": non_blank_string()}})
}

fn create_account() -> Value {
    let (testgorilla_credentials, token, imocha_credentials) = (
        testgorilla_credentials(),
        testinvite_credentials(),
        imocha_credentials(),
    );
    json!({
        "description": "A linked account. Credentials are stored encrypted and never returned; credentials and settings are each at most 16 KB of JSON.",
        "oneOf": [
            account("sandbox", sandbox_credentials(),
                json!({"auto_complete_after": {"type": ["string", "null"], "pattern": patterns::UP_TO_A_DAY,
                       "description": "Complete each order by itself this long after the invitation (one unit, up to 1d)"}}),
                &["provider", "name"]),
            account("testgorilla", testgorilla_credentials,
                json!({"send_email": flag(), "send_rejection_email": flag()}),
                &["provider", "name", "credentials"]),
            account("testinvite", token,
                json!({"auth_header": {"type": ["string", "null"], "pattern": patterns::HEADER_NAME},
                       "auth_scheme": {"type": ["string", "null"]}, "lang": {"type": ["string", "null"]}}),
                &["provider", "name", "credentials"]),
            account("interviewmocha", imocha_credentials,
                json!({"send_email": flag(), "hide_instruction": flag(), "disable_mandatory_fields": flag(),
                       "list_test_links": flag(), "reattempt": flag(),
                       "test_link_id": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": crate::providers::interviewmocha::MAX_TEST_LINK_ID},
                                                  {"type": "string", "pattern": patterns::DIGITS}, {"type": "null"}]},
                       "redirect_url": {"type": ["string", "null"], "pattern": patterns::HTTP_URL, "maxLength": limits::URL}}),
                &["provider", "name", "credentials"]),
        ],
        "discriminator": {"propertyName": "provider"},
    })
}

/// The order body: `package.id` and one candidate email are required; lengths and formats as
/// `domain::limits` and `domain::patterns` check them.
fn create_order(derived: &Value, candidate: &Value) -> Value {
    let mut order = derived.clone();
    let text = |max: usize| json!({"type": ["string", "null"], "maxLength": max});
    order["required"] = json!(["package", "candidate"]);
    order["properties"]["package"] = json!({
        "type": "object", "required": ["id"],
        "properties": {
            "id": {"type": "string", "maxLength": limits::ID, "pattern": patterns::NOT_BLANK,
                   "description": "The vendor's package id (see GET /packages)"},
            "remote_id": text(limits::ID), "name": text(limits::NAME), "description": text(limits::TEXT),
        }
    });
    let mut candidate = candidate.clone();
    candidate["required"] = json!(["emails"]);
    candidate["properties"]["emails"] = json!({
        "type": "array", "maxItems": limits::ENTRIES,
        "items": {"$ref": "#/components/schemas/CandidateEmail"},
        "contains": {"type": "object", "required": ["value"],
                     "properties": {"value": {"type": "string", "maxLength": limits::EMAIL, "pattern": patterns::EMAIL}}},
        "description": "The first value that is an email address is the one the vendor gets"
    });
    order["properties"]["candidate"] = candidate;
    order["properties"]["results_update_url"] = json!({
        "type": ["string", "null"], "maxLength": limits::URL, "pattern": patterns::HTTP_URL,
        "description": "Where results are delivered; it must also resolve only to public addresses unless OUTBOUND_ALLOW_PRIVATE is set"
    });
    order
}

/// Rewrites the request schemas of `document` (the document as JSON: utoipa's model has no
/// `contains`) and points the order operation at the strict order body.
pub fn apply(document: &mut Value) {
    let schemas = &mut document["components"]["schemas"];
    schemas["NameRequest"]["properties"]["name"] = name();
    schemas["UpdateProjectRequest"]["properties"]["name"] = nullable(name());
    schemas["UpdateAccountRequest"]["properties"]["name"] = nullable(name());
    schemas["UpdateAccountRequest"]["properties"]["settings"] = nullable(json!({
        "type": "object", "properties": common_settings(),
        "description": "Merged into the settings (null removes one); the result must suit the account's provider as on creation"
    }));
    schemas["UpdateAccountRequest"]["properties"]["credentials"] = json!({
        "anyOf": [sandbox_credentials(), testgorilla_credentials(), testinvite_credentials(),
                  imocha_credentials(), {"type": "null"}],
        "description": "Replaces the stored credentials, in the shape of the account's provider (as on creation); another provider's shape answers 409"
    });
    schemas["ErasureRequest"]["properties"]["email"]["pattern"] = json!(patterns::NOT_BLANK);
    schemas["RotationRequest"]["properties"]["overlap"]["pattern"] = json!(patterns::OVERLAP);
    schemas["CreateAccountRequest"] = create_account();
    let order = create_order(&schemas["OrderRequest"], &schemas["OrderCandidate"]);
    schemas[CREATE_ORDER] = order;
    for date in ["start_date", "submission_date"] {
        schemas["UpdateResultRequest"]["properties"][date]["format"] = json!("date-time");
    }
    document["paths"]["/unified/ats/assessments/orders"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"] =
        json!({"$ref": format!("#/components/schemas/{CREATE_ORDER}")});
}
