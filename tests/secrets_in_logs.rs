//! No secret reaches the log, at any level: the real binary with `RUST_LOG=trace` takes an
//! order, a vendor callback, a sandbox test page, a signed delivery and admin calls, and its
//! whole output holds none of the API key, admin token, master key, signing secret, vendor key,
//! callback token or sandbox token.

mod common;

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine};
use common::{
    binary::{Binary, MASTER_KEY},
    eventually, expect_json, stackone_order, vendor_tenant, TestDb, ADMIN_TOKEN,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

const VENDOR_KEY: &str = "imocha-vendor-key-0123456789";

async fn no_secret_reaches_the_log(db: TestDb) {
    let gateway = Binary::start(
        &db,
        &[("RUST_LOG", "trace"), ("CALLBACK_REREAD_DELAY", "0s")],
    )
    .await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"testInvitationId": 77, "testUrl": "https://test.imocha.io/x", "status": "Pending"}),
        ))
        .mount(&vendor)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/reports/77"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"testInvitationId": 77, "status": "Complete", "scorePercentage": 80}),
        ))
        .mount(&vendor)
        .await;

    // A sandbox order, taken on its test page, delivered signed to the ATS.
    let sandbox = gateway.create_tenant().await;
    let mut body = stackone_order("logs-1", "ada@example.com", "sandbox-coding");
    body["results_update_url"] = json!(format!("{}/results", receiver.uri()));
    let created = expect_json(gateway.order(&sandbox, &body).await, StatusCode::OK).await;
    let test_url = created["test_url"].as_str().unwrap().to_string();
    let sandbox_token = test_url.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        gateway.client.get(&test_url).send().await.unwrap().status(),
        StatusCode::OK
    );
    gateway
        .client
        .post(format!("{test_url}/start"))
        .send()
        .await
        .unwrap();
    gateway
        .client
        .post(format!("{test_url}/submit"))
        .form(&[("score", "82")])
        .send()
        .await
        .unwrap();

    // An InterviewMocha order and its callback.
    let imocha = vendor_tenant(
        &gateway,
        "interviewmocha",
        json!({"api_key": VENDOR_KEY}),
        &vendor.uri(),
        json!({}),
    )
    .await;
    let mut body = stackone_order("logs-2", "bob@example.com", "303076");
    body["results_update_url"] = json!(format!("{}/results", receiver.uri()));
    expect_json(gateway.order(&imocha, &body).await, StatusCode::OK).await;
    let invite: Value =
        serde_json::from_slice(&vendor.received_requests().await.unwrap()[0].body).unwrap();
    let callback_url = invite["callbackUrl"].as_str().unwrap().to_string();
    let callback_token = callback_url.rsplit('/').next().unwrap().to_string();
    let called = gateway
        .client
        .post(&callback_url)
        .json(&json!({"TestInvitationId": 77, "Status": "Complete"}))
        .send()
        .await
        .unwrap();
    assert_eq!(called.status(), StatusCode::OK);

    // Both results reach the ATS; admin calls read them.
    eventually(Duration::from_secs(20), || async {
        (receiver.received_requests().await.unwrap_or_default().len() >= 2).then_some(())
    })
    .await;
    let listed = gateway
        .admin(Method::GET, "/admin/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let delivered = gateway
        .admin(Method::GET, "/admin/deliveries")
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), StatusCode::OK);

    let log = gateway.stop();
    assert!(
        log.lines().count() > 100,
        "trace logging is on: {} lines",
        log.lines().count()
    );
    let signing_secret = sandbox.signing_secret.clone();
    let secrets = [
        ("API key", sandbox.api_key.clone()),
        ("API key", imocha.api_key.clone()),
        ("admin token", ADMIN_TOKEN.to_string()),
        ("master key", STANDARD.encode(MASTER_KEY)),
        ("signing secret", signing_secret.clone()),
        (
            "signing secret key",
            signing_secret.trim_start_matches("whsec_").to_string(),
        ),
        ("vendor key", VENDOR_KEY.to_string()),
        ("callback token", callback_token),
        ("sandbox token", sandbox_token),
    ];
    for (what, secret) in secrets {
        assert!(secret.len() >= 16, "{what} is a real secret");
        if let Some(line) = log.lines().find(|line| line.contains(&secret)) {
            panic!("the {what} is in the log: {line}");
        }
    }
}

on_both_databases!(no_secret_reaches_the_log);
