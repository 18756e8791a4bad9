//! Vendor throttling: an order never waits long in the account's vendor budget and never goes
//! out after its caller was told no; an order still being placed is never swept as abandoned;
//! absurd waits asked for by a vendor are clamped and hold up only their own account.

mod common;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::{expect_json, stackone_order, vendor_tenant, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::json;
use wiremock::{
    matchers::{header, method, path},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

/// TestGorilla's invite endpoint: a new candidature for every invitation, counted.
#[derive(Clone, Default)]
struct Invitations(Arc<AtomicU64>);

impl Invitations {
    fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Respond for Invitations {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let id = 10_000 + self.0.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(201).set_body_json(json!({
            "id": id, "testtaker_id": id + 1, "status": "invited", "created": "2026-12-02T10:00:00+00:00",
            "invitation_link": format!("https://assessment.testgorilla.com/testtaker/takeinvitation/{id}")}))
    }
}

/// 200 orders at once on one account, whose invitations TestGorilla allows 60 a minute: the
/// budget's 60 go at once, a few more within the wait the gateway allows, the rest are refused
/// at once with 429 and never sent afterwards.
async fn a_campaign_beyond_the_budget_is_answered_promptly_and_never_sent_late(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--provider-timeout", "8s"]).await;
    let fake = MockServer::start().await;
    let invitations = Invitations::default();
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .respond_with(invitations.clone())
        .mount(&fake)
        .await;
    let tenant = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": "t"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    let started = Instant::now();
    let answers = futures::future::join_all((0..200).map(|i| {
        let (app, tenant) = (&app, &tenant);
        async move {
            let body = stackone_order(&format!("c-{i}"), &format!("c{i}@example.com"), "32");
            let response = app.order(tenant, &body).await;
            let status = response.status();
            let retry_after = response.headers().get("retry-after").cloned();
            (status, retry_after, started.elapsed())
        }
    }))
    .await;
    let invited = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(invited + refused.len(), 200, "{answers:?}");
    assert!(
        (60..=66).contains(&invited),
        "the budget and 2 s of turns: {invited}"
    );
    assert!(
        refused.iter().all(|a| a.1.is_some()),
        "each 429 says when to retry"
    );
    let slowest = answers.iter().map(|a| a.2).max().unwrap();
    assert!(
        slowest < Duration::from_secs(8 + 5),
        "slowest answer after {slowest:?}"
    );
    assert_eq!(invitations.count(), invited as u64);
    let listed = app
        .admin_get("/admin/orders?status=invited&page_size=200")
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), invited);
    // Nothing refused goes out later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(invitations.count(), invited as u64);
    let failed = app
        .admin_get("/admin/orders?status=failed&page_size=200")
        .await;
    assert_eq!(failed["data"].as_array().unwrap().len(), refused.len());
}

/// The sweeper fails orders left `pending` by a process that died; one whose vendor call is
/// still running keeps its placing process's heartbeat and is left alone.
async fn an_order_still_being_placed_is_not_swept(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--provider-timeout", "4s"]).await;
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 8000, "testtaker_id": 1, "status": "invited",
                    "invitation_link": "https://assessment.testgorilla.com/testtaker/takeinvitation/8000"}))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&fake)
        .await;
    let tenant = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": "t"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    let placing = {
        let (client, url, key, account) = (
            app.client.clone(),
            app.url.clone(),
            tenant.api_key.clone(),
            tenant.account_id.clone(),
        );
        tokio::spawn(async move {
            client
                .post(format!("{url}/unified/ats/assessments/orders"))
                .basic_auth(key, Some(""))
                .header("x-account-id", account)
                .json(&stackone_order("slow", "ada@example.com", "32"))
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let swept = app
        .gateway
        .fail_orders_abandoned_for(Duration::from_millis(1500))
        .await
        .unwrap();
    assert_eq!(swept, 0, "the order's heartbeat is younger than 1.5 s");
    let created = expect_json(placing.await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        app.admin_get(&format!(
            "/admin/orders/{}",
            created["id"].as_str().unwrap()
        ))
        .await["status"],
        "invited"
    );
}

/// Whatever wait a vendor asks for, the gateway waits at most an hour, answers 429 with that
/// (capped) wait, does not call the vendor again for the account meanwhile, and other accounts
/// go on.
async fn absurd_vendor_waits_are_clamped_to_their_account(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let fake = MockServer::start().await;
    let asked = ["inf", "NaN", "-1", "1e20", "99999999999"];
    for (i, wait) in asked.iter().enumerate() {
        Mock::given(method("GET"))
            .and(path("/api/assessments/"))
            .and(header("authorization", format!("Token limited-{i}")))
            .respond_with(ResponseTemplate::new(429).insert_header("X-RateLimit-Reset", *wait))
            .mount(&fake)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/assessments/"))
        .and(header("authorization", "Token free"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 0, "results": []})))
        .mount(&fake)
        .await;
    let packages = |tenant: common::Tenant| {
        let app = &app;
        async move {
            app.unified(Method::GET, "/unified/ats/assessments/packages", &tenant)
                .send()
                .await
                .unwrap()
        }
    };
    for (i, wait) in asked.iter().enumerate() {
        let limited = vendor_tenant(
            &app,
            "testgorilla",
            json!({"token": format!("limited-{i}")}),
            &fake.uri(),
            json!({}),
        )
        .await;
        let started = Instant::now();
        let first = packages(limited.clone()).await;
        assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS, "{wait}");
        let retry_after: u64 = first.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after <= 3600, "{wait}: {retry_after}");
        let second = packages(limited).await;
        assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS, "{wait}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{wait}: {:?}",
            started.elapsed()
        );
    }
    let free = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": "free"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    assert_eq!(packages(free).await.status(), StatusCode::OK);
    // A wait past the gateway's patience is not waited out: one call, then the account rests.
    let calls = fake.received_requests().await.unwrap();
    for (i, wait) in asked.iter().enumerate() {
        let token = format!("Token limited-{i}");
        let sent = calls
            .iter()
            .filter(|r| r.headers["authorization"].to_str().unwrap() == token)
            .count();
        if ["inf", "1e20", "99999999999"].contains(wait) {
            assert_eq!(sent, 1, "{wait}");
        }
    }
}

/// A vendor's answer is read up to 2 MiB, and kept (in `provider_errors`, in the order's
/// timeline) up to 20 KB.
async fn vendor_answers_are_bounded(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let fake = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(3 * 1024 * 1024)))
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"errors": [{"field": "email", "error_key": "BAD_EMAIL", "message": "m".repeat(100_000)}]}),
        ))
        .mount(&fake)
        .await;
    let tenant = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": "t"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    let huge = app
        .unified(Method::GET, "/unified/ats/assessments/packages", &tenant)
        .send()
        .await
        .unwrap();
    let error = common::expect_error(huge, StatusCode::BAD_GATEWAY, "larger than 2 MiB").await;
    assert!(error.to_string().len() < 1000);
    let refused = app
        .order(&tenant, &stackone_order("big", "ada@example.com", "32"))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = refused.json().await.unwrap();
    let raw = body["provider_errors"][0]["raw"].as_str().unwrap();
    assert!(
        raw.len() < 21 * 1024 && raw.ends_with("(cut at 20480 bytes)"),
        "{}",
        raw.len()
    );
    let failed = app.admin_get("/admin/orders?status=failed").await;
    let order = app
        .admin_get(&format!(
            "/admin/orders/{}",
            failed["data"][0]["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        order.to_string().len() < 400 * 1024,
        "the stored order stays small"
    );
}

on_both_databases!(
    vendor_answers_are_bounded,
    a_campaign_beyond_the_budget_is_answered_promptly_and_never_sent_late,
    an_order_still_being_placed_is_not_swept,
    absurd_vendor_waits_are_clamped_to_their_account,
);
