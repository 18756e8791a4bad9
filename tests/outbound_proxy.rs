//! Deliveries never go through the environment's proxies: a proxy resolves the ATS host itself,
//! out of sight of the gateway's check of private addresses. This file is its own test process,
//! because it points `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` at a port where nothing listens.

mod common;

use std::time::Duration;

use common::{eventually, expect_json, stackone_order, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::json;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

fn point_proxies_at_a_dead_port() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        std::env::set_var(name, &dead);
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
}

async fn deliveries_ignore_environment_proxies(db: TestDb) {
    point_proxies_at_a_dead_port();
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1..)
        .mount(&receiver)
        .await;
    let mut body = stackone_order("proxied", "ada@example.com", "sandbox-coding");
    body["results_update_url"] = json!(format!("{}/results", receiver.uri()));
    let created = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    let submitted = app
        .client
        .post(format!("{}/submit", created["test_url"].as_str().unwrap()))
        .form(&[("score", "80")])
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), StatusCode::SEE_OTHER);
    let order_id = created["id"].as_str().unwrap();
    eventually(Duration::from_secs(15), || async {
        let detail = app.admin_get(&format!("/admin/orders/{order_id}")).await;
        (detail["deliveries"][0]["status"] == "delivered").then_some(())
    })
    .await;
}

on_both_databases!(deliveries_ignore_environment_proxies);
