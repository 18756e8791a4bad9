//! `x-request-id`: the caller's (when sane) or a new one, on every response and in every log line
//! written for the request, its vendor calls included.

mod common;

use common::{binary::Binary, stackone_order, vendor_tenant, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

async fn a_request_id_is_returned_and_in_every_log_line_of_its_request(db: TestDb) {
    let gateway = Binary::start(
        &db,
        &[("RUST_LOG", "debug,sqlx=warn,hyper=warn,reqwest=warn")],
    )
    .await;
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 8000, "testtaker_id": 1,
            "status": "invited", "invitation_link": "https://assessment.testgorilla.com/testtaker/takeinvitation/8000"})))
        .mount(&fake)
        .await;
    let tenant = vendor_tenant(
        &gateway,
        "testgorilla",
        json!({"token": "t"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    let sent = gateway
        .unified(
            reqwest::Method::POST,
            "/unified/ats/assessments/orders",
            &tenant,
        )
        .header("x-request-id", "ats-req-0042")
        .json(&stackone_order("rid-1", "ada@example.com", "32"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    assert_eq!(sent.headers()["x-request-id"], "ats-req-0042");

    // An id that is not a plain token is replaced; one is made when none is sent.
    let forged = gateway
        .client
        .get(format!("{}/healthz", gateway.url))
        .header("x-request-id", "x\", \"level\": \"ERROR")
        .send()
        .await
        .unwrap();
    let replaced = forged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
    let fresh = gateway
        .client
        .get(format!("{}/nowhere", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::NOT_FOUND);
    assert!(uuid::Uuid::parse_str(fresh.headers()["x-request-id"].to_str().unwrap()).is_ok());

    let log = gateway.stop();
    let of_request = |line: &Value, id: &str| {
        line["spans"]
            .as_array()
            .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == id))
    };
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| of_request(l, "ats-req-0042"))
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"started processing request"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"vendor call"),
        "the vendor call is logged within the request: {messages:?}"
    );
    // Every line logged inside a request's span names the request.
    for line in log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let spans = line["spans"].as_array().cloned().unwrap_or_default();
        if let Some(request) = spans.iter().find(|s| s["name"] == "request") {
            assert!(request["request_id"].is_string(), "{line}");
        }
    }
}

on_both_databases!(a_request_id_is_returned_and_in_every_log_line_of_its_request);
