//! Prometheus metrics on `METRICS_ADDR`: after known traffic, each counter moved by exactly what
//! that traffic should move it by, and no label carries an id or an email. The recorder is one
//! per process, so this file is a process of its own and runs its database variants one after
//! the other.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::{
    binary::free_port, eventually, expect_json, stackone_order, vendor_tenant, TestApp, TestDb,
};
use reqwest::StatusCode;
use serde_json::json;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

type Samples = BTreeMap<String, f64>;

/// `name{a="x",b="y"} value` lines, keyed by the name and its labels sorted.
fn parse(text: &str) -> Samples {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let key = match series.split_once('{') {
                Some((name, labels)) => {
                    let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                    labels.sort();
                    format!("{name}{{{}}}", labels.join(","))
                }
                None => series.to_string(),
            };
            Some((key, value.parse().ok()?))
        })
        .collect()
}

async fn scrape(client: &reqwest::Client, metrics: &str) -> (String, Samples) {
    // The listener comes up beside the app's, a moment after the app is spawned.
    let response = eventually(Duration::from_secs(5), || async {
        client
            .get(format!("http://{metrics}/metrics"))
            .send()
            .await
            .ok()
    })
    .await;
    let text = response.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

fn moved(before: &Samples, after: &Samples, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

async fn counters_move_by_what_the_traffic_did(db: TestDb) {
    let metrics = format!("127.0.0.1:{}", free_port());
    let app = TestApp::spawn_with(&db, &["--metrics-addr", &metrics]).await;
    let (_, before) = scrape(&app.client, &metrics).await;

    // A sandbox order taken and delivered.
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let sandbox = app.create_tenant().await;
    let mut body = stackone_order("m-1", "ada@example.com", "sandbox-coding");
    body["results_update_url"] = json!(format!("{}/results", receiver.uri()));
    let created = expect_json(app.order(&sandbox, &body).await, StatusCode::OK).await;
    app.client
        .post(format!("{}/submit", created["test_url"].as_str().unwrap()))
        .form(&[("score", "90")])
        .send()
        .await
        .unwrap();
    let order_id = created["id"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(10), || async {
        let detail = app.admin_get(&format!("/admin/orders/{order_id}")).await;
        (detail["deliveries"][0]["status"] == "delivered").then_some(())
    })
    .await;
    // A TestGorilla invitation, and a callback at a URL nobody was given.
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 8000, "testtaker_id": 1, "status": "invited",
            "invitation_link": "https://assessment.testgorilla.com/testtaker/takeinvitation/8000"})))
        .mount(&fake)
        .await;
    let tg = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": "t"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    expect_json(
        app.order(&tg, &stackone_order("m-2", "bob@example.com", "32"))
            .await,
        StatusCode::OK,
    )
    .await;
    let stray = app
        .client
        .post(format!("{}/webhooks/interviewmocha/not-a-token", app.url))
        .json(&json!({"TestInvitationId": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(stray.status(), StatusCode::NOT_FOUND);

    let (text, after) = scrape(&app.client, &metrics).await;
    let expected = [
        (
            r#"agw_http_requests_total{method="POST",route="/unified/ats/assessments/orders",status="200"}"#,
            2.0,
        ),
        (
            r#"agw_http_requests_total{method="POST",route="/webhooks/{provider}/{token}",status="404"}"#,
            1.0,
        ),
        (
            r#"agw_orders_total{provider="sandbox",status="pending"}"#,
            1.0,
        ),
        (
            r#"agw_orders_total{provider="sandbox",status="invited"}"#,
            1.0,
        ),
        (
            r#"agw_orders_total{provider="sandbox",status="completed"}"#,
            1.0,
        ),
        (
            r#"agw_orders_total{provider="testgorilla",status="invited"}"#,
            1.0,
        ),
        (
            r#"agw_vendor_requests_total{operation="invite",outcome="ok",provider="testgorilla"}"#,
            1.0,
        ),
        (
            r#"agw_vendor_request_duration_seconds_count{operation="invite",provider="testgorilla"}"#,
            1.0,
        ),
        (
            r#"agw_callbacks_total{outcome="unknown",provider="interviewmocha"}"#,
            1.0,
        ),
        (r#"agw_deliveries_total{outcome="delivered"}"#, 1.0),
    ];
    for (series, by) in expected {
        assert_eq!(moved(&before, &after, series), by, "{series}\n{text}");
    }
    assert!(after.contains_key(r#"agw_http_request_duration_seconds_count{method="POST",route="/unified/ats/assessments/orders"}"#), "{text}");
    assert_eq!(
        after.get(r#"agw_build_info{version="0.1.0"}"#),
        Some(&1.0),
        "{text}"
    );
    assert_eq!(
        after.get(r#"agw_delivery_backlog{status="dead"}"#),
        Some(&0.0),
        "{text}"
    );
    assert!(after.contains_key("agw_poll_backlog"), "{text}");
    let batched = if db.backend == "postgres" {
        "order_insert"
    } else {
        "group_commit"
    };
    let batches = format!(r#"agw_store_write_batch_size_count{{kind="{batched}"}}"#);
    assert!(moved(&before, &after, &batches) >= 1.0, "{batches}\n{text}");
    // The Grafana dashboard in deploy/ asks only for metrics the gateway has.
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/assessment-gateway.json"
    ))
    .unwrap();
    for name in dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("agw_"))
    {
        assert!(
            text.contains(name),
            "the dashboard asks for {name}, which the gateway lacks"
        );
    }
    for private in [
        order_id.as_str(),
        "ada@example.com",
        "m-1",
        "not-a-token",
        &sandbox.project_id,
    ] {
        assert!(!text.contains(private), "{private} in the metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_by_what_the_traffic_did_on_both_databases() {
    counters_move_by_what_the_traffic_did(TestDb::sqlite().await).await;
    if let Some(db) = TestDb::postgres().await {
        counters_move_by_what_the_traffic_did(db).await;
    }
}
