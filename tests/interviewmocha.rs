//! InterviewMocha (iMocha v3) through the unified API, against a fake that follows
//! reference/providers.md §3: `X-API-KEY`, case-insensitive body keys, 201 on invite, and a
//! re-invite of the same (test link, email) answering the same invitation.

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    expect_error, expect_json, order_action, stackone_order, vendor_tenant, TestApp, TestDb,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use wiremock::{
    matchers::{header, method, path, query_param},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

const KEY: &str = "imocha-secret-key";

/// Lower-cases the keys of a JSON object, the way iMocha reads them.
fn folded(body: &[u8]) -> Map<String, Value> {
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    value
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// iMocha's invite endpoint: validates the body, and gives the same (link, email) the same invitation.
#[derive(Clone, Default)]
struct InviteEndpoint {
    invitations: Arc<Mutex<HashMap<(String, String), u64>>>,
    delay: Option<Duration>,
}

impl Respond for InviteEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = folded(&request.body);
        let email = body
            .get("email")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
        if email.is_empty() || name.is_empty() {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"errors": ["'Email' must not be empty."]}));
        }
        let mut invitations = self.invitations.lock().unwrap();
        let next = 2_807_324 + invitations.len() as u64;
        let id = *invitations
            .entry((request.url.path().to_string(), email))
            .or_insert(next);
        let reply = ResponseTemplate::new(201).set_body_json(json!({
            "testInvitationId": id, "testUrl": format!("https://test.imocha.io/IMInstructions?inv={id}"), "status": "Pending"}));
        match self.delay {
            Some(delay) => reply.set_delay(delay),
            None => reply,
        }
    }
}

async fn setup(
    db: &TestDb,
    settings: Value,
    extra: &[&str],
) -> (TestApp, MockServer, common::Tenant) {
    let app = TestApp::spawn_with(db, extra).await;
    let fake = MockServer::start().await;
    let tenant = vendor_tenant(
        &app,
        "interviewmocha",
        json!({"api_key": KEY}),
        &fake.uri(),
        settings,
    )
    .await;
    (app, fake, tenant)
}

async fn tests_and_their_links_page_through(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({"list_test_links": true}), &[]).await;
    let test = |id: u64, name: &str| json!({"testId": id, "testName": name, "status": "Published", "duration": 60, "labels": ["Backend"]});
    Mock::given(method("GET"))
        .and(path("/v3/tests"))
        .and(query_param("pageNo", "1"))
        .and(query_param("pageSize", "2"))
        .and(header("x-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"tests": [test(1134601, "Java Developer"), test(303076, "Python")], "count": 2}),
        ))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/tests"))
        .and(query_param("pageNo", "2"))
        .and(query_param("pageSize", "2"))
        .and(header("x-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tests": [], "count": 0})))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/tests/1134601/testlinks"))
        .and(header("x-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"testLinks": []})))
        .mount(&fake)
        .await;
    Mock::given(method("GET")).and(path("/v3/tests/303076/testlinks")).and(header("x-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"testLinks": [{"testLinkId": 201044, "testId": 303076,
            "testLinkName": "Email Invite", "testLink": "db282e0a", "testLinkStatus": "active", "invitationType": "open", "isApiLink": false}]})))
        .mount(&fake).await;
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
    let ids: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1134601", "303076", "303076:201044"]);
    assert_eq!(first["data"][2]["name"], "Python — Email Invite");
    let second = expect_json(
        app.unified(
            Method::GET,
            &format!(
                "/unified/ats/assessments/packages?page_size=2&next={}",
                first["next"].as_str().unwrap()
            ),
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["data"], json!([]));
    assert!(second["next"].is_null());

    Mock::given(method("GET"))
        .and(path("/v3/tests/303076"))
        .and(header("x-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(test(303076, "Python")))
        .mount(&fake)
        .await;
    let link = expect_json(
        app.unified(
            Method::GET,
            "/unified/ats/assessments/packages/303076:201044",
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(link["data"]["id"], "303076:201044");
}

async fn an_order_invites_by_test_link_with_the_callback_url(db: TestDb) {
    let (app, fake, tenant) = setup(
        &db,
        json!({"redirect_url": "https://ats.example.com/done"}),
        &[],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/testlinks/201044/invite"))
        .and(header("x-api-key", KEY))
        .respond_with(InviteEndpoint::default())
        .expect(1)
        .mount(&fake)
        .await;
    let created = expect_json(
        app.order(
            &tenant,
            &stackone_order("im-1", "ada@example.com", "303076:201044"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(created["remote_id"], "2807324");
    assert_eq!(
        created["test_url"],
        "https://test.imocha.io/IMInstructions?inv=2807324"
    );

    let sent = &fake.received_requests().await.unwrap()[0];
    let body = folded(&sent.body);
    let order_id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["name"], "Romain Sestier");
    assert_eq!(
        body["callbackurl"],
        json!(app.gateway.callback_url("interviewmocha", order_id))
    );
    assert!(body["callbackurl"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/webhooks/interviewmocha/", app.url)));
    assert_eq!(body["redirecturl"], "https://ats.example.com/done");
    assert_eq!(
        body["sendemail"], "no",
        "iMocha sends no email unless the account asks"
    );
    assert_eq!(body["hideinstruction"], 0);
    assert_eq!(body["disablemandatoryfields"], 0);
    let stored = app
        .gateway
        .store
        .get_order(order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.callback_token_hash.as_deref(),
        Some(
            assessment_gateway::crypto::sha256_hex(&app.gateway.callback_token(order_id)).as_str()
        )
    );

    // A bare test id uses the default link: /tests/{id}/invite.
    Mock::given(method("POST"))
        .and(path("/v3/tests/1134601/invite"))
        .and(header("x-api-key", KEY))
        .respond_with(InviteEndpoint::default())
        .expect(1)
        .mount(&fake)
        .await;
    expect_json(
        app.order(
            &tenant,
            &stackone_order("im-2", "ada@example.com", "1134601"),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    // iMocha needs a name: refused before anything is written or sent.
    let mut nameless = stackone_order("im-3", "bob@example.com", "1134601");
    nameless["candidate"]["first_name"] = Value::Null;
    nameless["candidate"]["last_name"] = Value::Null;
    expect_error(
        app.order(&tenant, &nameless).await,
        StatusCode::BAD_REQUEST,
        "candidate.first_name",
    )
    .await;
    assert_eq!(app.count_rows(&db, "orders").await, 2);
}

async fn a_lost_answer_is_recovered_by_inviting_again(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({}), &["--provider-timeout", "1s"]).await;
    let invitations = Arc::new(Mutex::new(HashMap::new()));
    // The first answer arrives after the gateway gave up; the invitation exists at iMocha all the same.
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/testlinks/201044/invite"))
        .respond_with(InviteEndpoint {
            invitations: invitations.clone(),
            delay: Some(Duration::from_secs(2)),
        })
        .up_to_n_times(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/testlinks/201044/invite"))
        .respond_with(InviteEndpoint {
            invitations: invitations.clone(),
            delay: None,
        })
        .mount(&fake)
        .await;
    let body = stackone_order("im-lost", "ada@example.com", "303076:201044");
    expect_error(
        app.order(&tenant, &body).await,
        StatusCode::REQUEST_TIMEOUT,
        "time",
    )
    .await;
    let retried = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    assert_eq!(retried["remote_id"], "2807324");
    assert_eq!(
        invitations.lock().unwrap().len(),
        1,
        "one invitation at the vendor"
    );
    assert_eq!(app.count_rows(&db, "orders").await, 1);
}

async fn vendor_errors_map_to_stackone_errors(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({}), &[]).await;
    let cases = [
        (
            400,
            json!({"errors": ["'Email' must not be empty.", "Email address is in invalid format"]}),
            StatusCode::BAD_REQUEST,
            "invalid format",
        ),
        (
            401,
            json!({"result": null, "errors": ["API key not valid"]}),
            StatusCode::BAD_REQUEST,
            "credentials",
        ),
        (
            404,
            json!({"errors": ["Resource does not exist"]}),
            StatusCode::NOT_FOUND,
            "does not exist",
        ),
        (
            429,
            json!({"errors": ["Too many requests"]}),
            StatusCode::TOO_MANY_REQUESTS,
            "rate",
        ),
        (
            500,
            json!({"errors": ["Something went wrong at Mocha end"]}),
            StatusCode::BAD_GATEWAY,
            "Mocha",
        ),
    ];
    for (i, (status, body, expected, needle)) in cases.into_iter().enumerate() {
        let mock = Mock::given(method("POST"))
            .and(path("/v3/tests/303076/invite"))
            .and(header("x-api-key", KEY))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .expect(1)
            .mount_as_scoped(&fake)
            .await;
        let response = app
            .order(
                &tenant,
                &stackone_order(&format!("err-{i}"), "ada@example.com", "303076"),
            )
            .await;
        if expected == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
        let error = expect_error(response, expected, needle).await;
        if status == 401 {
            assert_eq!(error["provider_errors"][0]["status"], 401);
            assert!(!error.to_string().contains(KEY));
        }
        drop(mock);
    }
}

async fn reports_are_normalized(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({}), &[]).await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(InviteEndpoint::default())
        .mount(&fake)
        .await;
    let created = expect_json(
        app.order(
            &tenant,
            &stackone_order("im-r", "ada@example.com", "303076"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let order_id = created["id"].as_str().unwrap();
    let report = |status: &str, score: f64| {
        json!({
        "testInvitationId": 2807324, "testId": 303076, "testName": "Java Developer", "candidateEmail": "ada@example.com",
        "candidateName": "Ada", "attemptedOn": "2020-10-09T13:21:53Z", "status": status, "score": 6,
        "scorePercentage": score, "candidatePoints": 6, "totalTestPoints": 115, "timeTaken": 41, "testDuration": 60,
        "performanceCategory": "Beginner", "pdfReportUrl": "https://app.imocha.io/PDFReport?id=abc",
        "sections": [{"sectionId": 1, "sectionName": "Core Java", "candidateScore": 6, "sectionScore": 115, "noOfQue": 20}]})
    };
    let reports = |body: Value| {
        Mock::given(method("GET"))
            .and(path("/v3/reports/2807324"))
            .and(query_param("reportType", "1"))
            .and(header("x-api-key", KEY))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
    };

    let pending = reports(report("Pending", 0.0)).mount_as_scoped(&fake).await;
    assert_eq!(
        expect_json(
            order_action(&app, order_id, "refresh").await,
            StatusCode::OK
        )
        .await["status"],
        "invited"
    );
    drop(pending);
    let started = reports(report("In Progress", 0.0))
        .mount_as_scoped(&fake)
        .await;
    assert_eq!(
        expect_json(
            order_action(&app, order_id, "refresh").await,
            StatusCode::OK
        )
        .await["status"],
        "in_progress"
    );
    drop(started);
    reports(report("Test Left", 87.5)).mount(&fake).await;
    let detail = expect_json(
        order_action(&app, order_id, "refresh").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["status"], "completed");
    let result = &detail["result"];
    assert_eq!(result["result"]["value"], "completed");
    assert_eq!(result["result"]["source_value"]["status"], "Test Left");
    assert_eq!(result["score"]["value"], "87.5");
    assert_eq!(
        result["attachments"][0]["url"],
        "https://app.imocha.io/PDFReport?id=abc"
    );
    assert_eq!(result["attachments"][0]["content_type"]["value"], "pdf");
    assert_eq!(result["start_date"], "2020-10-09T13:21:53.000Z");
}

async fn an_expired_invitation_expires_the_order(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({}), &[]).await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(InviteEndpoint::default())
        .mount(&fake)
        .await;
    let created = expect_json(
        app.order(
            &tenant,
            &stackone_order("im-x", "ada@example.com", "303076"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/v3/reports/2807324"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"testInvitationId": 2807324, "status": "Expired"})),
        )
        .mount(&fake)
        .await;
    let detail = expect_json(
        order_action(&app, created["id"].as_str().unwrap(), "refresh").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["status"], "expired");
    assert_eq!(detail["result"]["result"]["value"], "expired");
}

async fn only_pending_invitations_can_be_cancelled(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({}), &[]).await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(InviteEndpoint::default())
        .mount(&fake)
        .await;
    let a = expect_json(
        app.order(
            &tenant,
            &stackone_order("im-c1", "ada@example.com", "303076"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let b = expect_json(
        app.order(
            &tenant,
            &stackone_order("im-c2", "bob@example.com", "303076"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/v3/invitations/2807324/cancel"))
        .and(header("x-api-key", KEY))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"testInvitationId": 2807324, "status": "cancelled"})),
        )
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST")).and(path("/v3/invitations/2807325/cancel")).and(header("x-api-key", KEY))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"statusCode": 400,
            "message": "Testinvitation state in inprogress, complete, and expired can not be cancelled."}))).expect(1).mount(&fake).await;
    let cancelled = expect_json(
        order_action(&app, a["id"].as_str().unwrap(), "cancel").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    expect_error(
        order_action(&app, b["id"].as_str().unwrap(), "cancel").await,
        StatusCode::CONFLICT,
        "can not be cancelled",
    )
    .await;
    let kept = app
        .admin_get(&format!("/admin/orders/{}", b["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        kept["status"], "invited",
        "a refused cancel changes nothing"
    );
    expect_error(
        order_action(&app, a["id"].as_str().unwrap(), "reject").await,
        StatusCode::CONFLICT,
        "cancelled",
    )
    .await;
    expect_error(
        order_action(&app, b["id"].as_str().unwrap(), "reject").await,
        StatusCode::NOT_IMPLEMENTED,
        "no rejection",
    )
    .await;
}

on_both_databases!(
    tests_and_their_links_page_through,
    an_order_invites_by_test_link_with_the_callback_url,
    a_lost_answer_is_recovered_by_inviting_again,
    vendor_errors_map_to_stackone_errors,
    reports_are_normalized,
    an_expired_invitation_expires_the_order,
    only_pending_invitations_can_be_cancelled,
);
