//! Rotating a project's signing secret: deliveries carry a signature with the new secret and,
//! until the overlap ends, one with the replaced secret, each verified with an independent
//! Standard Webhooks implementation.

mod common;

use std::time::Duration;

use common::{eventually, expect_error, expect_json, stackone_order, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, Request, ResponseTemplate,
};

fn verifies(secret: &str, delivery: &Request) -> bool {
    standardwebhooks::Webhook::new(secret)
        .expect("whsec secret")
        .verify(&delivery.body, &delivery.headers)
        .is_ok()
}

async fn rotate(app: &TestApp, project_id: &str, body: Value) -> reqwest::Response {
    app.admin(
        Method::POST,
        &format!("/admin/projects/{project_id}/signing-secret"),
    )
    .json(&body)
    .send()
    .await
    .expect("request")
}

/// The first delivery of an order placed now, as the receiver got it.
async fn delivery_of_a_new_order(
    app: &TestApp,
    tenant: &common::Tenant,
    receiver: &MockServer,
    id: &str,
) -> Request {
    let mut order = stackone_order(id, "ada@example.com", "sandbox-coding");
    order["results_update_url"] = json!(format!("{}/results", receiver.uri()));
    let created = expect_json(app.order(tenant, &order).await, StatusCode::OK).await;
    eventually(Duration::from_secs(15), || async {
        receiver
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|r| {
                serde_json::from_slice::<Value>(&r.body)
                    .is_ok_and(|b| b["data"]["id"] == created["id"])
            })
    })
    .await
}

/// A gateway, an ATS receiver answering 200, and a sandbox tenant whose orders complete at once.
async fn setup(db: &TestDb) -> (TestApp, MockServer, common::Tenant) {
    let app = TestApp::spawn(db).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let tenant = app
        .create_tenant_with("sandbox", json!({}), json!({"auto_complete_after": "1s"}))
        .await;
    (app, receiver, tenant)
}

async fn deliveries_are_signed_with_both_secrets_during_the_overlap(db: TestDb) {
    let (app, receiver, tenant) = setup(&db).await;
    let old = tenant.signing_secret.clone();

    let rotated = expect_json(
        rotate(&app, &tenant.project_id, json!({})).await,
        StatusCode::CREATED,
    )
    .await;
    let new = rotated["signing_secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("whsec_") && new != old);
    let until =
        chrono::DateTime::parse_from_rfc3339(rotated["previous_valid_until"].as_str().unwrap())
            .unwrap();
    let day = until.signed_duration_since(chrono::Utc::now());
    assert!(
        day > chrono::Duration::hours(23) && day <= chrono::Duration::hours(24),
        "{day}"
    );

    let delivery = delivery_of_a_new_order(&app, &tenant, &receiver, "rot-1").await;
    let header = delivery
        .headers
        .get("webhook-signature")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        header.split(' ').filter(|s| s.starts_with("v1,")).count(),
        2,
        "{header}"
    );
    assert!(verifies(&new, &delivery), "the new secret verifies");
    assert!(
        verifies(&old, &delivery),
        "the replaced secret verifies during the overlap"
    );
    assert!(!verifies(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        &delivery
    ));
}

async fn without_overlap_only_the_new_secret_signs_and_bad_requests_change_nothing(db: TestDb) {
    let (app, receiver, tenant) = setup(&db).await;
    let old = tenant.signing_secret.clone();
    for (body, needle) in [
        (json!({"overlap": "8d"}), "overlap"),
        (json!({"overlap": "soon"}), "overlap"),
        (json!({"overlap": 5}), "overlap"),
        (json!({"overlapp": "1h"}), "overlapp"),
    ] {
        expect_error(
            rotate(&app, &tenant.project_id, body).await,
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
    }
    let unknown = uuid::Uuid::now_v7().to_string();
    expect_error(
        rotate(&app, &unknown, json!({})).await,
        StatusCode::NOT_FOUND,
        "project",
    )
    .await;
    let anonymous = app
        .client
        .post(format!(
            "{}/admin/projects/{}/signing-secret",
            app.url, tenant.project_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let unchanged = delivery_of_a_new_order(&app, &tenant, &receiver, "rot-2").await;
    assert!(
        verifies(&old, &unchanged),
        "refused rotations kept the secret"
    );

    // The deliverer reads a project's secrets again after at most 5 s.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rotated = expect_json(
        rotate(&app, &tenant.project_id, json!({"overlap": "0s"})).await,
        StatusCode::CREATED,
    )
    .await;
    let new = rotated["signing_secret"].as_str().unwrap();
    let delivery = delivery_of_a_new_order(&app, &tenant, &receiver, "rot-3").await;
    assert!(verifies(new, &delivery));
    assert!(
        !verifies(&old, &delivery),
        "no overlap: the replaced secret no longer signs"
    );
}

on_both_databases!(
    deliveries_are_signed_with_both_secrets_during_the_overlap,
    without_overlap_only_the_new_secret_signs_and_bad_requests_change_nothing,
);
