//! Concurrent orders share the database's statements and commits (Postgres's order batches,
//! SQLite's group commit), and sharing changes nothing a client relies on: an answered order is
//! committed even if the process dies right after, and an order is durably `pending` before its
//! vendor is called.

mod common;

use std::{collections::HashMap, time::Duration};

use common::{binary::Binary, expect_json, stackone_order, vendor_tenant, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

/// Orders placed by 32 clients at once until the gateway is killed with SIGKILL: every order it
/// answered 200 is there after a restart, `invited`, with both events and its vendor reference.
async fn every_answered_order_survives_a_kill(db: TestDb) {
    let gateway = Binary::start(&db, &[]).await;
    let tenant = gateway.create_tenant().await;
    let (answered_tx, mut answered_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Value)>();
    let clients: Vec<_> = (0..32)
        .map(|client| {
            let (api, tenant, answered) = (
                common::ApiClient::new(gateway.url.clone()),
                tenant.clone(),
                answered_tx.clone(),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("kill-{client}-{n}");
                    let body = stackone_order(
                        &key,
                        &format!("c{client}n{n}@example.com"),
                        "sandbox-coding",
                    );
                    let Ok(response) = api
                        .unified(
                            reqwest::Method::POST,
                            "/unified/ats/assessments/orders",
                            &tenant,
                        )
                        .json(&body)
                        .send()
                        .await
                    else {
                        return;
                    };
                    if response.status() != StatusCode::OK {
                        return;
                    }
                    let Ok(order) = response.json::<Value>().await else {
                        return;
                    };
                    let _ = answered.send((key, order));
                }
            })
        })
        .collect();
    drop(answered_tx);
    // Kill once a few hundred orders were answered, so batches are in flight.
    let mut answered = HashMap::new();
    while answered.len() < 300 {
        let (key, order) = answered_rx.recv().await.expect("orders are answered");
        answered.insert(key, order);
    }
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &gateway.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    for client in clients {
        let _ = client.await;
    }
    while let Ok((key, order)) = answered_rx.try_recv() {
        answered.insert(key, order);
    }
    drop(gateway);

    let restarted = Binary::start(&db, &[]).await;
    for (key, order) in &answered {
        let id = order["id"].as_str().expect("order id");
        let stored = restarted.admin_get(&format!("/admin/orders/{id}")).await;
        assert_eq!(stored["status"], "invited", "{key}: {stored}");
        assert_eq!(stored["client_order_id"], key.as_str());
        assert!(stored["remote_id"].is_string(), "{key}: {stored}");
        let timeline: Vec<&str> = stored["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .map(|e| e["to_status"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(timeline, ["pending", "invited"], "{key}");
    }
}

/// The vendor is called only once the `pending` order is committed: while TestGorilla holds its
/// answer, another connection already reads the order, `pending`.
async fn an_order_is_durably_pending_before_its_vendor_is_called(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(2))
                .set_body_json(json!({
                    "id": 8001, "testtaker_id": 4276, "email": "ada@example.com",
                    "full_name": "Ada Lovelace", "invitation_uuid": "edb70e44-271d-4e6a-8533-901fdc95f230",
                    "invitation_link": "https://assessment.testgorilla.com/testtaker/takeinvitation/edb70e44-271d-4e6a-8533-901fdc95f230",
                    "status": "invited", "stage": "NYE", "created": "2021-09-18T09:16:33.975663+02:00",
                    "avg_score": null, "rating": null, "review": null, "is_hired": false, "reminder_sent": false
                })),
        )
        .mount(&fake)
        .await;
    let tenant = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": "tg-secret-token"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    let placing = {
        let (api, tenant) = (common::ApiClient::new(app.url.clone()), tenant.clone());
        tokio::spawn(async move {
            api.order(
                &tenant,
                &stackone_order("durable-1", "ada@example.com", "32"),
            )
            .await
        })
    };
    common::eventually(Duration::from_secs(10), || async {
        let received = fake.received_requests().await.unwrap_or_default();
        received
            .iter()
            .any(|r| r.url.path().ends_with("/invite_candidate/"))
            .then_some(())
    })
    .await;
    assert_eq!(
        common::order_status_by_key(&db, "durable-1")
            .await
            .as_deref(),
        Some("pending"),
        "the order is committed, pending, while its vendor call is under way"
    );
    let answered = placing.await.unwrap();
    expect_json(answered, StatusCode::OK).await;
    assert_eq!(
        common::order_status_by_key(&db, "durable-1")
            .await
            .as_deref(),
        Some("invited")
    );
}

on_both_databases!(
    every_answered_order_survives_a_kill,
    an_order_is_durably_pending_before_its_vendor_is_called
);
