//! The sandbox vendor end to end: a person takes the test on its page, or it completes by itself
//! with the outcome the candidate's email asks for.

mod common;

use std::time::Duration;

use common::{eventually, expect_error, expect_json, stackone_order, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn result_of(app: &TestApp, tenant: &common::Tenant, order_id: &str) -> Value {
    let response = app
        .unified(
            Method::GET,
            &format!("/unified/ats/assessments/orders/{order_id}/results"),
            tenant,
        )
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::OK).await["data"].clone()
}

async fn a_person_takes_the_test_on_its_page(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app
        .create_tenant_with("sandbox", json!({}), json!({"pass_mark": 70}))
        .await;
    let created = expect_json(
        app.order(
            &tenant,
            &stackone_order("page-1", "ada@example.com", "sandbox-english"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let order_id = created["id"].as_str().unwrap();
    let test_url = created["test_url"].as_str().unwrap().to_string();

    let page = app.client.get(&test_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Romain Sestier")
            && html.contains("Test 1")
            && html.contains("Start the test"),
        "{html}"
    );

    let started = app
        .client
        .post(format!("{test_url}/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        result_of(&app, &tenant, order_id).await["result"]["value"],
        "in_progress"
    );
    let html = app
        .client
        .get(&test_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Submit the test"), "{html}");

    let bad = app
        .client
        .post(format!("{test_url}/submit"))
        .form(&[("score", "140")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let submitted = app
        .client
        .post(format!("{test_url}/submit"))
        .form(&[("score", "82.5")])
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), StatusCode::SEE_OTHER);

    let result = result_of(&app, &tenant, order_id).await;
    assert_eq!(
        result["result"]["value"], "passed",
        "82.5 ≥ pass mark 70: {result}"
    );
    assert_eq!(
        result["score"],
        json!({"label": "Percentage", "value": "82.5", "min": "0", "max": "100"})
    );
    assert_eq!(result["remote_id"], created["remote_id"]);
    assert!(result["start_date"].is_string() && result["submission_date"].is_string());
    let order = expect_json(
        app.unified(
            Method::GET,
            &format!("/unified/ats/assessments/orders/{order_id}"),
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(order["data"]["status"], "completed");

    let html = app
        .client
        .get(&test_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("passed") && html.contains("82.5"), "{html}");
    let again = app
        .client
        .post(format!("{test_url}/submit"))
        .form(&[("score", "10")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        result_of(&app, &tenant, order_id).await["score"]["value"],
        "82.5",
        "a finished test keeps its result"
    );

    let unknown = app
        .client
        .get(format!("{}/sandbox/tests/sbx_nope", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let detail = app.admin_get(&format!("/admin/orders/{order_id}")).await;
    let statuses: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "invited", "in_progress", "completed"]);
}

async fn tests_complete_by_themselves_as_the_email_steers(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app
        .create_tenant_with("sandbox", json!({}), json!({"auto_complete_after": "1s"}))
        .await;
    let cases = [
        ("ada@example.com", "completed", Some("75")),
        ("ada+pass@example.com", "passed", Some("90")),
        ("fail@example.com", "failed", Some("20")),
        ("expire@example.com", "expired", None),
        ("cancel@example.com", "cancelled", None),
    ];
    let mut orders = Vec::new();
    for (i, (email, _, _)) in cases.iter().enumerate() {
        let created = expect_json(
            app.order(
                &tenant,
                &stackone_order(&format!("auto-{i}"), email, "sandbox-coding"),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        orders.push(created["id"].as_str().unwrap().to_string());
    }
    for (order_id, (email, verdict, score)) in orders.iter().zip(cases) {
        let result = eventually(Duration::from_secs(15), || async {
            let result = result_of(&app, &tenant, order_id).await;
            (result["result"]["value"] != "initiated").then_some(result)
        })
        .await;
        assert_eq!(result["result"]["value"], verdict, "{email}: {result}");
        assert_eq!(result["score"]["value"].as_str(), score, "{email}");
    }
    let app = &app;
    let statuses: Vec<String> = futures::future::join_all(orders.iter().map(|id| async move {
        let detail = app.admin_get(&format!("/admin/orders/{id}")).await;
        detail["status"].as_str().unwrap().to_string()
    }))
    .await;
    assert_eq!(
        statuses,
        [
            "completed",
            "completed",
            "completed",
            "expired",
            "cancelled"
        ]
    );
}

async fn without_auto_completion_nothing_happens_by_itself(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let created = expect_json(
        app.order(
            &tenant,
            &stackone_order("manual", "fail@example.com", "sandbox-coding"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let order_id = created["id"].as_str().unwrap();
    let stored = app
        .gateway
        .store
        .get_order(order_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.next_poll_at, None, "nothing to poll");
    assert_eq!(
        result_of(&app, &tenant, order_id).await["result"]["value"],
        "initiated"
    );
    // A test may be submitted without the start step; the page's score decides, not the email.
    let submitted = app
        .client
        .post(format!(
            "{}/sandbox/tests/{}/submit",
            app.url,
            created["remote_id"].as_str().unwrap()
        ))
        .form(&[("score", "50")])
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), StatusCode::SEE_OTHER);
    let result = result_of(&app, &tenant, order_id).await;
    assert_eq!(
        result["result"]["value"], "completed",
        "no pass mark: {result}"
    );
    assert_eq!(result["score"]["value"], "50");
    let missing = app
        .unified(
            Method::GET,
            "/unified/ats/assessments/orders/nope/results",
            &tenant,
        )
        .send()
        .await
        .unwrap();
    expect_error(missing, StatusCode::NOT_FOUND, "nope").await;
}

on_both_databases!(
    a_person_takes_the_test_on_its_page,
    tests_complete_by_themselves_as_the_email_steers,
    without_auto_completion_nothing_happens_by_itself,
);
