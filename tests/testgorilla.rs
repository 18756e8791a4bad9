//! TestGorilla through the unified API, against a fake that speaks its documented wire format
//! (reference/providers.md §1) and checks method, path, query, `Authorization: Token …` and body.

mod common;

use std::time::Duration;

use common::{
    eventually, expect_error, expect_json, order_action, stackone_order,
    vendor_lists::TgCandidatures, vendor_tenant, TestApp, TestDb,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wiremock::{
    matchers::{body_json, header, method, path, query_param, query_param_is_missing},
    Mock, MockServer, ResponseTemplate,
};

const TOKEN: &str = "tg-secret-token";
const AUTH: &str = "Token tg-secret-token";

fn candidature(id: u64, status: &str, avg: Value) -> Value {
    json!({
        "id": id, "testtaker_id": 4276, "email": "ada@example.com", "full_name": "Ada Lovelace",
        "invitation_uuid": "edb70e44-271d-4e6a-8533-901fdc95f230",
        "invitation_link": "https://assessment.testgorilla.com/testtaker/takeinvitation/edb70e44-271d-4e6a-8533-901fdc95f230",
        "status": status, "stage": "NYE", "created": "2021-09-18T09:16:33.975663+02:00",
        "avg_score": avg, "rating": null, "review": null, "is_hired": false, "reminder_sent": false
    })
}

/// Another candidate's candidature at assessment 32, invited `minutes` after Ada's (before it when
/// negative), finished with 99 % when `completed`.
fn someone(id: u64, minutes: i64, status: &str) -> Value {
    let ada = chrono::DateTime::parse_from_rfc3339("2021-09-18T09:16:33.975663+02:00").unwrap();
    json!({
        "id": id, "testtaker_id": id + 100_000, "email": format!("c{id}@example.com"), "full_name": "Someone Else",
        "invitation_uuid": format!("uuid-{id}"),
        "invitation_link": format!("https://assessment.testgorilla.com/testtaker/takeinvitation/uuid-{id}"),
        "status": status, "stage": "NYE",
        "created": (ada + chrono::Duration::minutes(minutes)).to_rfc3339(),
        "avg_score": if status == "completed" { json!(99) } else { Value::Null },
        "rating": null, "review": null, "is_hired": false, "reminder_sent": false
    })
}

/// Candidatures of others: `newer` invited after Ada, `older` before her, ids below hers so that
/// the list's default order (by id) shows them first.
fn others(newer: u64, older: u64) -> Vec<Value> {
    (0..newer)
        .map(|n| someone(100 + n, 10 + n as i64, "completed"))
        .chain((0..older).map(|n| someone(5000 + n, -10 - n as i64, "completed")))
        .collect()
}

fn invite_mock(status: u16, body: Value) -> Mock {
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .and(query_param("no_email", "true"))
        .and(header("authorization", AUTH))
        .and(body_json(
            json!({"email": "ada@example.com", "first_name": "Romain", "last_name": "Sestier"}),
        ))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
}

async fn setup(db: &TestDb, extra: &[&str]) -> (TestApp, MockServer, common::Tenant) {
    let app = TestApp::spawn_with(db, extra).await;
    let fake = MockServer::start().await;
    let tenant = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": TOKEN}),
        &fake.uri(),
        json!({}),
    )
    .await;
    (app, fake, tenant)
}

async fn assessments_page_through_the_vendor(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    let assessment = |id: u64, name: &str| {
        json!({"id": id, "name": name, "candidates": 42, "invited": 13, "started": 8, "finished": 21,
        "status": "active", "finished_percentage": 50, "modified": "2021-07-10T15:06:05.719971+00:00"})
    };
    Mock::given(method("GET")).and(path("/api/assessments/")).and(query_param("limit", "2")).and(query_param("offset", "0"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 3, "next": format!("{}/api/assessments/?limit=2&offset=2", fake.uri()),
            "previous": null, "results": [assessment(32, "Python developer"), assessment(33, "Data analyst")]})))
        .expect(1).mount(&fake).await;
    Mock::given(method("GET")).and(path("/api/assessments/")).and(query_param("limit", "2")).and(query_param("offset", "2"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 3, "next": null, "previous": null, "results": [assessment(34, "Sales")]})))
        .expect(1).mount(&fake).await;
    let first = expect_json(
        app.unified(
            Method::GET,
            "/unified/ats/assessments/packages?page_size=2",
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        first["data"][0],
        json!({"id": "32", "remote_id": "32", "name": "Python developer", "description": "TestGorilla assessment (active)"})
    );
    let next = first["next"].as_str().unwrap();
    let second = expect_json(
        app.unified(
            Method::GET,
            &format!("/unified/ats/assessments/packages?page_size=2&next={next}"),
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["data"][0]["id"], "34");
    assert!(second["next"].is_null());

    Mock::given(method("GET"))
        .and(path("/api/assessments/32/"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(assessment(32, "Python developer")))
        .mount(&fake)
        .await;
    let one = expect_json(
        app.unified(Method::GET, "/unified/ats/assessments/packages/32", &tenant)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["data"]["name"], "Python developer");
}

async fn updated_after_uses_the_modified_time(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    Mock::given(method("GET")).and(path("/api/assessments/")).and(query_param("ordering", "-modified")).and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 5, "results": [
            {"id": 40, "name": "New", "status": "active", "modified": "2025-09-01T00:00:00+00:00"},
            {"id": 39, "name": "Old", "status": "active", "modified": "2024-01-01T00:00:00+00:00"}]})))
        .expect(1).mount(&fake).await;
    let page = expect_json(
        app.unified(
            Method::GET,
            "/unified/ats/assessments/packages?filter[updated_after]=2025-01-01T00:00:00Z",
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], "40");
    assert!(page["next"].is_null(), "older assessments end the walk");
}

async fn an_order_invites_without_vendor_email_and_returns_the_link(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    invite_mock(201, candidature(8000, "invited", Value::Null))
        .expect(1)
        .mount(&fake)
        .await;
    let body = stackone_order("tg-1", "ada@example.com", "32");
    let created = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    assert_eq!(created["remote_id"], "8000");
    assert_eq!(created["test_url"], "https://assessment.testgorilla.com/testtaker/takeinvitation/edb70e44-271d-4e6a-8533-901fdc95f230");
    // A replay does not call the vendor again (the mock expects exactly one call).
    assert_eq!(
        expect_json(app.order(&tenant, &body).await, StatusCode::OK).await,
        created
    );
    let stored = app
        .gateway
        .store
        .get_order(created["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.provider_data["testtaker_id"], 4276,
        "testtaker_id is kept for results"
    );
    let mut bad = body.clone();
    bad["id"] = json!("tg-2");
    bad["package"]["id"] = json!("python");
    expect_error(
        app.order(&tenant, &bad).await,
        StatusCode::BAD_REQUEST,
        "package.id",
    )
    .await;
}

async fn the_vendor_email_is_an_account_setting(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let fake = MockServer::start().await;
    let tenant = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": TOKEN}),
        &fake.uri(),
        json!({"send_email": true}),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .and(query_param_is_missing("no_email"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(candidature(
            8001,
            "invited",
            Value::Null,
        )))
        .expect(1)
        .mount(&fake)
        .await;
    let created = expect_json(
        app.order(&tenant, &stackone_order("tg-mail", "ada@example.com", "32"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(created["remote_id"], "8001");
}

async fn a_repeating_invitation_is_the_existing_candidature(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    invite_mock(400, json!({"errors": [{"field": "email", "error_key": "REPEATING_INVITATION", "message": "Candidate already invited"}]}))
        .expect(1).mount(&fake).await;
    // Ada's candidature is neither on the first page by id nor by date: the walk must page.
    let mut items = others(0, 24);
    items.push(candidature(7999, "started", Value::Null));
    items.last_mut().unwrap()["created"] = json!("2021-09-01T08:00:00+00:00");
    TgCandidatures::new("32", items).mount(&fake).await;
    let created = expect_json(
        app.order(
            &tenant,
            &stackone_order("tg-repeat", "ada@example.com", "32"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(created["remote_id"], "7999");
    assert!(created["test_url"]
        .as_str()
        .unwrap()
        .contains("takeinvitation"));
}

/// TestGorilla lets a candidate take an assessment once: a second order for the same person is
/// answered `REPEATING_INVITATION`, and the candidature it finds is another order's or finished.
async fn a_new_order_takes_neither_another_order_s_candidature_nor_a_finished_one(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    invite_mock(201, candidature(8000, "invited", Value::Null))
        .up_to_n_times(1)
        .mount(&fake)
        .await;
    invite_mock(400, json!({"errors": [{"field": "email", "error_key": "REPEATING_INVITATION", "message": "Candidate already invited"}]}))
        .mount(&fake).await;
    let mut items = others(12, 3);
    items.push(candidature(8000, "invited", Value::Null));
    let list = TgCandidatures::new("32", items);
    list.mount(&fake).await;
    let first = expect_json(
        app.order(&tenant, &stackone_order("tg-a", "ada@example.com", "32"))
            .await,
        StatusCode::OK,
    )
    .await;
    let first_id = first["id"].as_str().unwrap();

    let held = expect_error(
        app.order(&tenant, &stackone_order("tg-b", "ada@example.com", "32"))
            .await,
        StatusCode::CONFLICT,
        first_id,
    )
    .await;
    assert!(held["message"].as_str().unwrap().contains("8000"), "{held}");

    list.items.update("id", json!(8000), |c| {
        c["status"] = json!("completed");
        c["avg_score"] = json!(64);
    });
    let finished = expect_error(
        app.order(&tenant, &stackone_order("tg-c", "ada@example.com", "32"))
            .await,
        StatusCode::CONFLICT,
        "'completed'",
    )
    .await;
    assert!(finished["message"].as_str().unwrap().contains("8000"));
    assert_eq!(finished["provider_errors"][0]["raw"]["id"], 8000);
    assert_eq!(finished["provider_errors"][0]["raw"]["status"], "completed");
    let failed = app.admin_get("/admin/orders?status=failed").await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.admin_get(&format!("/admin/orders/{first_id}")).await["status"],
        "invited"
    );
}

/// Only TestGorilla's error key means "already invited"; other refusals that say "already" are
/// passed on as they are, with nothing looked up.
async fn only_the_error_key_means_already_invited(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    invite_mock(
        400,
        json!({"errors": [{"field": "assessment", "error_key": "ASSESSMENT_ARCHIVED",
        "message": "This assessment was already archived"}]}),
    )
    .expect(1)
    .mount(&fake)
    .await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/candidature/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"count": 1, "next": null,
            "results": [candidature(7999, "invited", Value::Null)]})),
        )
        .expect(0)
        .mount(&fake)
        .await;
    let error = expect_error(
        app.order(&tenant, &stackone_order("tg-arch", "ada@example.com", "32"))
            .await,
        StatusCode::BAD_REQUEST,
        "already archived",
    )
    .await;
    assert_eq!(
        error["provider_errors"][0]["raw"]["errors"][0]["error_key"],
        "ASSESSMENT_ARCHIVED"
    );
}

async fn vendor_failures_map_to_precise_errors(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &["--provider-timeout", "1s"]).await;
    let cases: Vec<(u16, Value, StatusCode, &str)> = vec![
        (
            400,
            json!({"errors": [{"field": "email", "error_key": "BAD_EMAIL", "message": "Invalid email"}]}),
            StatusCode::BAD_REQUEST,
            "Invalid email",
        ),
        (
            401,
            json!({"detail": "Invalid token."}),
            StatusCode::BAD_REQUEST,
            "credentials",
        ),
        (
            404,
            json!({"detail": "Not found."}),
            StatusCode::NOT_FOUND,
            "Not found",
        ),
        (
            500,
            json!({"detail": "boom"}),
            StatusCode::BAD_GATEWAY,
            "500",
        ),
    ];
    for (i, (status, body, expected, needle)) in cases.into_iter().enumerate() {
        let mock = invite_mock(status, body)
            .expect(1)
            .mount_as_scoped(&fake)
            .await;
        let error = expect_error(
            app.order(
                &tenant,
                &stackone_order(&format!("e{i}"), "ada@example.com", "32"),
            )
            .await,
            expected,
            needle,
        )
        .await;
        if expected == StatusCode::BAD_REQUEST {
            let detail = &error["provider_errors"][0];
            assert_eq!(detail["status"], status);
            assert!(detail["url"]
                .as_str()
                .unwrap()
                .ends_with("/api/assessments/32/invite_candidate/?no_email=true"));
            assert!(
                !error.to_string().contains(TOKEN),
                "credentials never reach the caller"
            );
        }
        drop(mock);
    }

    let slow = Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(candidature(1, "invited", Value::Null))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount_as_scoped(&fake)
        .await;
    expect_error(
        app.order(&tenant, &stackone_order("e-slow", "ada@example.com", "32"))
            .await,
        StatusCode::REQUEST_TIMEOUT,
        "time",
    )
    .await;
    drop(slow);

    // Last: a 429 also holds back this account's further invitations until the vendor's reset.
    let limited = Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .and(header("authorization", AUTH))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(json!({"detail": "Request was throttled."}))
                .insert_header("X-RateLimit-Reset", "17"),
        )
        .expect(1)
        .mount_as_scoped(&fake)
        .await;
    let response = app
        .order(&tenant, &stackone_order("e-429", "ada@example.com", "32"))
        .await;
    assert_eq!(response.headers()["retry-after"], "17");
    expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate").await;
    drop(limited);

    // Every failed invitation is a `failed` order with the vendor's reason.
    let failed = app.admin_get("/admin/orders?status=failed").await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 6);
    assert!(failed["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["failure_reason"]
            .as_str()
            .unwrap()
            .contains("Invalid email")));
}

async fn reads_are_retried_after_the_rate_limit_resets(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/"))
        .and(header("authorization", AUTH))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Limit", "20")
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "1"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"count": 1, "results": [{"id": 32, "name": "Python", "status": "active"}]}),
        ))
        .expect(1)
        .mount(&fake)
        .await;
    let started = std::time::Instant::now();
    let page = expect_json(
        app.unified(Method::GET, "/unified/ats/assessments/packages", &tenant)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["data"][0]["id"], "32");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited for X-RateLimit-Reset"
    );
}

async fn results_are_normalized_for_each_status(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    let account: serde_json::Value = app
        .admin(
            Method::PATCH,
            &format!("/admin/accounts/{}", tenant.account_id),
        )
        .json(&json!({"settings": {"pass_mark": 70}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account["settings"]["pass_mark"], 70);
    invite_mock(201, candidature(8000, "invited", Value::Null))
        .mount(&fake)
        .await;
    let created = expect_json(
        app.order(&tenant, &stackone_order("tg-r", "ada@example.com", "32"))
            .await,
        StatusCode::OK,
    )
    .await;
    let order_id = created["id"].as_str().unwrap();
    // A busy assessment: others' candidatures before and after Ada's, finished with 99 %.
    let mut items = others(15, 12);
    items.push(candidature(8000, "invited", Value::Null));
    let list = TgCandidatures::new("32", items);
    list.mount(&fake).await;
    let detail = expect_json(
        order_action(&app, order_id, "refresh").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        detail["status"], "invited",
        "others' completions are not Ada's"
    );

    list.items
        .update("id", json!(8000), |c| c["status"] = json!("started"));
    let detail = expect_json(
        order_action(&app, order_id, "refresh").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["status"], "in_progress");
    assert_eq!(detail["result"]["result"]["value"], "in_progress");

    list.items.update("id", json!(8000), |c| {
        c["status"] = json!("completed");
        c["avg_score"] = json!(76);
    });
    Mock::given(method("GET")).and(path("/api/assessments/results/")).and(query_param("candidature__assessment", "32"))
        .and(query_param("candidature__test_taker", "4276")).and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 2, "results": [
            {"id": 123456, "name": "Big 5 (OCEAN)", "score": null, "status": "published", "completed": true, "test_id": 494,
             "custom_questions": [], "algorithm": "big_5", "is_code_test": false, "score_display": "2-1-1-2-1_32.0-34.0-33.0-35.0-32.0"},
            {"id": 234567, "name": "Problem solving", "score": 85, "status": "filed", "completed": true, "test_id": 7244,
             "custom_questions": [], "algorithm": "basic", "is_code_test": false, "score_display": ""}]})))
        .expect(1).mount(&fake).await;
    let detail = expect_json(
        order_action(&app, order_id, "refresh").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["status"], "completed");
    let result = &detail["result"];
    assert_eq!(result["result"]["value"], "passed", "76 ≥ pass mark 70");
    assert_eq!(
        result["score"],
        json!({"label": "Percentage", "value": "76", "min": "0", "max": "100"})
    );
    let tests = result["result"]["source_value"]["tests"]
        .as_array()
        .unwrap();
    assert_eq!(
        tests[0]["score_display"], "2-1-1-2-1_32.0-34.0-33.0-35.0-32.0",
        "personality keeps score_display"
    );
    assert!(result["summary"]
        .as_str()
        .unwrap()
        .contains("Problem solving: 85%"));
    // TestGorilla's `created` is when the candidate was invited; it documents no start or
    // submission time.
    assert_eq!(result["start_date"], Value::Null);
    assert_eq!(result["submission_date"], Value::Null);
    assert_eq!(
        result["result"]["source_value"]["created"],
        "2021-09-18T09:16:33.975663+02:00"
    );
    let unified = expect_json(
        app.unified(
            Method::GET,
            &format!("/unified/ats/assessments/orders/{order_id}/results"),
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(unified["data"], *result);
}

async fn operators_cancel_and_reject_at_the_vendor(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(201).set_body_json(candidature(
            8000,
            "invited",
            Value::Null,
        )))
        .up_to_n_times(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(201).set_body_json(candidature(
            8001,
            "invited",
            Value::Null,
        )))
        .mount(&fake)
        .await;
    let first = expect_json(
        app.order(&tenant, &stackone_order("c-1", "ada@example.com", "32"))
            .await,
        StatusCode::OK,
    )
    .await;
    let second = expect_json(
        app.order(&tenant, &stackone_order("c-2", "ada@example.com", "32"))
            .await,
        StatusCode::OK,
    )
    .await;

    Mock::given(method("DELETE"))
        .and(path("/api/assessments/candidature/8000/"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&fake)
        .await;
    let cancelled = expect_json(
        order_action(&app, first["id"].as_str().unwrap(), "cancel").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["result"]["result"]["value"], "cancelled");
    expect_error(
        order_action(&app, first["id"].as_str().unwrap(), "cancel").await,
        StatusCode::CONFLICT,
        "cancelled",
    )
    .await;

    Mock::given(method("PATCH"))
        .and(path("/api/assessments/candidature/8001/change_stage/"))
        .and(header("authorization", AUTH))
        .and(body_json(json!({"stage": "REJ"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "8001", "stage": "REJ", "reminder_sent": false})),
        )
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/assessments/candidature/8001/send-reminder/"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&fake)
        .await;
    let rejected = expect_json(
        order_action(&app, second["id"].as_str().unwrap(), "reject").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rejected["status"], "invited");
    assert!(rejected["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["message"].as_str().unwrap().contains("rejected")));
}

/// Erasure with `at_vendor` deletes each candidature (TestGorilla's one documented deletion); one
/// already gone counts as deleted. While an order of the candidate is still being placed, the
/// erasure is refused and changes nothing.
async fn erasure_deletes_the_candidatures_at_the_vendor(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    for (id, delay) in [(8000, 0), (8001, 0), (8002, 1500)] {
        Mock::given(method("POST"))
            .and(path("/api/assessments/32/invite_candidate/"))
            .and(header("authorization", AUTH))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(candidature(id, "invited", Value::Null))
                    .set_delay(Duration::from_millis(delay)),
            )
            .up_to_n_times(1)
            .mount(&fake)
            .await;
    }
    for n in 1..=2 {
        let order = stackone_order(&format!("e-{n}"), "ada@example.com", "32");
        expect_json(app.order(&tenant, &order).await, StatusCode::OK).await;
    }
    let placing = {
        let client = common::ApiClient::new(app.url.clone());
        let tenant = tenant.clone();
        tokio::spawn(async move {
            let order = stackone_order("e-3", "ada@example.com", "32");
            client.order(&tenant, &order).await.status()
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let erasures = format!("/admin/projects/{}/erasures", tenant.project_id);
    let refused = app
        .admin(Method::POST, &erasures)
        .json(&json!({"email": "ada@example.com", "at_vendor": true}))
        .send()
        .await
        .unwrap();
    expect_error(refused, StatusCode::CONFLICT, "being placed").await;
    assert_eq!(placing.await.unwrap(), StatusCode::OK);
    let listed = app.admin_get("/admin/orders").await;
    assert!(listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["candidate_email"] == "ada@example.com"));

    for (id, status) in [(8000, 204), (8001, 404), (8002, 204)] {
        Mock::given(method("DELETE"))
            .and(path(format!("/api/assessments/candidature/{id}/")))
            .and(header("authorization", AUTH))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&fake)
            .await;
    }
    let erased = app
        .admin_post(
            &erasures,
            json!({"email": "Ada@Example.com", "at_vendor": true}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(erased["orders_erased"], 3);
    let mut vendor: Vec<(String, String)> = erased["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["status"], "cancelled", "open orders are closed: {o}");
            assert_eq!(o["vendor"]["provider"], "testgorilla");
            (
                o["vendor"]["remote_id"].as_str().unwrap().to_string(),
                o["vendor"]["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    vendor.sort();
    assert_eq!(
        vendor,
        [
            ("8000".to_string(), "deleted".to_string()),
            ("8001".to_string(), "deleted".to_string()),
            ("8002".to_string(), "deleted".to_string())
        ]
    );
}

async fn a_login_account_logs_in_again_when_its_token_expires(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let fake = MockServer::start().await;
    let tenant = vendor_tenant(
        &app,
        "testgorilla",
        json!({"username": "ops@acme.test", "password": "pw"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/profiles/login/"))
        .and(body_json(
            json!({"username": "ops@acme.test", "password": "pw"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "first"})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/profiles/login/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "second"})))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/"))
        .and(header("authorization", "Token first"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"detail": "Invalid token."})))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/"))
        .and(header("authorization", "Token second"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 0, "results": []})))
        .expect(1)
        .mount(&fake)
        .await;
    let page = expect_json(
        app.unified(Method::GET, "/unified/ats/assessments/packages", &tenant)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["data"], json!([]));
}

async fn the_client_keeps_under_the_documented_budget(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 0, "results": []})))
        .expect(21)
        .mount(&fake)
        .await;
    // GET /api/assessments/ allows 20 requests a minute: the 21st waits for the bucket to refill.
    let started = std::time::Instant::now();
    for _ in 0..20 {
        expect_json(
            app.unified(Method::GET, "/unified/ats/assessments/packages", &tenant)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a burst within the budget is not slowed"
    );
    expect_json(
        app.unified(Method::GET, "/unified/ats/assessments/packages", &tenant)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "the 21st request waited: {:?}",
        started.elapsed()
    );
}

async fn a_deleted_candidature_cancels_the_order_and_an_unreachable_vendor_is_502(db: TestDb) {
    let (app, fake, tenant) = setup(&db, &[]).await;
    invite_mock(201, candidature(8000, "invited", Value::Null))
        .mount(&fake)
        .await;
    let created = expect_json(
        app.order(&tenant, &stackone_order("tg-del", "ada@example.com", "32"))
            .await,
        StatusCode::OK,
    )
    .await;
    // The whole list, read page by page, no longer has Ada's candidature.
    TgCandidatures::new("32", others(23, 4)).mount(&fake).await;
    let detail = expect_json(
        order_action(&app, created["id"].as_str().unwrap(), "refresh").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["status"], "cancelled", "deleted at TestGorilla");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_origin = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let gone = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": TOKEN}),
        &dead_origin,
        json!({}),
    )
    .await;
    let refused = format!(
        "could not be reached: connection refused at {}",
        dead_origin.trim_start_matches("http://")
    );
    expect_error(
        app.order(&gone, &stackone_order("tg-gone", "ada@example.com", "32"))
            .await,
        StatusCode::BAD_GATEWAY,
        &refused,
    )
    .await;
    expect_error(
        app.unified(Method::GET, "/unified/ats/assessments/packages", &gone)
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_GATEWAY,
        "could not be reached",
    )
    .await;
}

/// A candidature not found within the pages the gateway reads proves nothing: the order stays
/// open, and the account's `validity` still expires it.
async fn a_partial_read_is_not_a_cancellation(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--poll-interval", "2s"]).await;
    let fake = MockServer::start().await;
    let tenant = vendor_tenant(
        &app,
        "testgorilla",
        json!({"token": TOKEN}),
        &fake.uri(),
        json!({"validity": "1s"}),
    )
    .await;
    invite_mock(201, candidature(8000, "invited", Value::Null))
        .mount(&fake)
        .await;
    // 600 newer candidatures: more than the gateway reads (50 pages of at most 10).
    TgCandidatures::new("32", others(600, 0)).mount(&fake).await;
    let created = expect_json(
        app.order(&tenant, &stackone_order("tg-far", "ada@example.com", "32"))
            .await,
        StatusCode::OK,
    )
    .await;
    let order_id = created["id"].as_str().unwrap();
    let detail = expect_json(
        order_action(&app, order_id, "refresh").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["status"], "invited", "not seen is not deleted");
    let expired = eventually(Duration::from_secs(20), || async {
        let detail = app.admin_get(&format!("/admin/orders/{order_id}")).await;
        (detail["status"] != "invited").then_some(detail)
    })
    .await;
    assert_eq!(expired["status"], "expired", "{expired}");
}

/// A login session belongs to the credentials it was made with: new ones log in at once.
async fn changed_credentials_log_in_again_at_once(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let fake = MockServer::start().await;
    let tenant = vendor_tenant(
        &app,
        "testgorilla",
        json!({"username": "old@acme.test", "password": "pw1"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    for (user, token) in [("old@acme.test", "first"), ("new@acme.test", "second")] {
        Mock::given(method("POST"))
            .and(path("/api/profiles/login/"))
            .and(body_json(
                json!({"username": user, "password": if token == "first" { "pw1" } else { "pw2" }}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": token})))
            .expect(1)
            .mount(&fake)
            .await;
    }
    // TestGorilla keeps a token valid for an hour after its last use: the old one still works.
    Mock::given(method("GET"))
        .and(path("/api/assessments/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 0, "results": []})))
        .mount(&fake)
        .await;
    let list = || async {
        expect_json(
            app.unified(Method::GET, "/unified/ats/assessments/packages", &tenant)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await
    };
    list().await;
    let changed = app
        .admin(
            Method::PATCH,
            &format!("/admin/accounts/{}", tenant.account_id),
        )
        .json(&json!({"credentials": {"username": "new@acme.test", "password": "pw2"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    list().await;
    let tokens: Vec<String> = fake
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/assessments/")
        .map(|r| r.headers["authorization"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(tokens, ["Token first", "Token second"]);
}

on_both_databases!(
    a_deleted_candidature_cancels_the_order_and_an_unreachable_vendor_is_502,
    a_partial_read_is_not_a_cancellation,
    changed_credentials_log_in_again_at_once,
    a_new_order_takes_neither_another_order_s_candidature_nor_a_finished_one,
    only_the_error_key_means_already_invited,
    the_client_keeps_under_the_documented_budget,
    assessments_page_through_the_vendor,
    updated_after_uses_the_modified_time,
    an_order_invites_without_vendor_email_and_returns_the_link,
    the_vendor_email_is_an_account_setting,
    a_repeating_invitation_is_the_existing_candidature,
    vendor_failures_map_to_precise_errors,
    reads_are_retried_after_the_rate_limit_resets,
    results_are_normalized_for_each_status,
    operators_cancel_and_reject_at_the_vendor,
    erasure_deletes_the_candidatures_at_the_vendor,
    a_login_account_logs_in_again_when_its_token_expires,
);
