//! Retention: `PATCH /admin/projects/{id}` sets `retention_days`, and the worker erases the orders
//! closed longer ago than that (as an erasure request would), and only those.

mod common;

use std::time::Duration;

use common::{
    eventually, expect_error, expect_json, set_order_updated_at, stackone_order, TestApp, TestDb,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn patch(app: &TestApp, project: &str, body: Value) -> reqwest::Response {
    app.admin(Method::PATCH, &format!("/admin/projects/{project}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn place(app: &TestApp, tenant: &common::Tenant, id: &str, email: &str) -> String {
    let order = stackone_order(id, email, "sandbox-coding");
    let placed = expect_json(app.order(tenant, &order).await, StatusCode::OK).await;
    placed["id"].as_str().unwrap().to_string()
}

async fn cancel(app: &TestApp, order: &str) {
    let done = common::order_action(app, order, "cancel").await;
    assert_eq!(done.status(), StatusCode::OK);
}

async fn orders_closed_past_the_retention_are_erased(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--retention-interval", "100ms"]).await;
    let kept = app.create_tenant().await;
    let tenant = app.create_tenant().await;
    let project = tenant.project_id.as_str();

    // Closed 3 days ago, closed now, open for 3 days; and, in a project without retention, closed
    // 3 days ago.
    let old = place(&app, &tenant, "r-1", "old@example.com").await;
    let recent = place(&app, &tenant, "r-2", "recent@example.com").await;
    let open = place(&app, &tenant, "r-3", "open@example.com").await;
    let other = place(&app, &kept, "r-4", "other@example.com").await;
    for order in [&old, &recent, &other] {
        cancel(&app, order).await;
    }
    let three_days_ago = chrono::Utc::now() - chrono::Duration::days(3);
    for order in [&old, &open, &other] {
        set_order_updated_at(&db, order, three_days_ago).await;
    }

    let patched = expect_json(
        patch(&app, project, json!({"retention_days": 2})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["retention_days"], 2);
    assert_eq!(patched["name"], "Acme ATS", "the name is left as it was");
    assert_eq!(
        app.admin_get(&format!("/admin/projects/{project}")).await["retention_days"],
        2
    );

    let erased = eventually(Duration::from_secs(10), || async {
        let order = app.admin_get(&format!("/admin/orders/{old}")).await;
        order["erased_at"].is_string().then_some(order)
    })
    .await;
    assert!(erased["candidate_email"].is_null());
    assert!(erased["request"]["candidate"]["first_name"].is_null());
    assert_eq!(erased["status"], "cancelled");
    // A few more sweeps: the others stay as they are.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for (order, email) in [
        (&recent, "recent@example.com"),
        (&open, "open@example.com"),
        (&other, "other@example.com"),
    ] {
        let order = app.admin_get(&format!("/admin/orders/{order}")).await;
        assert_eq!(order["candidate_email"], email, "{order}");
        assert!(order["erased_at"].is_null());
    }

    // Without a retention nothing more is erased.
    let cleared = expect_json(
        patch(
            &app,
            project,
            json!({"retention_days": null, "name": "Renamed"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(cleared["retention_days"].is_null());
    assert_eq!(cleared["name"], "Renamed");
    set_order_updated_at(&db, &recent, three_days_ago).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let recent = app.admin_get(&format!("/admin/orders/{recent}")).await;
    assert_eq!(recent["candidate_email"], "recent@example.com");
}

async fn bad_changes_are_refused_and_change_nothing(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let project = tenant.project_id.as_str();
    for (body, needle) in [
        (json!({"retention_days": 0}), "retention_days"),
        (json!({"retention_days": 3651}), "retention_days"),
        (json!({"retention_days": -5}), "retention_days"),
        (json!({"retention_days": "30"}), "retention_days"),
        (json!({"retention_days": 1.5}), "retention_days"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"signing_secret": "whsec_x"}), "signing_secret"),
        (json!("retention"), ""),
    ] {
        expect_error(
            patch(&app, project, body.clone()).await,
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
    }
    expect_error(
        patch(
            &app,
            &uuid::Uuid::now_v7().to_string(),
            json!({"retention_days": 30}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "project",
    )
    .await;
    let anonymous = app
        .client
        .patch(format!("{}/admin/projects/{project}", app.url))
        .json(&json!({"retention_days": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let unchanged = app.admin_get(&format!("/admin/projects/{project}")).await;
    assert!(unchanged["retention_days"].is_null());
    assert_eq!(unchanged["name"], "Acme ATS");

    let longest = expect_json(
        patch(&app, project, json!({"retention_days": 3650})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(longest["retention_days"], 3650);
    let audit = app
        .admin_get("/admin/audit-events?action=project.update")
        .await;
    assert_eq!(audit["data"][0]["outcome"], "succeeded");
    assert_eq!(audit["data"][0]["project_id"], project);
}

on_both_databases!(
    orders_closed_past_the_retention_are_erased,
    bad_changes_are_refused_and_change_nothing,
);
