//! A delivery that cannot be made says why, in `last_error` and the admin view: the receiver's
//! name does not resolve, or nothing listens at its address.

mod common;

use std::time::Duration;

use common::{binary::free_port, eventually, expect_json, stackone_order, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn last_error_of(app: &TestApp, tenant: &common::Tenant, id: &str, url: &str) -> String {
    let mut body = stackone_order(id, "ada@example.com", "sandbox-coding");
    body["results_update_url"] = json!(url);
    let placed = expect_json(app.order(tenant, &body).await, StatusCode::OK).await;
    app.submit_sandbox_test(placed["test_url"].as_str().unwrap(), "70")
        .await;
    let order = placed["id"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(15), || async {
        let detail = app.admin_get(&format!("/admin/orders/{order}")).await;
        let deliveries: Vec<Value> = detail["deliveries"].as_array().cloned().unwrap_or_default();
        deliveries
            .iter()
            .find_map(|d| d["last_error"].as_str().map(str::to_string))
    })
    .await
}

async fn delivery_errors_name_their_cause(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--delivery-retry-schedule", "1h"]).await;
    let tenant = app.create_tenant().await;

    let unresolved = last_error_of(
        &app,
        &tenant,
        "dns-1",
        "http://receiver.agw-test.invalid/results?token=secret-in-query",
    )
    .await;
    assert!(
        unresolved.contains("the name receiver.agw-test.invalid did not resolve"),
        "{unresolved}"
    );
    assert!(!unresolved.contains("secret-in-query"), "{unresolved}");

    let port = free_port();
    let refused = last_error_of(
        &app,
        &tenant,
        "refused-1",
        &format!("http://127.0.0.1:{port}/results"),
    )
    .await;
    assert_eq!(refused, format!("connection refused at 127.0.0.1:{port}"));
}

on_both_databases!(delivery_errors_name_their_cause);
