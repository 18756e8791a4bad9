//! The audit trail: every change made through the admin API or the console is recorded with its
//! actor, action, target, project, outcome and request id, and never with a secret; reads and
//! unauthenticated requests are not; `GET /admin/audit-events` filters and pages it, and the
//! console shows it.

mod common;

use common::{expect_error, expect_json, stackone_order, ApiClient, TestApp, TestDb, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn audit(app: &ApiClient, query: &str) -> Value {
    app.admin_get(&format!("/admin/audit-events{query}")).await
}

fn actions(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

async fn placed_order(app: &ApiClient, tenant: &common::Tenant, id: &str) -> String {
    let order = stackone_order(id, "ada.lovelace@example.com", "sandbox-coding");
    let placed = expect_json(app.order(tenant, &order).await, StatusCode::OK).await;
    placed["id"].as_str().unwrap().to_string()
}

async fn admin_actions_are_recorded(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let order = placed_order(&app, &tenant, "audit-1").await;

    let cancelled = app
        .admin(Method::POST, &format!("/admin/orders/{order}/cancel"))
        .header("x-request-id", "audit-cancel-1")
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    let again = app
        .admin(Method::POST, &format!("/admin/orders/{order}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let again_id = again.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let revoked = app
        .admin(
            Method::DELETE,
            &format!("/admin/api-keys/{}", tenant.key_id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let renamed = app
        .admin(
            Method::PATCH,
            &format!("/admin/accounts/{}", tenant.account_id),
        )
        .json(&json!({"name": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    let deleted = app
        .admin(
            Method::DELETE,
            &format!("/admin/accounts/{}", tenant.account_id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let rotated = app
        .admin_post(
            &format!("/admin/projects/{}/signing-secret", tenant.project_id),
            json!({}),
            StatusCode::CREATED,
        )
        .await;

    // Not recorded: reads, requests without the admin token, routes that are not actions.
    app.admin_get("/admin/orders").await;
    let anonymous = app
        .client
        .post(format!("{}/admin/projects", app.url))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong_token = app
        .client
        .delete(format!("{}/admin/accounts/{}", app.url, tenant.account_id))
        .bearer_auth("not-the-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), StatusCode::UNAUTHORIZED);

    let trail = audit(&app, "").await;
    assert_eq!(
        actions(&trail),
        [
            "project.rotate_signing_secret",
            "account.delete",
            "account.update",
            "api_key.revoke",
            "order.cancel",
            "order.cancel",
            "account.create",
            "api_key.create",
            "project.create",
        ],
        "{trail:#}"
    );
    let events = trail["data"].as_array().unwrap();
    let project = tenant.project_id.as_str();
    for event in events {
        assert_eq!(event["actor"], "admin_api", "{event}");
        assert_eq!(event["project_id"], project, "{event}");
        assert!(event["request_id"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(event["at"].as_str().unwrap().ends_with('Z'));
    }
    let (failed, done) = (&events[4], &events[5]);
    assert_eq!(done["target"], format!("order:{order}"));
    assert_eq!(done["outcome"], "succeeded");
    assert_eq!(done["status_code"], 200);
    assert_eq!(done["request_id"], "audit-cancel-1");
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["status_code"], 409);
    assert_eq!(failed["request_id"], again_id);
    assert_eq!(
        events[1]["target"],
        format!("account:{}", tenant.account_id)
    );
    assert_eq!(events[3]["target"], format!("api_key:{}", tenant.key_id));
    assert_eq!(
        events[6]["target"],
        format!("account:{}", tenant.account_id)
    );
    assert_eq!(events[7]["target"], format!("api_key:{}", tenant.key_id));
    assert_eq!(events[8]["target"], format!("project:{project}"));
    assert_eq!(events[8]["status_code"], 201);

    // Never a secret or a candidate's data.
    let text = trail.to_string();
    for secret in [
        tenant.api_key.as_str(),
        tenant.signing_secret.as_str(),
        rotated["signing_secret"].as_str().unwrap(),
        ADMIN_TOKEN,
        "ada.lovelace",
        "renamed",
    ] {
        assert!(!text.contains(secret), "the trail shows {secret}");
    }
}

async fn the_trail_is_filtered_and_paged(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let first = app.create_tenant().await;
    let second = app.create_tenant().await;
    let order = placed_order(&app, &second, "audit-2").await;
    let refreshed = app
        .admin(Method::POST, &format!("/admin/orders/{order}/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);

    let of_first = audit(&app, &format!("?project_id={}", first.project_id)).await;
    assert_eq!(
        actions(&of_first),
        ["account.create", "api_key.create", "project.create"]
    );
    let of_second = audit(&app, &format!("?project_id={}", second.project_id)).await;
    assert_eq!(actions(&of_second)[0], "order.refresh");
    let creates = audit(&app, "?action=project.create").await;
    assert_eq!(creates["data"].as_array().unwrap().len(), 2);
    assert_eq!(creates["data"][0]["project_id"], second.project_id);

    // Page by page, newest first, each event once.
    let mut seen = Vec::new();
    let mut query = "?page_size=2".to_string();
    loop {
        let page = audit(&app, &query).await;
        assert!(page["data"].as_array().unwrap().len() <= 2);
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next"].as_str() {
            Some(next) => query = format!("?page_size=2&next={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");

    for (query, needle) in [
        ("?action=order.explode", "action"),
        ("?project_id=nope", "project_id"),
        ("?next=abc", "next"),
        ("?page_size=0", "page_size"),
    ] {
        let refused = app
            .admin(Method::GET, &format!("/admin/audit-events{query}"))
            .send()
            .await
            .unwrap();
        expect_error(refused, StatusCode::BAD_REQUEST, needle).await;
    }
    let anonymous = app
        .client
        .get(format!("{}/admin/audit-events", app.url))
        .send()
        .await
        .unwrap();
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "ADMIN_TOKEN").await;
}

/// Signs in to the console: the session cookie and the form token of its pages.
async fn console_session(app: &ApiClient) -> (String, String) {
    let signed_in = app
        .client
        .post(format!("{}/console/login", app.url))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = app
        .client
        .get(format!("{}/console", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token on the page")
        .to_string();
    (cookie, token)
}

async fn console_actions_are_recorded(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let order = placed_order(&app, &tenant, "audit-3").await;
    let sign_in = |token: &'static str| {
        app.client
            .post(format!("{}/console/login", app.url))
            .form(&[("token", token)])
            .send()
    };

    let wrong = sign_in("not-the-admin-token").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let (cookie, token) = console_session(&app).await;
    let console_post = |path: String, csrf: String| {
        app.client
            .post(format!("{}{path}", app.url))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf)])
            .send()
    };
    let cancelled = console_post(format!("/console/orders/{order}/cancel"), token.clone())
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    // A failed action answers its error's status, and is recorded as failed.
    let again = console_post(format!("/console/orders/{order}/cancel"), token.clone())
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("cancel failed"));
    let forged = console_post(format!("/console/orders/{order}/refresh"), "forged".into())
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // Without a session nothing is done, and nothing recorded.
    let anonymous = app
        .client
        .post(format!("{}/console/orders/{order}/refresh", app.url))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);

    let trail = audit(&app, "").await;
    let events = trail["data"].as_array().unwrap();
    assert_eq!(
        actions(&trail)[..5],
        [
            "order.refresh",
            "order.cancel",
            "order.cancel",
            "console.sign_in",
            "console.sign_in"
        ],
        "{trail:#}"
    );
    let session = events[0]["actor"].as_str().unwrap();
    assert!(
        session.starts_with("console:") && session.len() == "console:".len() + 16,
        "{session}"
    );
    assert!(!cookie.contains(&session["console:".len()..]));
    for (event, outcome, status) in [
        (&events[0], "refused", 403),
        (&events[1], "failed", 409),
        (&events[2], "succeeded", 200),
        (&events[3], "succeeded", 303),
        (&events[4], "refused", 401),
    ] {
        assert_eq!(event["outcome"], outcome, "{event}");
        assert_eq!(event["status_code"], status, "{event}");
    }
    for event in &events[..4] {
        assert_eq!(event["actor"], session, "one session did these: {event}");
    }
    assert_eq!(events[2]["target"], format!("order:{order}"));
    assert_eq!(events[2]["project_id"], tenant.project_id);
    assert_eq!(events[4]["actor"], "console");
    assert_eq!(events[4]["target"], "client:127.0.0.1");
    assert!(events[4]["project_id"].is_null());

    // Wrong tokens past the throttle are not attempts: nothing is recorded for them.
    for _ in 0..4 {
        assert_eq!(
            sign_in("still-wrong").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in("still-wrong").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let sign_ins = audit(&app, "?action=console.sign_in").await;
    assert_eq!(sign_ins["data"].as_array().unwrap().len(), 6);

    // The console's Audit page shows the trail.
    let page = app
        .client
        .get(format!("{}/console/audit?action=order.cancel", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert_eq!(page.matches("<td>order.cancel</td>").count(), 2, "{page}");
    assert!(page.contains(session));
    assert!(!page.contains("<td>console.sign_in</td>"));

    let signed_out = console_post("/console/logout".into(), token).await.unwrap();
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    let last = audit(&app, "?page_size=1").await;
    assert_eq!(last["data"][0]["action"], "console.sign_out");
    assert_eq!(last["data"][0]["actor"], session);
}

on_both_databases!(
    admin_actions_are_recorded,
    the_trail_is_filtered_and_paged,
    console_actions_are_recorded,
);
