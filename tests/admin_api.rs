//! The operator's API: projects, keys, linked accounts, orders.

mod common;

use common::{expect_error, expect_json, stackone_order, TestApp, TestDb, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn admin_calls_need_the_admin_token(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let url = format!("{}/admin/projects", app.url);
    let none = app.client.get(&url).send().await.unwrap();
    expect_error(none, StatusCode::UNAUTHORIZED, "Bearer").await;
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    expect_error(wrong, StatusCode::UNAUTHORIZED, "not valid").await;
    let create = app
        .client
        .post(&url)
        .bearer_auth("x")
        .json(&json!({"name": "p"}))
        .send()
        .await
        .unwrap();
    expect_error(create, StatusCode::UNAUTHORIZED, "").await;
    assert_eq!(app.count_rows(&db, "projects").await, 0);
    let ok = app
        .client
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

async fn projects_keys_and_accounts(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let project = app
        .admin_post(
            "/admin/projects",
            json!({"name": "Acme"}),
            StatusCode::CREATED,
        )
        .await;
    let project_id = project["id"].as_str().unwrap();
    let secret = project["signing_secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 30);

    let listed = app.admin_get("/admin/projects").await;
    assert_eq!(listed["data"][0]["id"], json!(project_id));
    assert!(
        listed["data"][0].get("signing_secret").is_none(),
        "the secret is shown once"
    );

    let key = app
        .admin_post(
            &format!("/admin/projects/{project_id}/api-keys"),
            json!({"name": "prod"}),
            StatusCode::CREATED,
        )
        .await;
    let key_value = key["key"].as_str().unwrap();
    assert!(key_value.starts_with("agw_") && key_value.len() >= 40);

    let credentials = json!({});
    let account = app
        .admin_post(
            &format!("/admin/projects/{project_id}/accounts"),
            json!({"provider": "sandbox", "name": "Demo", "credentials": credentials, "settings": {"auto_complete_after": "2s", "pass_mark": 70}}),
            StatusCode::CREATED,
        )
        .await;
    let account_id = account["id"].as_str().unwrap();
    assert_eq!(account["provider"], "sandbox");
    assert_eq!(
        account["settings"],
        json!({"auto_complete_after": "2s", "pass_mark": 70})
    );
    assert!(account.get("credentials").is_none());

    let detail = app
        .admin_get(&format!("/admin/projects/{project_id}"))
        .await;
    assert_eq!(detail["api_keys"][0]["prefix"], json!(&key_value[..10]));
    assert!(
        !detail.to_string().contains(key_value),
        "the key is never shown again"
    );
    assert_eq!(detail["accounts"][0]["id"], json!(account_id));

    let patched = app
        .admin(Method::PATCH, &format!("/admin/accounts/{account_id}"))
        .json(&json!({"name": "Demo 2", "settings": {"pass_mark": null, "base_url": "http://127.0.0.1:9"}}))
        .send()
        .await
        .unwrap();
    let patched = expect_json(patched, StatusCode::OK).await;
    assert_eq!(patched["name"], "Demo 2");
    assert_eq!(
        patched["settings"],
        json!({"auto_complete_after": "2s", "base_url": "http://127.0.0.1:9"})
    );
    assert_eq!(
        app.admin_get(&format!("/admin/accounts/{account_id}"))
            .await["name"],
        "Demo 2"
    );

    let bad_patch = app
        .admin(Method::PATCH, &format!("/admin/accounts/{account_id}"))
        .json(&json!({"settings": {"pass_mark": 130}}))
        .send()
        .await
        .unwrap();
    expect_error(bad_patch, StatusCode::BAD_REQUEST, "pass_mark").await;
    let unknown_field = app
        .admin(Method::PATCH, &format!("/admin/accounts/{account_id}"))
        .json(&json!({"provider": "testgorilla"}))
        .send()
        .await
        .unwrap();
    expect_error(unknown_field, StatusCode::BAD_REQUEST, "provider").await;

    let deleted = app
        .admin(Method::DELETE, &format!("/admin/accounts/{account_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let gone = app
        .admin(Method::GET, &format!("/admin/accounts/{account_id}"))
        .send()
        .await
        .unwrap();
    expect_error(gone, StatusCode::NOT_FOUND, "linked account").await;
    let again = app
        .admin(Method::DELETE, &format!("/admin/accounts/{account_id}"))
        .send()
        .await
        .unwrap();
    expect_error(again, StatusCode::NOT_FOUND, "linked account").await;
}

async fn bad_admin_input_writes_nothing(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let no_name = app
        .admin(Method::POST, "/admin/projects")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(no_name, StatusCode::BAD_REQUEST, "name").await;
    let blank = app
        .admin(Method::POST, "/admin/projects")
        .json(&json!({"name": "  "}))
        .send()
        .await
        .unwrap();
    expect_error(blank, StatusCode::BAD_REQUEST, "name").await;
    let malformed = app
        .admin(Method::POST, "/admin/projects")
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    expect_error(malformed, StatusCode::BAD_REQUEST, "JSON").await;
    let unknown_project = app
        .admin(
            Method::POST,
            &format!("/admin/projects/{}/api-keys", uuid::Uuid::now_v7()),
        )
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap();
    expect_error(unknown_project, StatusCode::NOT_FOUND, "project").await;
    assert_eq!(app.count_rows(&db, "projects").await, 0);
    assert_eq!(app.count_rows(&db, "api_keys").await, 0);

    let project = app
        .admin_post(
            "/admin/projects",
            json!({"name": "Acme"}),
            StatusCode::CREATED,
        )
        .await;
    let accounts = format!(
        "/admin/projects/{}/accounts",
        project["id"].as_str().unwrap()
    );
    for (body, needle) in [
        (
            json!({"provider": "smartrecruiters", "name": "x"}),
            "provider",
        ),
        (json!({"provider": "sandbox"}), "name"),
        (
            json!({"provider": "sandbox", "name": "x", "credentials": {"token": "t"}}),
            "credentials",
        ),
        (
            json!({"provider": "sandbox", "name": "x", "settings": {"auto_complete_after": "later"}}),
            "auto_complete_after",
        ),
        (
            json!({"provider": "sandbox", "name": "x", "settings": {"base_url": "http://h/path"}}),
            "base_url",
        ),
        (
            json!({"provider": "sandbox", "name": "x", "settings": []}),
            "settings",
        ),
        // Durations that would overflow date arithmetic, or make no sense, are refused.
        (
            json!({"provider": "sandbox", "name": "x", "settings": {"validity": "100000000y"}}),
            "settings.validity",
        ),
        (
            json!({"provider": "sandbox", "name": "x", "settings": {"validity": "366d"}}),
            "to 365d",
        ),
        (
            json!({"provider": "sandbox", "name": "x", "settings": {"auto_complete_after": "100000000y"}}),
            "auto_complete_after",
        ),
        (
            json!({"provider": "sandbox", "name": "x", "settings": {"auto_complete_after": "25h"}}),
            "at most 1 day",
        ),
    ] {
        let response = app
            .admin(Method::POST, &accounts)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, needle).await;
    }
    assert_eq!(app.count_rows(&db, "accounts").await, 0);
    let unknown_key = app
        .admin(
            Method::DELETE,
            &format!("/admin/api-keys/{}", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    expect_error(unknown_key, StatusCode::NOT_FOUND, "API key").await;
    let bad_id = app
        .admin(Method::GET, "/admin/orders/not-an-id")
        .send()
        .await
        .unwrap();
    expect_error(bad_id, StatusCode::NOT_FOUND, "order").await;
    let bad_filter = app
        .admin(Method::GET, "/admin/orders?status=done")
        .send()
        .await
        .unwrap();
    expect_error(bad_filter, StatusCode::BAD_REQUEST, "status").await;
}

async fn orders_are_listed_with_filters_and_shown_with_their_timeline(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let other = app.create_tenant().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = stackone_order(&format!("o-{i}"), "ada@example.com", "sandbox-coding");
        ids.push(
            expect_json(app.order(&tenant, &body).await, StatusCode::OK).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    expect_json(
        app.order(
            &other,
            &stackone_order("x", "bob@example.com", "sandbox-typing"),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    let page1 = app
        .admin_get(&format!(
            "/admin/orders?project_id={}&page_size=2",
            tenant.project_id
        ))
        .await;
    let got: Vec<&str> = page1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[2].as_str(), ids[1].as_str()], "newest first");
    let next = page1["next"].as_str().unwrap();
    let page2 = app
        .admin_get(&format!(
            "/admin/orders?project_id={}&page_size=2&next={next}",
            tenant.project_id
        ))
        .await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["data"][0]["id"], json!(ids[0]));
    assert!(page2["next"].is_null());

    let by_account = app
        .admin_get(&format!("/admin/orders?account_id={}", other.account_id))
        .await;
    assert_eq!(by_account["data"].as_array().unwrap().len(), 1);
    assert_eq!(by_account["data"][0]["package_id"], "sandbox-typing");
    let invited = app
        .admin_get("/admin/orders?status=invited&provider=sandbox")
        .await;
    assert_eq!(invited["data"].as_array().unwrap().len(), 4);
    assert!(
        app.admin_get("/admin/orders?provider=testgorilla").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let detail = app.admin_get(&format!("/admin/orders/{}", ids[0])).await;
    assert_eq!(detail["status"], "invited");
    assert_eq!(detail["client_order_id"], "o-0");
    assert_eq!(detail["request"]["candidate"]["first_name"], "Romain");
    assert_eq!(detail["result"]["result"]["value"], "initiated");
    let timeline = detail["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[0]["to_status"], "pending");
    assert_eq!(timeline[1]["from_status"], "pending");
    assert_eq!(timeline[1]["to_status"], "invited");
}

/// Settings stored before they were bounded (or written past the API) must not break polls:
/// date arithmetic saturates instead of panicking.
async fn absurd_stored_durations_do_not_break_an_account(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app
        .create_tenant_with("sandbox", json!({}), json!({"auto_complete_after": "2s"}))
        .await;
    let settings = r#"{"auto_complete_after": "100000000y", "validity": "100000000y"}"#;
    if db.backend == "postgres" {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query("UPDATE accounts SET settings = CAST($1 AS jsonb)")
            .bind(settings)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query("UPDATE accounts SET settings = $1")
            .bind(settings)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    // The account cache keeps an opened account for 5 s; this app has not opened it yet.
    let created = expect_json(
        app.order(
            &tenant,
            &stackone_order("far", "ada@example.com", "sandbox-coding"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let refreshed = app
        .admin(
            Method::POST,
            &format!("/admin/orders/{}/refresh", created["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    let detail = expect_json(refreshed, StatusCode::OK).await;
    assert_eq!(detail["status"], "invited");
}

on_both_databases!(
    absurd_stored_durations_do_not_break_an_account,
    admin_calls_need_the_admin_token,
    projects_keys_and_accounts,
    bad_admin_input_writes_nothing,
    orders_are_listed_with_filters_and_shown_with_their_timeline,
);
