//! The polling worker against a TestGorilla fake: vendor reads run side by side, so a slow vendor
//! answer holds up only its own order, and shutdown gives back the claims it cuts short.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, expect_json, stackone_order, vendor_tenant, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path, query_param},
    Mock, MockServer, ResponseTemplate,
};

fn candidature(id: u64, email: &str, status: &str, avg: Value) -> Value {
    json!({"id": id, "testtaker_id": id + 1000, "email": email, "status": status, "avg_score": avg,
        "invitation_link": format!("https://assessment.testgorilla.com/testtaker/takeinvitation/{id}"),
        "created": "2021-09-18T09:16:33+02:00"})
}

/// An app polling every second, a TestGorilla tenant on `fake`, and an order for `assessment`
/// whose candidature `id` the fake creates on invitation.
async fn place(app: &TestApp, fake: &MockServer, assessment: &str, id: u64) -> String {
    let email = format!("{id}@example.com");
    Mock::given(method("POST"))
        .and(path(format!(
            "/api/assessments/{assessment}/invite_candidate/"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(candidature(
            id,
            &email,
            "invited",
            Value::Null,
        )))
        .mount(fake)
        .await;
    let tenant = vendor_tenant(
        app,
        "testgorilla",
        json!({"token": "t"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    let body = stackone_order(&format!("order-{id}"), &email, assessment);
    let created = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    created["id"].as_str().unwrap().to_string()
}

/// The fake answers the poll of `assessment` with `candidature`, after `delay`.
async fn answer_polls(fake: &MockServer, assessment: &str, candidature: Value, delay: Duration) {
    Mock::given(method("GET"))
        .and(path("/api/assessments/candidature/"))
        .and(query_param("assessment", assessment))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"count": 1, "results": [candidature]}))
                .set_delay(delay),
        )
        .mount(fake)
        .await;
}

async fn first_poll_of(fake: &MockServer, assessment: &str) -> Instant {
    eventually(Duration::from_secs(10), || async {
        fake.received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| {
                r.url.path() == "/api/assessments/candidature/"
                    && r.url
                        .query_pairs()
                        .any(|(k, v)| k == "assessment" && v == assessment)
            })
            .then(Instant::now)
    })
    .await
}

async fn a_slow_vendor_answer_does_not_hold_up_other_polls(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--poll-interval", "1s"]).await;
    let fake = MockServer::start().await;
    answer_polls(
        &fake,
        "32",
        candidature(8000, "8000@example.com", "invited", Value::Null),
        Duration::from_secs(8),
    )
    .await;
    answer_polls(
        &fake,
        "33",
        candidature(8001, "8001@example.com", "completed", json!(76)),
        Duration::ZERO,
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/results/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"count": 1, "results": [
            {"name": "Problem solving", "score": 76, "algorithm": "basic", "score_display": ""}]})),
        )
        .mount(&fake)
        .await;
    // The slow one is placed first, so it is due first and claimed first.
    place(&app, &fake, "32", 8000).await;
    let fast = place(&app, &fake, "33", 8001).await;

    let slow_asked = first_poll_of(&fake, "32").await;
    let completed = eventually(Duration::from_secs(15), || async {
        let detail = app.admin_get(&format!("/admin/orders/{fast}")).await;
        (detail["status"] == "completed").then(Instant::now)
    })
    .await;
    assert!(
        completed - slow_asked < Duration::from_secs(5),
        "completed while the slow vendor read was still in flight (after {:?})",
        completed - slow_asked
    );
}

async fn shutdown_gives_back_the_polls_it_cuts_short(db: TestDb) {
    let app =
        TestApp::spawn_with(&db, &["--poll-interval", "1s", "--provider-timeout", "60s"]).await;
    let fake = MockServer::start().await;
    // Longer than the 10 s that reads in flight get at shutdown.
    answer_polls(
        &fake,
        "32",
        candidature(8000, "8000@example.com", "invited", Value::Null),
        Duration::from_secs(40),
    )
    .await;
    let order = place(&app, &fake, "32", 8000).await;
    first_poll_of(&fake, "32").await;
    let store = app.gateway.store.clone();
    let stopping = Instant::now();
    app.stop().await;
    let stopped = stopping.elapsed();
    assert!(
        stopped >= Duration::from_secs(9) && stopped < Duration::from_secs(20),
        "the read got its grace period, then was stopped ({stopped:?})"
    );
    let next_poll = store
        .get_order(order.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .next_poll_at
        .expect("still polled");
    assert!(
        next_poll <= chrono::Utc::now(),
        "due again at once, not when the 2-minute lease runs out: {next_poll}"
    );
}

on_both_databases!(
    a_slow_vendor_answer_does_not_hold_up_other_polls,
    shutdown_gives_back_the_polls_it_cuts_short,
);
