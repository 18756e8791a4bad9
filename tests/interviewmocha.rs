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

/// iMocha's invite endpoint: validates the body, and gives the same (link, email) the same
/// invitation, answering its current state (reference/providers.md §3.4): a cancelled or expired
/// one becomes `Pending` again, a finished one comes back as it is.
#[derive(Clone)]
struct InviteEndpoint {
    invitations: Arc<Mutex<HashMap<(String, String), u64>>>,
    /// The state of each invitation at iMocha; `Pending` unless a test sets another.
    states: Arc<Mutex<HashMap<u64, String>>>,
    delay: Option<Duration>,
    first_id: u64,
    /// Whether the answer carries `status` (the newer copy of iMocha's page shows it, the older
    /// does not).
    with_status: bool,
}

impl Default for InviteEndpoint {
    fn default() -> Self {
        Self {
            invitations: Arc::default(),
            states: Arc::default(),
            delay: None,
            first_id: 2_807_324,
            with_status: true,
        }
    }
}

impl InviteEndpoint {
    fn set_state(&self, id: u64, state: &str) {
        self.states.lock().unwrap().insert(id, state.into());
    }
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
        let next = self.first_id + invitations.len() as u64;
        let id = *invitations
            .entry((request.url.path().to_string(), email))
            .or_insert(next);
        let mut states = self.states.lock().unwrap();
        let state = states.entry(id).or_insert_with(|| "Pending".into());
        if matches!(state.as_str(), "Cancelled" | "Expired") {
            *state = "Pending".into();
        }
        let mut answer = json!({"testInvitationId": id, "testUrl": format!("https://test.imocha.io/IMInstructions?inv={id}")});
        if self.with_status {
            answer["status"] = json!(state);
        }
        let reply = ResponseTemplate::new(201).set_body_json(answer);
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
        .respond_with(InviteEndpoint {
            first_id: 3_100_000,
            ..InviteEndpoint::default()
        })
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
            ..InviteEndpoint::default()
        })
        .up_to_n_times(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/testlinks/201044/invite"))
        .respond_with(InviteEndpoint {
            invitations: invitations.clone(),
            ..InviteEndpoint::default()
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
        // iMocha's 403 means a key without permission, or an operation invalid on the resource.
        (
            403,
            json!({"errors": ["API key doesn't have permission to access this test"]}),
            StatusCode::BAD_REQUEST,
            "credentials",
        ),
        (
            403,
            json!({"errors": ["Operation on resource is invalid"]}),
            StatusCode::BAD_REQUEST,
            "Operation on resource is invalid",
        ),
        // A spent quota is not a burst: no 429 for the client to retry in a minute.
        (
            429,
            json!({"errors": ["Quota assigned has been exhausted"]}),
            StatusCode::FORBIDDEN,
            "quota",
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
        } else {
            assert!(!response.headers().contains_key("retry-after"));
        }
        let error = expect_error(response, expected, needle).await;
        if needle == "Operation on resource is invalid" {
            assert!(
                !error["message"].as_str().unwrap().contains("credentials"),
                "{error}"
            );
        }
        if expected == StatusCode::FORBIDDEN {
            assert_eq!(error["provider_errors"][0]["status"], 429);
        }
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

    // A report that names another invitation is not this order's, whatever it says.
    let mut elsewhere = report("Complete", 99.0);
    elsewhere["testInvitationId"] = json!(1);
    let foreign = reports(elsewhere).mount_as_scoped(&fake).await;
    expect_error(
        order_action(&app, order_id, "refresh").await,
        StatusCode::BAD_GATEWAY,
        "another invitation",
    )
    .await;
    drop(foreign);
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
        StatusCode::CONFLICT,
        "no rejection",
    )
    .await;
}

/// iMocha answers a second order for the same email on the same link with the first order's
/// invitation, and a finished attempt as it is: neither becomes the new order's.
async fn a_new_order_takes_neither_another_order_s_invitation_nor_a_finished_attempt(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({}), &[]).await;
    let invite = InviteEndpoint::default();
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(invite.clone())
        .mount(&fake)
        .await;
    let first_body = stackone_order("im-a", "ada@example.com", "303076");
    let first = expect_json(app.order(&tenant, &first_body).await, StatusCode::OK).await;
    let first_id = first["id"].as_str().unwrap();
    assert_eq!(first["remote_id"], "2807324");

    let open = expect_error(
        app.order(
            &tenant,
            &stackone_order("im-b", "ada@example.com", "303076"),
        )
        .await,
        StatusCode::CONFLICT,
        first_id,
    )
    .await;
    assert!(
        open["message"].as_str().unwrap().contains("2807324"),
        "{open}"
    );
    // A true replay of the first order is still its own answer.
    assert_eq!(
        expect_json(app.order(&tenant, &first_body).await, StatusCode::OK).await,
        first
    );

    invite.set_state(2807324, "Complete");
    let finished = expect_error(
        app.order(
            &tenant,
            &stackone_order("im-c", "ada@example.com", "303076"),
        )
        .await,
        StatusCode::CONFLICT,
        "2807324",
    )
    .await;
    let message = finished["message"].as_str().unwrap();
    assert!(message.contains("'Complete'"), "{message}");
    assert_eq!(finished["provider_errors"][0]["raw"]["status"], "Complete");

    let failed = app.admin_get("/admin/orders?status=failed").await;
    let reasons: Vec<&str> = failed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["failure_reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{failed}");
    assert!(reasons.iter().all(|r| r.contains("2807324")), "{reasons:?}");
    let kept = app.admin_get(&format!("/admin/orders/{first_id}")).await;
    assert_eq!(
        kept["status"], "invited",
        "the first order keeps its invitation"
    );
}

/// With `reattempt`, a finished attempt is replaced by a fresh one from iMocha's reattempt API.
async fn the_reattempt_setting_asks_for_a_fresh_attempt(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({"reattempt": true}), &[]).await;
    let invite = InviteEndpoint::default();
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/testlinks/201044/invite"))
        .respond_with(invite.clone())
        .mount(&fake)
        .await;
    expect_json(
        app.order(
            &tenant,
            &stackone_order("im-first", "ada@example.com", "303076:201044"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    invite.set_state(2807324, "Test Left");
    Mock::given(method("POST"))
        .and(path("/v3/invitations/2807324/reattempt"))
        .and(header("x-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "testInvitationId": 2950001, "testUrl": "https://test.imocha.io/IMInstructions?re=1",
            "callbackUrlRegistered": "yes", "redirectUrlRegistered": "no"})))
        .expect(1)
        .mount(&fake)
        .await;
    let again = expect_json(
        app.order(
            &tenant,
            &stackone_order("im-again", "ada@example.com", "303076:201044"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["remote_id"], "2950001");
    assert_eq!(
        again["test_url"],
        "https://test.imocha.io/IMInstructions?re=1"
    );
    let sent = fake
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path().ends_with("/reattempt"))
        .unwrap();
    let body = folded(&sent.body);
    let order_id: uuid::Uuid = again["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        body["callbackurl"],
        json!(app.gateway.callback_url("interviewmocha", order_id)),
        "the fresh attempt reports to the new order"
    );
}

/// An invite answer without `status` (the older copy of iMocha's page) is checked against the
/// invitation's report before an order takes it.
async fn an_answer_without_a_status_is_checked_against_the_report(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({}), &[]).await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(InviteEndpoint {
            with_status: false,
            ..InviteEndpoint::default()
        })
        .mount(&fake)
        .await;
    let no_report = Mock::given(method("GET"))
        .and(path("/v3/reports/2807324"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"errors": ["Resource does not exist"]})),
        )
        .expect(1)
        .mount_as_scoped(&fake)
        .await;
    let first = expect_json(
        app.order(
            &tenant,
            &stackone_order("im-n1", "ada@example.com", "303076"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["remote_id"], "2807324", "no report yet: not started");
    drop(no_report);
    Mock::given(method("GET"))
        .and(path("/v3/reports/2807324"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"testInvitationId": 2807324, "status": "Terminated", "scorePercentage": 12}),
        ))
        .mount(&fake)
        .await;
    expect_error(
        app.order(
            &tenant,
            &stackone_order("im-n2", "ada@example.com", "303076"),
        )
        .await,
        StatusCode::CONFLICT,
        "'Terminated'",
    )
    .await;
}

/// Erasure with `at_vendor`: iMocha documents no deletion of candidates, so the answer says so
/// (nothing is sent to iMocha), and the gateway erases its own copy.
async fn erasure_says_the_vendor_cannot_delete(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({}), &[]).await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(InviteEndpoint::default())
        .mount(&fake)
        .await;
    let order = stackone_order("im-e1", "ada@example.com", "303076");
    let placed = expect_json(app.order(&tenant, &order).await, StatusCode::OK).await;
    let calls = fake.received_requests().await.unwrap().len();
    let erased = app
        .admin_post(
            &format!("/admin/projects/{}/erasures", tenant.project_id),
            json!({"email": "ada@example.com", "at_vendor": true}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(erased["orders_erased"], 1);
    let vendor = &erased["orders"][0]["vendor"];
    assert_eq!(vendor["outcome"], "unsupported", "{erased}");
    assert_eq!(vendor["remote_id"], placed["remote_id"]);
    assert!(vendor["message"]
        .as_str()
        .unwrap()
        .contains("interviewmocha"));
    assert_eq!(fake.received_requests().await.unwrap().len(), calls);
}

on_both_databases!(
    erasure_says_the_vendor_cannot_delete,
    a_new_order_takes_neither_another_order_s_invitation_nor_a_finished_attempt,
    the_reattempt_setting_asks_for_a_fresh_attempt,
    an_answer_without_a_status_is_checked_against_the_report,
    tests_and_their_links_page_through,
    an_order_invites_by_test_link_with_the_callback_url,
    a_lost_answer_is_recovered_by_inviting_again,
    vendor_errors_map_to_stackone_errors,
    reports_are_normalized,
    an_expired_invitation_expires_the_order,
    only_pending_invitations_can_be_cancelled,
);
