//! Results reaching the ATS: vendor callbacks, signed deliveries verified with an independent
//! Standard Webhooks implementation, retries, ordering, operators' replays, the SSRF guard.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{
    eventually, expect_error, expect_json, stackone_order, vendor_tenant, TestApp, TestDb,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path, query_param},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

const FAST_RETRIES: [&str; 2] = ["--delivery-retry-schedule", "200ms,300ms,400ms"];

/// What the ATS receiver saw: verified bodies and their `webhook-id`s, in arrival order.
#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<(String, Value, Instant)>>>,
    /// Status codes to answer, in turn; 200 once they run out.
    script: Arc<Mutex<Vec<ResponseTemplate>>>,
}

impl Respond for Receiver {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let webhook =
            standardwebhooks::Webhook::new(&self.secret.lock().unwrap()).expect("whsec secret");
        if let Err(error) = webhook.verify(&request.body, &request.headers) {
            return ResponseTemplate::new(401).set_body_string(format!("bad signature: {error:?}"));
        }
        let id = request
            .headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        self.seen.lock().unwrap().push((id, body, Instant::now()));
        let mut script = self.script.lock().unwrap();
        if script.is_empty() {
            ResponseTemplate::new(200).set_body_string("thanks")
        } else {
            script.remove(0)
        }
    }
}

impl Receiver {
    async fn mount(&self, server: &MockServer, secret: &str) {
        *self.secret.lock().unwrap() = secret.to_string();
        Mock::given(method("POST"))
            .and(path("/results"))
            .respond_with(self.clone())
            .mount(server)
            .await;
    }

    fn script(&self, answers: Vec<ResponseTemplate>) {
        *self.script.lock().unwrap() = answers;
    }

    fn seen(&self) -> Vec<(String, Value, Instant)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn setup(db: &TestDb, settings: Value) -> (TestApp, common::Tenant, MockServer, Receiver) {
    let app = TestApp::spawn_with(db, &FAST_RETRIES).await;
    let tenant = app.create_tenant_with("sandbox", json!({}), settings).await;
    let server = MockServer::start().await;
    let receiver = Receiver::default();
    receiver.mount(&server, &tenant.signing_secret).await;
    (app, tenant, server, receiver)
}

fn order_to(receiver_url: &str, id: &str, email: &str) -> Value {
    let mut body = stackone_order(id, email, "sandbox-coding");
    body["results_update_url"] = json!(format!("{receiver_url}/results"));
    body
}

async fn a_completion_reaches_the_ats_signed_even_when_it_fails_first(db: TestDb) {
    let (app, tenant, server, receiver) =
        setup(&db, json!({"auto_complete_after": "1s", "pass_mark": 70})).await;
    receiver.script(vec![ResponseTemplate::new(500), ResponseTemplate::new(503)]);
    let created = expect_json(
        app.order(&tenant, &order_to(&server.uri(), "d-1", "ada@example.com"))
            .await,
        StatusCode::OK,
    )
    .await;
    let seen = eventually(Duration::from_secs(15), || async {
        let s = receiver.seen();
        (s.len() >= 3).then_some(s)
    })
    .await;
    let ids: Vec<&str> = seen.iter().map(|(id, _, _)| id.as_str()).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0] && id.starts_with("msg_")),
        "one webhook-id across retries: {ids:?}"
    );
    let body = &seen[2].1;
    assert_eq!(body["type"], "assessment.result.updated");
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(body["data"]["id"], created["id"]);
    assert_eq!(body["data"]["result"]["value"], "passed");
    assert_eq!(body["data"]["score"]["value"], "75");
    assert!(
        seen[1].2 - seen[0].2 >= Duration::from_millis(150),
        "retried after the schedule's delay"
    );

    let detail = eventually(Duration::from_secs(5), || async {
        let d = app
            .admin_get(&format!(
                "/admin/orders/{}",
                created["id"].as_str().unwrap()
            ))
            .await;
        (d["deliveries"][0]["status"] == "delivered").then_some(d)
    })
    .await;
    let delivery = &detail["deliveries"][0];
    assert_eq!(delivery["attempts"], 3);
    let log = delivery["attempt_log"].as_array().unwrap();
    assert_eq!(
        log.iter()
            .map(|a| a["status_code"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![500, 503, 200]
    );
    assert_eq!(log[2]["response_body"], "thanks");
    assert_eq!(delivery["webhook_id"], json!(ids[0]));
}

async fn a_refusal_is_final_and_an_operator_can_send_it_again(db: TestDb) {
    let (app, tenant, server, receiver) = setup(&db, json!({})).await;
    receiver.script(vec![ResponseTemplate::new(410)]);
    let created = expect_json(
        app.order(&tenant, &order_to(&server.uri(), "d-2", "ada@example.com"))
            .await,
        StatusCode::OK,
    )
    .await;
    let test_url = created["test_url"].as_str().unwrap();
    app.client
        .post(format!("{test_url}/submit"))
        .form(&[("score", "64")])
        .send()
        .await
        .unwrap();
    let dead = eventually(Duration::from_secs(10), || async {
        let list = app.admin_get("/admin/deliveries?status=dead").await;
        list["data"].as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(dead["attempts"], 1, "410 is not retried");
    assert_eq!(dead["last_error"], "the receiver answered 410");
    let retried = app
        .admin(
            Method::POST,
            &format!("/admin/deliveries/{}/retry", dead["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_json(retried, StatusCode::OK).await["status"],
        "pending"
    );
    eventually(Duration::from_secs(10), || async {
        let list = app.admin_get("/admin/deliveries?status=delivered").await;
        (list["data"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, seen[1].0, "a replay keeps the webhook-id");
    let again = app
        .admin(
            Method::POST,
            &format!("/admin/deliveries/{}/retry", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    expect_error(again, StatusCode::NOT_FOUND, "delivery").await;
}

async fn retry_after_is_honoured(db: TestDb) {
    let (app, tenant, server, receiver) = setup(&db, json!({})).await;
    receiver.script(vec![
        ResponseTemplate::new(429).insert_header("Retry-After", "1")
    ]);
    let created = expect_json(
        app.order(&tenant, &order_to(&server.uri(), "d-3", "ada@example.com"))
            .await,
        StatusCode::OK,
    )
    .await;
    app.client
        .post(format!("{}/submit", created["test_url"].as_str().unwrap()))
        .form(&[("score", "90")])
        .send()
        .await
        .unwrap();
    let seen = eventually(Duration::from_secs(10), || async {
        let s = receiver.seen();
        (s.len() >= 2).then_some(s)
    })
    .await;
    assert!(
        seen[1].2 - seen[0].2 >= Duration::from_millis(950),
        "waited for Retry-After, not the 200 ms schedule"
    );
}

async fn states_arrive_in_order(db: TestDb) {
    let (app, tenant, server, receiver) = setup(&db, json!({})).await;
    receiver.script(vec![
        ResponseTemplate::new(200).set_delay(Duration::from_millis(300))
    ]);
    let created = expect_json(
        app.order(&tenant, &order_to(&server.uri(), "d-4", "ada@example.com"))
            .await,
        StatusCode::OK,
    )
    .await;
    let test_url = created["test_url"].as_str().unwrap();
    app.client
        .post(format!("{test_url}/start"))
        .send()
        .await
        .unwrap();
    app.client
        .post(format!("{test_url}/submit"))
        .form(&[("score", "55")])
        .send()
        .await
        .unwrap();
    let seen = eventually(Duration::from_secs(10), || async {
        let s = receiver.seen();
        (s.last()
            .is_some_and(|(_, b, _)| b["data"]["result"]["value"] == "completed"))
        .then_some(s)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let values: Vec<String> = receiver
        .seen()
        .iter()
        .map(|(_, b, _)| b["data"]["result"]["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        values.last().map(String::as_str),
        Some("completed"),
        "the newest state is last: {values:?}"
    );
    assert!(values.len() <= 2 && seen.len() <= 2);
    if values.len() == 2 {
        assert_eq!(values[0], "in_progress");
    }
}

async fn vendor_callbacks_are_hints_and_bad_ones_change_nothing(db: TestDb) {
    let app = TestApp::spawn_with(&db, &FAST_RETRIES).await;
    let fake = MockServer::start().await;
    let tenant = vendor_tenant(
        &app,
        "interviewmocha",
        json!({"api_key": "k"}),
        &fake.uri(),
        json!({}),
    )
    .await;
    let server = MockServer::start().await;
    let receiver = Receiver::default();
    receiver.mount(&server, &tenant.signing_secret).await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"testInvitationId": 331469, "testUrl": "https://test.imocha.io/x"}),
        ))
        .mount(&fake)
        .await;
    let mut body = stackone_order("cb-1", "ada@example.com", "303076");
    body["results_update_url"] = json!(format!("{}/results", server.uri()));
    let created = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    let order_id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let token = app.gateway.callback_token(order_id);
    let url = format!("{}/webhooks/interviewmocha/{token}", app.url);
    Mock::given(method("GET")).and(path("/v3/reports/331469"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"testInvitationId": 331469, "status": "Complete", "scorePercentage": 81,
            "attemptedOn": "2020-10-09T13:21:53Z", "pdfReportUrl": "https://app.imocha.io/PDFReport?id=1"})))
        .mount(&fake).await;

    let bogus = app
        .client
        .post(format!("{}/webhooks/interviewmocha/not-a-token", app.url))
        .json(&json!({"TestInvitationId": 331469}))
        .send()
        .await
        .unwrap();
    expect_error(bogus, StatusCode::NOT_FOUND, "callback").await;
    let wrong_vendor = app
        .client
        .post(format!("{}/webhooks/testinvite/{token}", app.url))
        .json(&json!({"ticketId": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(wrong_vendor, StatusCode::NOT_FOUND, "callback").await;
    let malformed = app.client.post(&url).body("not json").send().await.unwrap();
    expect_error(malformed, StatusCode::BAD_REQUEST, "malformed").await;
    let other = app
        .client
        .post(&url)
        .json(&json!({"TestInvitationId": 1}))
        .send()
        .await
        .unwrap();
    expect_error(other, StatusCode::BAD_REQUEST, "another invitation").await;
    assert_eq!(
        app.admin_get(&format!("/admin/orders/{order_id}")).await["status"],
        "invited",
        "nothing changed"
    );

    // The vendor's body claims a score; the gateway records what the report says (81), and only once
    // whatever the number of callbacks (iMocha sends In Progress, then Complete, and retries).
    let claim = json!({"CandidateEmailId": "ada@example.com", "TotalScore": 115, "CandidateScore": 115, "TestInvitationId": 331469,
        "Status": "Complete", "AttemptedOnUtc": "2020-10-09T13:21:53", "ReportPDFUrl": null});
    for _ in 0..3 {
        let started = Instant::now();
        let accepted = app.client.post(&url).json(&claim).send().await.unwrap();
        assert_eq!(
            expect_json(accepted, StatusCode::OK).await["status"],
            "accepted"
        );
        assert!(started.elapsed() < Duration::from_millis(500));
    }
    let seen = eventually(Duration::from_secs(10), || async {
        let s = receiver.seen();
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(seen[0].1["data"]["score"]["value"], "81");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.seen().len(),
        1,
        "duplicate callbacks deliver nothing more"
    );
    let late = app
        .client
        .post(&url)
        .json(&json!({"TestInvitationId": 331469, "Status": "In Progress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), StatusCode::OK, "a late callback is harmless");
    assert_eq!(
        app.admin_get(&format!("/admin/orders/{order_id}")).await["status"],
        "completed"
    );
}

async fn private_receivers_are_refused_unless_allowed(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--outbound-allow-private", "false"]).await;
    let tenant = app.create_tenant().await;
    for url in [
        "http://127.0.0.1:9/results",
        "http://localhost:9/results",
        "http://10.1.2.3/results",
        "http://169.254.169.254/latest",
        "http://[::1]/r",
        "gopher://ats.example.com/r",
    ] {
        let mut body = stackone_order("ssrf", "ada@example.com", "sandbox-coding");
        body["results_update_url"] = json!(url);
        expect_error(
            app.order(&tenant, &body).await,
            StatusCode::BAD_REQUEST,
            "results_update_url",
        )
        .await;
    }
    assert_eq!(app.count_rows(&db, "orders").await, 0);
}

async fn several_instances_deliver_each_state_once(db: TestDb) {
    let (app, tenant, server, receiver) = setup(&db, json!({})).await;
    let second = TestApp::spawn_with(&db, &FAST_RETRIES).await;
    let third = TestApp::spawn_with(&db, &FAST_RETRIES).await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let created = expect_json(
            app.order(
                &tenant,
                &order_to(&server.uri(), &format!("many-{i}"), "ada@example.com"),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let update = json!({"result": {"value": "completed"}, "score": {"value": "50", "min": "0", "max": "100"}});
        let response = app
            .unified(
                Method::PATCH,
                &format!("/unified/ats/assessments/orders/{id}/result"),
                &tenant,
            )
            .json(&update)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let seen = eventually(Duration::from_secs(20), || async {
        let s = receiver.seen();
        (s.len() >= 30).then_some(s)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = receiver.seen();
    let distinct: std::collections::HashSet<&str> =
        all.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(
        all.len(),
        30,
        "no delivery sent twice: {} of {}",
        all.len(),
        seen.len()
    );
    assert_eq!(distinct.len(), 30);
    drop((second, third));
}

/// A vendor account pointed at `fake`, polled every second, delivering to `receiver`.
async fn polled_vendor(
    db: &TestDb,
    provider: &str,
    credentials: Value,
    settings: Value,
) -> (TestApp, common::Tenant, MockServer, MockServer, Receiver) {
    let app = TestApp::spawn_with(
        db,
        &[
            "--delivery-retry-schedule",
            "200ms",
            "--poll-interval",
            "1s",
        ],
    )
    .await;
    let fake = MockServer::start().await;
    let tenant = vendor_tenant(&app, provider, credentials, &fake.uri(), settings).await;
    let server = MockServer::start().await;
    let receiver = Receiver::default();
    receiver.mount(&server, &tenant.signing_secret).await;
    (app, tenant, fake, server, receiver)
}

async fn a_testgorilla_completion_found_by_polling_reaches_the_ats(db: TestDb) {
    let (app, tenant, fake, server, receiver) =
        polled_vendor(&db, "testgorilla", json!({"token": "t"}), json!({})).await;
    let candidature = |status: &str, avg: Value| {
        json!({"id": 8000, "testtaker_id": 4276, "email": "ada@example.com", "status": status,
        "avg_score": avg, "invitation_link": "https://assessment.testgorilla.com/testtaker/takeinvitation/x", "created": "2021-09-18T09:16:33+02:00"})
    };
    Mock::given(method("POST"))
        .and(path("/api/assessments/32/invite_candidate/"))
        .respond_with(ResponseTemplate::new(201).set_body_json(candidature("invited", Value::Null)))
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/assessments/candidature/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"count": 1, "results": [candidature("completed", json!(76))]}),
            ),
        )
        .mount(&fake)
        .await;
    Mock::given(method("GET")).and(path("/api/assessments/results/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 1, "results": [{"name": "Problem solving", "score": 76, "algorithm": "basic", "score_display": ""}]})))
        .mount(&fake).await;
    let mut body = stackone_order("poll-tg", "ada@example.com", "32");
    body["results_update_url"] = json!(format!("{}/results", server.uri()));
    expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    let seen = eventually(Duration::from_secs(10), || async {
        let s = receiver.seen();
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(seen[0].1["data"]["result"]["value"], "completed");
    assert_eq!(seen[0].1["data"]["score"]["value"], "76");
    assert_eq!(seen[0].1["data"]["remote_id"], "8000");
}

async fn a_testinvite_callback_leads_to_the_normalized_result(db: TestDb) {
    let (app, tenant, fake, server, receiver) =
        polled_vendor(&db, "testinvite", json!({"token": "t"}), json!({})).await;
    Mock::given(method("POST"))
        .and(path("/api/integration/rest/v1/tasks/t_1/candidates"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"candidateId": "c_1", "kind": "temp", "taskId": "t_1", "loggedIn": false,
            "invitationCode": "K", "directAccessUrl": "https://www.testinvite.com/access/K"}),
        ))
        .mount(&fake)
        .await;
    let mut body = stackone_order("cb-ti", "ada@example.com", "t_1");
    body["results_update_url"] = json!(format!("{}/results", server.uri()));
    let created = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    Mock::given(method("GET")).and(path("/api/integration/rest/v1/tasks/t_1/test-instances"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"testInstances": [{"testInstanceId": "ti_1", "taskId": "t_1", "stepId": "s_1",
            "ticketId": "c_1", "status": "COMPLETE", "ignored": false,
            "result": {"completedAt": 1737000000, "scoreboard": {"pointsAchieved": 9, "maxAchievablePoints": 10, "achievementRatio": 0.9}}}],
            "pagination": {"next": null}}))).mount(&fake).await;
    Mock::given(method("GET"))
        .and(path("/api/integration/rest/v1/tasks/t_1"))
        .and(query_param("mode", "detailed"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"taskId": "t_1", "title": "Java", "createdAt": 1736899200,
            "steps": [{"id": "s_1", "active": true}]}),
        ))
        .mount(&fake)
        .await;
    let token = app
        .gateway
        .callback_token(created["id"].as_str().unwrap().parse().unwrap());
    let callback = json!({"testInstanceId": "ti_1", "taskId": "t_1", "stepId": "s_1", "ticketId": "c_1", "status": "COMPLETE",
        "result": {"scoreboard": {"achievementRatio": 1.0}}});
    let accepted = app
        .client
        .post(format!("{}/webhooks/testinvite/{token}", app.url))
        .json(&callback)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    let seen = eventually(Duration::from_secs(10), || async {
        let s = receiver.seen();
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(
        seen[0].1["data"]["score"]["value"], "90",
        "the vendor's stored result, not the callback's claim"
    );
}

async fn an_invitation_not_started_within_its_validity_expires(db: TestDb) {
    let (app, tenant, fake, server, receiver) = polled_vendor(
        &db,
        "interviewmocha",
        json!({"api_key": "k"}),
        json!({"validity": "1s"}),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(
                json!({"testInvitationId": 5, "testUrl": "https://test.imocha.io/x"}),
            ),
        )
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/reports/5"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"testInvitationId": 5, "status": "Pending"})),
        )
        .mount(&fake)
        .await;
    let mut body = stackone_order("valid", "ada@example.com", "303076");
    body["results_update_url"] = json!(format!("{}/results", server.uri()));
    let created = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    let seen = eventually(Duration::from_secs(10), || async {
        let s = receiver.seen();
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(seen[0].1["data"]["result"]["value"], "expired");
    assert_eq!(
        app.admin_get(&format!(
            "/admin/orders/{}",
            created["id"].as_str().unwrap()
        ))
        .await["status"],
        "expired"
    );
}

/// The worker keeps claiming while a delivery is in flight: an ATS endpoint that takes seconds to
/// answer holds only its own delivery, not the ones that come due after it.
async fn a_slow_receiver_does_not_hold_up_later_deliveries(db: TestDb) {
    let (app, tenant, fast, receiver) = setup(&db, json!({})).await;
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(6)))
        .mount(&slow)
        .await;
    let complete = |ats: String, id: &'static str| {
        let (app, tenant) = (&app, &tenant);
        async move {
            let created = expect_json(
                app.order(tenant, &order_to(&ats, id, &format!("{id}@example.com")))
                    .await,
                StatusCode::OK,
            )
            .await;
            let submitted = app
                .client
                .post(format!("{}/submit", created["test_url"].as_str().unwrap()))
                .form(&[("score", "80")])
                .send()
                .await
                .unwrap();
            assert_eq!(submitted.status(), StatusCode::SEE_OTHER);
        }
    };

    complete(slow.uri(), "slow-1").await;
    eventually(Duration::from_secs(10), || async {
        slow.received_requests().await.filter(|r| !r.is_empty())
    })
    .await;
    let slow_in_flight_since = Instant::now();
    complete(fast.uri(), "fast-1").await;
    let seen = eventually(Duration::from_secs(15), || async {
        let s = receiver.seen();
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(seen[0].1["type"], "assessment.result.updated");
    assert!(
        seen[0].2 - slow_in_flight_since < Duration::from_secs(4),
        "delivered while the slow one was still in flight (after {:?})",
        seen[0].2 - slow_in_flight_since
    );
}

on_both_databases!(
    a_slow_receiver_does_not_hold_up_later_deliveries,
    a_testgorilla_completion_found_by_polling_reaches_the_ats,
    a_testinvite_callback_leads_to_the_normalized_result,
    an_invitation_not_started_within_its_validity_expires,
    a_completion_reaches_the_ats_signed_even_when_it_fails_first,
    a_refusal_is_final_and_an_operator_can_send_it_again,
    retry_after_is_honoured,
    states_arrive_in_order,
    vendor_callbacks_are_hints_and_bad_ones_change_nothing,
    private_receivers_are_refused_unless_allowed,
    several_instances_deliver_each_state_once,
);
