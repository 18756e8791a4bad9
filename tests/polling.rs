//! The polling worker against vendor fakes: vendor reads run side by side, so a slow vendor
//! answer holds up only its own order; shutdown gives back the claims it cuts short; callbacks
//! for one order share one re-read.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{eventually, expect_json, stackone_order, vendor_tenant, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path, query_param},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

fn candidature(id: u64, email: &str, status: &str, avg: Value) -> Value {
    json!({"id": id, "testtaker_id": id + 1000, "email": email, "status": status, "avg_score": avg,
        "invitation_link": format!("https://assessment.testgorilla.com/testtaker/takeinvitation/{id}"),
        "created": "2021-09-18T09:16:33+02:00"})
}

/// Places an order for `assessment` through a new TestGorilla tenant on `fake`, whose invitation
/// creates candidature `id`; returns the order's id.
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

/// iMocha's report endpoint, remembering when it was read.
#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<Instant>>>);

impl Respond for Reports {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().push(Instant::now());
        ResponseTemplate::new(200).set_body_json(json!({"testInvitationId": 2807324,
            "testId": 303076, "candidateEmail": "ada@example.com", "status": "In Progress",
            "attemptedOn": "2026-11-23T09:00:00Z", "score": 0, "totalTestPoints": 115}))
    }
}

async fn callbacks_for_one_order_share_one_reread_after_the_delay(db: TestDb) {
    let app = TestApp::spawn_with(
        &db,
        &["--poll-interval", "1h", "--callback-reread-delay", "2s"],
    )
    .await;
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"testInvitationId": 2807324,
            "testUrl": "https://test.imocha.io/IMInstructions?inv=2807324", "status": "Pending"})),
        )
        .mount(&fake)
        .await;
    let reports = Reports::default();
    Mock::given(method("GET"))
        .and(path("/v3/reports/2807324"))
        .respond_with(reports.clone())
        .mount(&fake)
        .await;
    let tenant = vendor_tenant(
        &app,
        "interviewmocha",
        json!({"api_key": "k"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    let body = stackone_order("im-cb", "ada@example.com", "303076");
    let created = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    let order = created["id"].as_str().unwrap().to_string();
    let callback_url = app
        .gateway
        .callback_url("interviewmocha", order.parse().unwrap());

    // iMocha repeats its callbacks; three arrive within a moment.
    let first_callback = Instant::now();
    for _ in 0..3 {
        let accepted = app
            .client
            .post(&callback_url)
            .json(
                &json!({"TestInvitationId": 2807324, "Status": "In Progress",
                "CandidateEmailId": "ada@example.com"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), StatusCode::OK);
    }
    eventually(Duration::from_secs(10), || async {
        let detail = app.admin_get(&format!("/admin/orders/{order}")).await;
        (detail["status"] == "in_progress").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reads = reports.0.lock().unwrap().clone();
    assert_eq!(reads.len(), 1, "one re-read for the three callbacks");
    assert!(
        reads[0] - first_callback >= Duration::from_millis(1900),
        "read after the delay, not at once ({:?})",
        reads[0] - first_callback
    );

    // A later callback whose re-read finds nothing new: the next poll is the regular one, an
    // hour away.
    let again = app
        .client
        .post(&callback_url)
        .json(&json!({"TestInvitationId": 2807324, "Status": "In Progress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    eventually(Duration::from_secs(10), || async {
        (reports.0.lock().unwrap().len() == 2).then_some(())
    })
    .await;
    let order_id = order.parse().unwrap();
    let next_poll = eventually(Duration::from_secs(5), || async {
        let next = app
            .gateway
            .store
            .get_order(order_id)
            .await
            .unwrap()
            .unwrap()
            .next_poll_at?;
        (next > chrono::Utc::now() + chrono::Duration::minutes(50)).then_some(next)
    })
    .await;
    assert!(next_poll < chrono::Utc::now() + chrono::Duration::minutes(70));
}

async fn a_burst_of_invitations_comes_due_spread_over_the_interval(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--poll-interval", "1h"]).await;
    let fake = MockServer::start().await;
    let before = chrono::Utc::now();
    let mut first_polls = Vec::new();
    for n in 0..12u64 {
        let order = place(&app, &fake, &format!("{}", 40 + n), 9000 + n).await;
        let next_poll = app
            .gateway
            .store
            .get_order(order.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .next_poll_at
            .expect("a TestGorilla order is polled");
        first_polls.push(next_poll);
    }
    let after = chrono::Utc::now();
    let hour = chrono::Duration::hours(1);
    for at in &first_polls {
        assert!(
            *at >= before + hour && *at <= after + hour * 6 / 5,
            "first poll an interval later, plus up to 20 %: {at} (placed {before}..{after})"
        );
    }
    let (first, last) = (
        first_polls.iter().min().unwrap(),
        first_polls.iter().max().unwrap(),
    );
    assert!(
        *last - *first >= chrono::Duration::minutes(1),
        "orders placed within a second come due minutes apart, not at one moment: {first_polls:?}"
    );
}

on_both_databases!(
    a_burst_of_invitations_comes_due_spread_over_the_interval,
    callbacks_for_one_order_share_one_reread_after_the_delay,
    a_slow_vendor_answer_does_not_hold_up_other_polls,
    shutdown_gives_back_the_polls_it_cuts_short,
);
