//! With `OTEL_EXPORTER_OTLP_ENDPOINT`, spans of each request, vendor call, poll and delivery
//! attempt reach an OTLP/HTTP collector (here a local receiver taking `POST /v1/traces`).

mod common;

use std::time::Duration;

use common::{binary::Binary, eventually, expect_json, stackone_order, vendor_tenant, TestDb};
use reqwest::StatusCode;
use serde_json::json;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

async fn spans_reach_the_collector(db: TestDb) {
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let gateway = Binary::start(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.uri()),
            ("POLL_INTERVAL", "1s"),
        ],
    )
    .await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    // A sandbox order completes by itself (a poll) and is delivered (a delivery attempt).
    let sandbox = gateway
        .create_tenant_with("sandbox", json!({}), json!({"auto_complete_after": "1s"}))
        .await;
    let mut body = stackone_order("t-1", "ada@example.com", "sandbox-coding");
    body["results_update_url"] = json!(format!("{}/results", receiver.uri()));
    expect_json(gateway.order(&sandbox, &body).await, StatusCode::OK).await;
    // A vendor call.
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 8000, "testtaker_id": 1, "status": "invited",
            "invitation_link": "https://assessment.testgorilla.com/testtaker/takeinvitation/8000"})))
        .mount(&vendor)
        .await;
    let tg = vendor_tenant(
        &gateway,
        "testgorilla",
        json!({"token": "t"}),
        &vendor.uri(),
        json!({}),
    )
    .await;
    expect_json(
        gateway
            .order(&tg, &stackone_order("t-2", "bob@example.com", "32"))
            .await,
        StatusCode::OK,
    )
    .await;
    eventually(Duration::from_secs(15), || async {
        (!receiver
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty())
        .then_some(())
    })
    .await;
    let log = gateway.stop();

    let exported: Vec<u8> = collector
        .received_requests()
        .await
        .unwrap()
        .iter()
        .flat_map(|r| {
            assert_eq!(r.headers["content-type"], "application/x-protobuf");
            r.body.clone()
        })
        .collect();
    let exported = String::from_utf8_lossy(&exported);
    for name in [
        "assessment-gateway",
        "request",
        "vendor_call",
        "poll",
        "delivery",
    ] {
        assert!(
            exported.contains(name),
            "no {name} in the exported spans; log:\n{log}"
        );
    }
}

on_both_databases!(spans_reach_the_collector);
