//! Duplicates of an order that is still being placed wait for it politely: each looks at the
//! database less and less often (up to once a second) and all wake when the placement ends, so
//! a thousand of them cost a bounded number of queries. Counted from the statement log of the
//! real binary.

mod common;

use std::time::Duration;

use common::{binary::Binary, stackone_order, vendor_tenant, TestDb};
use reqwest::StatusCode;
use serde_json::json;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

async fn a_thousand_duplicates_cost_a_bounded_number_of_queries(db: TestDb) {
    let gateway = Binary::start(
        &db,
        &[
            ("RUST_LOG", "warn,sqlx::query=debug"),
            ("RATE_LIMIT", "0"),
            ("RUN_WORKERS", "false"),
        ],
    )
    .await;
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 8000, "testtaker_id": 1, "status": "invited",
                    "invitation_link": "https://assessment.testgorilla.com/testtaker/takeinvitation/8000"}))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&fake)
        .await;
    let tenant = vendor_tenant(
        &gateway,
        "testgorilla",
        json!({"token": "t"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    let statements = || {
        gateway
            .log()
            .lines()
            .filter(|l| l.contains("\"summary\""))
            .count()
    };
    let before = statements();
    let body = stackone_order("one-order", "ada@example.com", "32");
    let answers = futures::future::join_all((0..1000).map(|_| gateway.order(&tenant, &body))).await;
    assert!(answers.iter().all(|a| a.status() == StatusCode::OK));
    let spent = statements() - before;
    // A look every 25 ms, as before, would have been about 120 per duplicate over the 3 s.
    eprintln!("statements: {spent}");
    assert!(spent < 12_000, "{spent} statements for 1,000 duplicates");
}

on_both_databases!(a_thousand_duplicates_cost_a_bounded_number_of_queries);
