//! The StackOne-compatible unified API as an ATS sees it, on both databases.

mod common;

use std::collections::HashSet;

use common::{expect_error, expect_json, stackone_order, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ORDERS: &str = "/unified/ats/assessments/orders";
const PACKAGES: &str = "/unified/ats/assessments/packages";

async fn packages_page_through_with_the_cursor(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = app.unified(Method::GET, PACKAGES, &tenant).query(&[
            ("page_size", "2"),
            ("raw", "false"),
            ("foo", "bar"),
        ]);
        if let Some(cursor) = &next {
            request = request.query(&[("next", cursor)]);
        }
        let body = expect_json(request.send().await.unwrap(), StatusCode::OK).await;
        pages += 1;
        let data = body["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        for package in data {
            let keys: HashSet<&str> = package
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                HashSet::from(["id", "remote_id", "name", "description"])
            );
            ids.push(package["id"].as_str().unwrap().to_string());
        }
        match body["next"].as_str() {
            Some(cursor) => next = Some(cursor.to_string()),
            None => {
                assert!(body["next"].is_null(), "next is null on the last page");
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 5);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        5,
        "no package twice"
    );

    let default_page = expect_json(
        app.unified(Method::GET, PACKAGES, &tenant)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(default_page["data"].as_array().unwrap().len(), 5);

    // Both encodings of the updated_after filter StackOne clients use.
    for key in ["updated_after", "filter[updated_after]"] {
        let body = expect_json(
            app.unified(Method::GET, PACKAGES, &tenant)
                .query(&[(key, "2025-06-01T00:00:00.000Z")])
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(body["data"].as_array().unwrap().len(), 2, "{key}");
    }

    let bad_cursor = app
        .unified(Method::GET, PACKAGES, &tenant)
        .query(&[("next", "%%%")])
        .send()
        .await
        .unwrap();
    expect_error(bad_cursor, StatusCode::BAD_REQUEST, "next").await;
    let bad_size = app
        .unified(Method::GET, PACKAGES, &tenant)
        .query(&[("page_size", "lots")])
        .send()
        .await
        .unwrap();
    expect_error(bad_size, StatusCode::BAD_REQUEST, "page_size").await;
    let bad_date = app
        .unified(Method::GET, PACKAGES, &tenant)
        .query(&[("updated_after", "yesterday")])
        .send()
        .await
        .unwrap();
    expect_error(bad_date, StatusCode::BAD_REQUEST, "updated_after").await;

    let one = expect_json(
        app.unified(Method::GET, &format!("{PACKAGES}/sandbox-coding"), &tenant)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["data"]["id"], "sandbox-coding");
    assert_eq!(one["data"]["name"], "Coding (sandbox)");
    let missing = app
        .unified(Method::GET, &format!("{PACKAGES}/nope"), &tenant)
        .send()
        .await
        .unwrap();
    expect_error(missing, StatusCode::NOT_FOUND, "nope").await;
}

async fn an_order_returns_the_flat_stackone_body_and_reads_back(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let body = stackone_order(
        "ats-order-1",
        "sestier.romain123@gmail.com",
        "sandbox-coding",
    );
    let created = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    let keys: HashSet<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, HashSet::from(["id", "remote_id", "test_url"]));
    let order_id = created["id"].as_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(order_id).is_ok(),
        "the gateway's own order id"
    );
    let remote_id = created["remote_id"].as_str().unwrap();
    assert!(remote_id.starts_with("sbx_"));
    assert_eq!(
        created["test_url"],
        json!(format!("{}/sandbox/tests/{remote_id}", app.url))
    );

    let read = expect_json(
        app.unified(Method::GET, &format!("{ORDERS}/{order_id}"), &tenant)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let data = &read["data"];
    assert_eq!(data["id"], json!(order_id));
    assert_eq!(data["client_order_id"], "ats-order-1");
    assert_eq!(data["status"], "invited");
    assert_eq!(data["remote_id"], json!(remote_id));
    assert_eq!(data["candidate"], body["candidate"]);
    assert_eq!(data["job"], body["job"]);
    assert_eq!(data["application"], body["application"]);
    assert_eq!(data["requester"], body["requester"]);
    assert_eq!(data["package"], body["package"]);
    assert_eq!(data["results_update_url"], body["results_update_url"]);

    // The caller's own id finds the order too.
    let by_client_id = expect_json(
        app.unified(Method::GET, &format!("{ORDERS}/ats-order-1"), &tenant)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_client_id["data"]["id"], json!(order_id));

    let results = expect_json(
        app.unified(
            Method::GET,
            &format!("{ORDERS}/{order_id}/results"),
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(results["data"]["id"], json!(order_id));
    assert_eq!(results["data"]["remote_id"], json!(remote_id));
    assert_eq!(results["data"]["result"]["value"], "initiated");
    assert_eq!(results["data"]["candidate"]["id"], "cand-1");
}

async fn the_same_key_and_body_replays_and_a_different_body_conflicts(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let body = stackone_order("ats-42", "ada@example.com", "sandbox-coding");
    let first = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;

    // Same JSON with other key order and spacing is the same request.
    let reordered: Value =
        serde_json::from_str(&serde_json::to_string_pretty(&body).unwrap()).unwrap();
    let replay = expect_json(app.order(&tenant, &reordered).await, StatusCode::OK).await;
    assert_eq!(replay, first, "the original 200 body");

    let mut different = body.clone();
    different["candidate"]["first_name"] = json!("Grace");
    let conflict = app.order(&tenant, &different).await;
    expect_error(conflict, StatusCode::CONFLICT, "ats-42").await;

    // The Idempotency-Key header scopes a request without body id.
    let mut anonymous = body.clone();
    anonymous.as_object_mut().unwrap().remove("id");
    let send = |key: &'static str| {
        app.unified(Method::POST, ORDERS, &tenant)
            .header("Idempotency-Key", key)
            .json(&anonymous)
            .send()
    };
    let a = expect_json(send("key-a").await.unwrap(), StatusCode::OK).await;
    let a_again = expect_json(send("key-a").await.unwrap(), StatusCode::OK).await;
    let b = expect_json(send("key-b").await.unwrap(), StatusCode::OK).await;
    assert_eq!(a, a_again);
    assert_ne!(a["id"], b["id"]);

    assert_eq!(
        app.count_rows(&db, "orders").await,
        3,
        "ats-42, key-a, key-b"
    );
}

async fn concurrent_duplicates_make_one_order_and_one_vendor_call(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let body = stackone_order("burst-1", "ada@example.com", "sandbox-coding");
    let requests = (0..24).map(|_| app.order(&tenant, &body));
    let responses = futures::future::join_all(requests).await;
    let mut bodies = Vec::new();
    for response in responses {
        bodies.push(expect_json(response, StatusCode::OK).await);
    }
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "every duplicate gets the same body: {bodies:?}"
    );
    assert_eq!(app.count_rows(&db, "orders").await, 1);
    // The sandbox mints a new invitation id per call: one id means one vendor call.
    let order_id = uuid::Uuid::parse_str(bodies[0]["id"].as_str().unwrap()).unwrap();
    let events = app.gateway.store.list_order_events(order_id).await.unwrap();
    let invites = events
        .iter()
        .filter(|e| e.message == "invitation created at the vendor")
        .count();
    assert_eq!(invites, 1, "{events:?}");
}

async fn a_refused_invitation_fails_the_order_and_the_same_id_can_retry(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let refused = stackone_order("retry-1", "refuse@example.com", "sandbox-coding");
    let error = expect_error(
        app.order(&tenant, &refused).await,
        StatusCode::BAD_REQUEST,
        "refused",
    )
    .await;
    let provider_errors = error["provider_errors"]
        .as_array()
        .expect("provider_errors");
    assert_eq!(provider_errors[0]["status"], 400);
    assert!(provider_errors[0]["raw"].is_object());
    let orders = app.admin_get("/admin/orders?status=failed").await;
    assert_eq!(orders["data"].as_array().unwrap().len(), 1);
    let order_id = orders["data"][0]["id"].as_str().unwrap().to_string();
    assert!(orders["data"][0]["failure_reason"]
        .as_str()
        .unwrap()
        .contains("refused"));

    // The same id and body: tried again at the vendor (and refused again).
    expect_error(
        app.order(&tenant, &refused).await,
        StatusCode::BAD_REQUEST,
        "refused",
    )
    .await;
    let detail = app.admin_get(&format!("/admin/orders/{order_id}")).await;
    let statuses: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "failed", "pending", "failed"]);
    assert_eq!(app.count_rows(&db, "orders").await, 1);
}

async fn bad_input_is_refused_and_writes_nothing(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let other = app.create_tenant().await;
    let good = stackone_order("bad-1", "ada@example.com", "sandbox-coding");
    let url = format!("{}{ORDERS}", app.url);

    // Authentication.
    let no_auth = app
        .client
        .post(&url)
        .header("x-account-id", &tenant.account_id)
        .json(&good)
        .send()
        .await
        .unwrap();
    expect_error(no_auth, StatusCode::UNAUTHORIZED, "Authorization").await;
    let garbled = app
        .client
        .post(&url)
        .header("authorization", "Basic ???")
        .header("x-account-id", &tenant.account_id)
        .json(&good)
        .send()
        .await
        .unwrap();
    expect_error(garbled, StatusCode::UNAUTHORIZED, "malformed").await;
    let wrong_key = app
        .client
        .post(&url)
        .basic_auth("agw_not_a_key", Some(""))
        .header("x-account-id", &tenant.account_id)
        .json(&good)
        .send()
        .await
        .unwrap();
    expect_error(wrong_key, StatusCode::UNAUTHORIZED, "not valid").await;

    // Accounts.
    let no_account = app
        .client
        .post(&url)
        .basic_auth(&tenant.api_key, Some(""))
        .json(&good)
        .send()
        .await
        .unwrap();
    expect_error(no_account, StatusCode::BAD_REQUEST, "x-account-id").await;
    let unknown = app
        .client
        .post(&url)
        .basic_auth(&tenant.api_key, Some(""))
        .header("x-account-id", uuid::Uuid::now_v7().to_string())
        .json(&good)
        .send()
        .await
        .unwrap();
    expect_error(unknown, StatusCode::NOT_FOUND, "linked account").await;
    let foreign = app
        .client
        .post(&url)
        .basic_auth(&tenant.api_key, Some(""))
        .header("x-account-id", &other.account_id)
        .json(&good)
        .send()
        .await
        .unwrap();
    expect_error(foreign, StatusCode::NOT_FOUND, "linked account").await;

    // Bodies.
    let post_raw = |body: &'static str| {
        app.unified(Method::POST, ORDERS, &tenant)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    expect_error(
        post_raw("{\"id\": ").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "not valid JSON",
    )
    .await;
    expect_error(
        post_raw("").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "request body",
    )
    .await;
    expect_error(
        post_raw("[]").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "JSON object",
    )
    .await;
    expect_error(
        post_raw(r#"{"package": {"id": 7}}"#).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "package.id",
    )
    .await;
    expect_error(
        post_raw(r#"{"candidate": {"emails": "ada@example.com"}}"#)
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "candidate.emails",
    )
    .await;

    let mut no_package = good.clone();
    no_package["package"] = Value::Null;
    expect_error(
        app.order(&tenant, &no_package).await,
        StatusCode::BAD_REQUEST,
        "package.id",
    )
    .await;
    let mut no_email = good.clone();
    no_email["candidate"]["emails"] = json!([]);
    expect_error(
        app.order(&tenant, &no_email).await,
        StatusCode::BAD_REQUEST,
        "candidate.emails",
    )
    .await;
    let mut bad_email = good.clone();
    bad_email["candidate"]["emails"] = json!([{"value": "not-an-email"}]);
    expect_error(
        app.order(&tenant, &bad_email).await,
        StatusCode::BAD_REQUEST,
        "email",
    )
    .await;
    let mut unknown_package = good.clone();
    unknown_package["package"]["id"] = json!("no-such-test");
    expect_error(
        app.order(&tenant, &unknown_package).await,
        StatusCode::NOT_FOUND,
        "package.id",
    )
    .await;
    let mut bad_url = good.clone();
    bad_url["results_update_url"] = json!("ftp://ats/results");
    expect_error(
        app.order(&tenant, &bad_url).await,
        StatusCode::BAD_REQUEST,
        "results_update_url",
    )
    .await;

    // Every stored string has its limit, named in the refusal.
    for (field, value, named) in [
        (
            "/candidate/first_name",
            json!("x".repeat(201)),
            "candidate.first_name: at most 200",
        ),
        (
            "/candidate/emails",
            json!([{"value": format!("{}@example.com", "a".repeat(250))}]),
            "candidate.emails[0].value: at most 254",
        ),
        ("/id", json!("k".repeat(256)), "id: at most 255"),
        (
            "/results_update_url",
            json!(format!("https://ats.example.com/{}", "r".repeat(2048))),
            "results_update_url: at most 2048",
        ),
        (
            "/passthrough",
            json!({"blob": "x".repeat(16 * 1024)}),
            "passthrough: at most 16 KB",
        ),
        (
            "/job/title",
            json!("t".repeat(201)),
            "job.title: at most 200",
        ),
    ] {
        let mut long = good.clone();
        *long.pointer_mut(field).unwrap() = value;
        expect_error(
            app.order(&tenant, &long).await,
            StatusCode::BAD_REQUEST,
            named,
        )
        .await;
    }

    let mut huge = good.clone();
    huge["passthrough"] = json!({"blob": "x".repeat(1024 * 1024 + 10)});
    expect_error(
        app.order(&tenant, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "1 MiB",
    )
    .await;

    // Routes and methods.
    let unknown_route = app
        .unified(Method::GET, "/unified/ats/assessments/nothing", &tenant)
        .send()
        .await
        .unwrap();
    expect_error(unknown_route, StatusCode::NOT_FOUND, "route").await;
    let wrong_method = app
        .unified(Method::DELETE, ORDERS, &tenant)
        .send()
        .await
        .unwrap();
    expect_error(wrong_method, StatusCode::METHOD_NOT_ALLOWED, "method").await;

    assert_eq!(app.count_rows(&db, "orders").await, 0);
    assert_eq!(app.count_rows(&db, "order_events").await, 0);

    // A revoked key stops working at once.
    let revoked = app
        .admin(
            Method::DELETE,
            &format!("/admin/api-keys/{}", tenant.key_id),
        )
        .send()
        .await
        .unwrap();
    let revoked = expect_json(revoked, StatusCode::OK).await;
    assert_eq!(revoked["id"], tenant.key_id);
    assert_eq!(revoked["project_id"], tenant.project_id);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    expect_error(
        app.order(&tenant, &good).await,
        StatusCode::UNAUTHORIZED,
        "revoked",
    )
    .await;
    assert_eq!(app.count_rows(&db, "orders").await, 0);
}

async fn a_pushed_result_updates_the_order(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let created = expect_json(
        app.order(
            &tenant,
            &stackone_order("push-1", "ada@example.com", "sandbox-coding"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let order_id = created["id"].as_str().unwrap();
    let path = format!("{ORDERS}/{order_id}/result");
    let update = json!({
        "id": "legacy-ignored",
        "score": {"label": "Percentage", "value": "80", "min": "0", "max": "100"},
        "start_date": "2025-01-01T10:00:00.000Z", "submission_date": "2025-01-01T10:45:00.000Z",
        "summary": "Passed with 80%", "result": {"value": "passed", "source_value": "Passed"},
        "result_url": "https://vendor.example.com/report/1",
        "attachments": [{"url": "https://vendor.example.com/r.pdf", "content_type": {"value": "pdf", "source_value": "PDF"}}],
        "candidate": {"id": "cand-1", "profile_url": "https://ats/c1"},
        "passthrough": {"x": 1}
    });
    let answer = expect_json(
        app.unified(Method::PATCH, &path, &tenant)
            .json(&update)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["message"], "Record updated successfully.");
    assert!(chrono::DateTime::parse_from_rfc3339(answer["timestamp"].as_str().unwrap()).is_ok());

    let results = expect_json(
        app.unified(
            Method::GET,
            &format!("{ORDERS}/{order_id}/results"),
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let data = &results["data"];
    assert_eq!(
        data["result"],
        json!({"value": "passed", "source_value": "Passed"})
    );
    assert_eq!(data["score"]["value"], "80");
    assert_eq!(data["attachments"][0]["content_type"]["value"], "pdf");
    assert_eq!(data["id"], json!(order_id));
    let order = expect_json(
        app.unified(Method::GET, &format!("{ORDERS}/{order_id}"), &tenant)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(order["data"]["status"], "completed");

    // Bad dates name the field; an order that is over does not go back to in progress.
    let bad_date = app
        .unified(Method::PATCH, &path, &tenant)
        .json(&json!({"start_date": "01/01/2025"}))
        .send()
        .await
        .unwrap();
    expect_error(bad_date, StatusCode::BAD_REQUEST, "start_date").await;
    let backwards = app
        .unified(Method::PATCH, &path, &tenant)
        .json(&json!({"result": {"value": "in_progress"}}))
        .send()
        .await
        .unwrap();
    expect_error(backwards, StatusCode::CONFLICT, "completed").await;
    let missing = app
        .unified(Method::PATCH, &format!("{ORDERS}/nope/result"), &tenant)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(missing, StatusCode::NOT_FOUND, "nope").await;
    // Another project's key cannot see the order.
    let other = app.create_tenant().await;
    let foreign = app
        .unified(Method::GET, &format!("{ORDERS}/{order_id}"), &other)
        .send()
        .await
        .unwrap();
    expect_error(foreign, StatusCode::NOT_FOUND, "order").await;
}

async fn an_order_abandoned_mid_call_fails_and_its_replay_retries(db: TestDb) {
    use assessment_gateway::{
        crypto::sha256_hex,
        domain::{now, OrderRequest, OrderStatus},
        store::{NewEvent, OrderRecord},
    };
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let body = stackone_order("crashed-1", "ada@example.com", "sandbox-coding");
    let account = app
        .gateway
        .account(tenant.account_id.parse().unwrap())
        .await
        .unwrap();
    // What a gateway that died during the vendor call leaves behind.
    let long_ago = now() - chrono::Duration::minutes(10);
    let make = |key: &str, at| OrderRecord {
        id: uuid::Uuid::now_v7(),
        project_id: account.project_id,
        account_id: account.id,
        provider: "sandbox".into(),
        client_key: Some(key.into()),
        request_hash: sha256_hex(&body.to_string()),
        status: OrderStatus::Pending,
        package_id: "sandbox-coding".into(),
        candidate_email: "ada@example.com".into(),
        remote_id: None,
        test_url: None,
        results_update_url: None,
        request: serde_json::from_value::<OrderRequest>(body.clone()).unwrap(),
        provider_data: json!({}),
        result: None,
        failure_reason: None,
        next_poll_at: None,
        callback_token_hash: None,
        erased_at: None,
        created_at: at,
        updated_at: at,
    };
    let abandoned = make("crashed-1", long_ago);
    let in_flight = make("in-flight", now());
    app.gateway
        .store
        .insert_order(&abandoned, &NewEvent::new("order received"))
        .await
        .unwrap();
    app.gateway
        .store
        .insert_order(&in_flight, &NewEvent::new("order received"))
        .await
        .unwrap();

    assert_eq!(app.gateway.fail_abandoned_orders().await.unwrap(), 1);
    let failed = app
        .gateway
        .store
        .get_order(abandoned.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.status, OrderStatus::Failed);
    assert!(failed.failure_reason.unwrap().contains("unknown"));
    let untouched = app
        .gateway
        .store
        .get_order(in_flight.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        untouched.status,
        OrderStatus::Pending,
        "a recent call may still be running"
    );

    // The ATS retries the same order: it is placed, once, under the same gateway id.
    let retried = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    assert_eq!(retried["id"], json!(abandoned.id.to_string()));
    assert!(retried["test_url"].is_string());
    assert_eq!(app.gateway.fail_abandoned_orders().await.unwrap(), 0);
}

/// `RATE_LIMIT` requests a minute per API key: beyond it 429 with `Retry-After`; other keys, the
/// sandbox's pages and vendor callbacks go on.
async fn each_api_key_has_its_request_budget(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--rate-limit", "5"]).await;
    let tenant = app.create_tenant().await;
    let other = app.create_tenant().await;
    let created = expect_json(
        app.order(
            &tenant,
            &stackone_order("rl-1", "ada@example.com", "sandbox-coding"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    for _ in 0..4 {
        let listed = app
            .unified(Method::GET, "/unified/ats/assessments/packages", &tenant)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), StatusCode::OK);
    }
    let limited = app
        .unified(Method::GET, "/unified/ats/assessments/packages", &tenant)
        .send()
        .await
        .unwrap();
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry_after), "{retry_after}");
    expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT").await;
    let elsewhere = app
        .unified(Method::GET, "/unified/ats/assessments/packages", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        elsewhere.status(),
        StatusCode::OK,
        "another key is not held back"
    );
    let test_url = created["test_url"].as_str().unwrap();
    for _ in 0..10 {
        let page = app.client.get(test_url).send().await.unwrap();
        assert_eq!(
            page.status(),
            StatusCode::OK,
            "the candidate's page is not limited"
        );
    }
}

on_both_databases!(
    each_api_key_has_its_request_budget,
    an_order_abandoned_mid_call_fails_and_its_replay_retries,
    packages_page_through_with_the_cursor,
    an_order_returns_the_flat_stackone_body_and_reads_back,
    the_same_key_and_body_replays_and_a_different_body_conflicts,
    concurrent_duplicates_make_one_order_and_one_vendor_call,
    a_refused_invitation_fails_the_order_and_the_same_id_can_retry,
    bad_input_is_refused_and_writes_nothing,
    a_pushed_result_updates_the_order,
);
