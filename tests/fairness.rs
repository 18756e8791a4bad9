//! One tenant's hanging work does not hold up another's: a project whose receiver never answers
//! cannot take every delivery slot, a vendor account whose reads hang cannot take every poll
//! slot, and a poll that outlasts its lease is cut off before another worker could take it.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{
    eventually, expect_json, stackone_order, vendor_lists::TgCandidatures, vendor_tenant, TestApp,
    TestDb,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path, query_param},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

/// A receiver that accepts connections and never answers.
async fn hanging_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/results", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// Places a sandbox order reporting to `receiver` and submits its test, which queues a delivery.
async fn completed_order(app: &TestApp, tenant: &common::Tenant, id: &str, receiver: &str) {
    let mut body = stackone_order(id, &format!("{id}@example.com"), "sandbox-coding");
    body["results_update_url"] = json!(receiver);
    let created = expect_json(app.order(tenant, &body).await, StatusCode::OK).await;
    let submitted = app
        .client
        .post(format!("{}/submit", created["test_url"].as_str().unwrap()))
        .form(&[("score", "70")])
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), StatusCode::SEE_OTHER);
}

async fn a_hanging_receiver_does_not_hold_up_other_projects(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--rate-limit", "0"]).await;
    let hanging = hanging_receiver().await;
    let a = app.create_tenant().await;
    futures::future::join_all((0..500).map(|i| {
        let (app, a, hanging) = (&app, &a, &hanging);
        async move { completed_order(app, a, &format!("a-{i}"), hanging).await }
    }))
    .await;
    // Project A's deliveries now fill what the worker lets one project hold.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let b = app.create_tenant().await;
    let completed = Instant::now();
    completed_order(&app, &b, "b-1", &format!("{}/results", receiver.uri())).await;
    eventually(Duration::from_secs(10), || async {
        (!receiver
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty())
        .then_some(())
    })
    .await;
    assert!(completed.elapsed() < Duration::from_secs(10));
}

/// One receiver's backlog beyond its share (3/4 of the slots) flows as its deliveries end: the
/// worker claims again as slots free up, instead of waiting for its next idle tick (1 s) for each
/// share's worth, which capped a lone receiver at 48 deliveries a second.
async fn a_receiver_beyond_its_share_is_served_as_its_slots_free_up(db: TestDb) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(100)))
        .mount(&receiver)
        .await;
    let url = format!("{}/results", receiver.uri());
    let placing = TestApp::spawn_with(&db, &["--rate-limit", "0", "--run-workers", "false"]).await;
    let tenant = placing.create_tenant().await;
    futures::future::join_all((0..240).map(|i| {
        let (app, tenant, url) = (&placing, &tenant, &url);
        async move { completed_order(app, tenant, &format!("r-{i}"), url).await }
    }))
    .await;
    placing.stop().await;

    // 240 deliveries of 100 ms each, at most 48 at once: about half a second when slots are
    // claimed as they free up, five seconds at 48 per idle tick.
    let started = Instant::now();
    let _delivering = TestApp::spawn_with(&db, &["--rate-limit", "0"]).await;
    eventually(Duration::from_secs(20), || async {
        let received = receiver.received_requests().await.unwrap_or_default().len();
        (received >= 240).then_some(())
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "240 deliveries took {:?}",
        started.elapsed()
    );
}

fn candidature(id: u64, status: &str) -> Value {
    json!({"id": id, "testtaker_id": id + 1000, "email": format!("{id}@example.com"), "status": status,
        "avg_score": if status == "completed" { json!(81) } else { Value::Null },
        "invitation_link": format!("https://assessment.testgorilla.com/testtaker/takeinvitation/{id}"),
        "created": "2026-12-02T10:00:00+00:00"})
}

/// Places a TestGorilla order at `assessment` for an account whose invitation makes candidature
/// `id`.
async fn tg_order(
    app: &TestApp,
    tenant: &common::Tenant,
    fake: &MockServer,
    assessment: &str,
    id: u64,
) {
    Mock::given(method("POST"))
        .and(path(format!(
            "/api/assessments/{assessment}/invite_candidate/"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(candidature(id, "invited")))
        .up_to_n_times(1)
        .mount(fake)
        .await;
    let body = stackone_order(&format!("o-{id}"), &format!("{id}@example.com"), assessment);
    expect_json(app.order(tenant, &body).await, StatusCode::OK).await;
}

async fn a_vendor_account_whose_reads_hang_does_not_hold_up_others(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--poll-interval", "1s", "--rate-limit", "0"]).await;
    let stalled = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/candidature/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"count": 0, "next": null, "results": []}))
                .set_delay(Duration::from_secs(60)),
        )
        .mount(&stalled)
        .await;
    let x = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": "x"}),
        &stalled.uri(),
        json!({}),
    )
    .await;
    for id in 0..40 {
        tg_order(&app, &x, &stalled, "32", 9000 + id).await;
    }
    // Account X's 40 polls now hang, as many as the worker lets one account hold.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let healthy = MockServer::start().await;
    TgCandidatures::new("33", vec![candidature(8001, "completed")])
        .mount(&healthy)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/results/"))
        .and(query_param("candidature__test_taker", "9001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 0, "results": []})))
        .mount(&healthy)
        .await;
    let y = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": "y"}),
        &healthy.uri(),
        json!({}),
    )
    .await;
    tg_order(&app, &y, &healthy, "33", 8001).await;
    let placed = Instant::now();
    let order = app
        .admin_get("/admin/orders?status=invited&page_size=1")
        .await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually(Duration::from_secs(12), || async {
        let detail = app.admin_get(&format!("/admin/orders/{order}")).await;
        (detail["status"] == "completed").then_some(())
    })
    .await;
    assert!(placed.elapsed() < Duration::from_secs(12));
}

/// TestGorilla's candidature list, 10 items a page, each page answered after 0.8 s; it notes
/// when each request arrived.
#[derive(Clone)]
struct SlowList {
    list: TgCandidatures,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Respond for SlowList {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.arrivals.lock().unwrap().push(Instant::now());
        self.list
            .respond(request)
            .set_delay(Duration::from_millis(800))
    }
}

/// A poll that would outlast its lease (six vendor timeouts) is cut off first: the same order is
/// never read by two polls at once.
async fn a_poll_longer_than_its_lease_is_cut_off_before_another_starts(db: TestDb) {
    let app =
        TestApp::spawn_with(&db, &["--poll-interval", "1s", "--provider-timeout", "1s"]).await;
    let fake = MockServer::start().await;
    let tenant = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": "t"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    tg_order(&app, &tenant, &fake, "32", 8000).await;
    // 300 newer candidatures: a walk of 30 slow pages, far longer than the 6 s lease.
    let others = (0..300)
        .map(|n| {
            let mut c = candidature(100 + n, "completed");
            c["created"] = json!(format!("2026-12-02T11:{:02}:{:02}+00:00", n / 60, n % 60));
            c
        })
        .collect();
    let slow = SlowList {
        list: TgCandidatures::new("32", others),
        arrivals: Arc::default(),
    };
    Mock::given(method("GET"))
        .and(path("/api/assessments/candidature/"))
        .respond_with(slow.clone())
        .mount(&fake)
        .await;
    tokio::time::sleep(Duration::from_secs(14)).await;
    let arrivals = slow.arrivals.lock().unwrap().clone();
    assert!(arrivals.len() >= 10, "polls ran: {}", arrivals.len());
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(700),
            "two reads of the order overlapped ({gap:?} apart)"
        );
    }
}

on_both_databases!(
    a_receiver_beyond_its_share_is_served_as_its_slots_free_up,
    a_hanging_receiver_does_not_hold_up_other_projects,
    a_vendor_account_whose_reads_hang_does_not_hold_up_others,
    a_poll_longer_than_its_lease_is_cut_off_before_another_starts,
);
