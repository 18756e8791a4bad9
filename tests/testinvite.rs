//! TestInvite REST v1 through the unified API, against a fake following reference/providers.md §2
//! (the auth header is a setting because TestInvite does not document it).

mod common;

use common::{
    expect_error, expect_json, order_action, stackone_order, vendor_lists::TiList, vendor_tenant,
    TestApp, TestDb,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wiremock::{
    matchers::{header, method, path, query_param},
    Mock, MockServer, ResponseTemplate,
};

const TOKEN: &str = "ti-secret-token";
const BEARER: &str = "Bearer ti-secret-token";
const API: &str = "/api/integration/rest/v1";

async fn setup(db: &TestDb, settings: Value) -> (TestApp, MockServer, common::Tenant) {
    let app = TestApp::spawn(db).await;
    let fake = MockServer::start().await;
    let tenant = vendor_tenant(
        &app,
        "testinvite",
        json!({"token": TOKEN}),
        &fake.uri(),
        settings,
    )
    .await;
    (app, fake, tenant)
}

fn basic_candidate(link: Option<&str>) -> Value {
    let mut c = json!({"candidateId": "c_abc", "kind": "temp", "taskId": "t_123", "loggedIn": false,
        "fullname": "Romain Sestier", "email": "ada@example.com", "invitationCode": "K7Q2XZ"});
    if let Some(link) = link {
        c["directAccessUrl"] = json!(link);
    }
    c
}

async fn mount_candidate_lookup(fake: &MockServer, filter: (&str, &str)) {
    Mock::given(method("GET")).and(path(format!("{API}/tasks/t_123/candidates"))).and(query_param(filter.0, filter.1))
        .and(query_param("mode", "basic")).and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [basic_candidate(Some("https://www.testinvite.com/access/K7Q2XZ"))],
            "pagination": {"totalItems": 1, "totalPages": 1, "currentPage": 1, "limit": 10, "next": null, "previous": null}})))
        .expect(1).mount(fake).await;
}

async fn tasks_page_through(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({})).await;
    let task =
        |id: &str, title: &str| json!({"taskId": id, "title": title, "createdAt": 1736899200});
    Mock::given(method("GET")).and(path(format!("{API}/tasks"))).and(query_param("mode", "basic")).and(query_param("limit", "2"))
        .and(query_param("page", "1")).and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tasks": [task("t_123", "Java Developer Assessment"), task("t_124", "Sales")],
            "pagination": {"totalItems": 3, "totalPages": 2, "currentPage": 1, "limit": 2, "next": "?limit=2&page=2&mode=basic", "previous": null}})))
        .expect(1).mount(&fake).await;
    Mock::given(method("GET")).and(path(format!("{API}/tasks"))).and(query_param("page", "2")).and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tasks": [task("t_125", "Support")],
            "pagination": {"totalItems": 3, "totalPages": 2, "currentPage": 2, "limit": 2, "next": null, "previous": "?limit=2&page=1&mode=basic"}})))
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
    assert_eq!(first["data"][0]["id"], "t_123");
    assert_eq!(first["data"][0]["name"], "Java Developer Assessment");
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
    assert_eq!(second["data"][0]["id"], "t_125");
    assert!(second["next"].is_null());
}

async fn the_auth_header_is_configurable(db: TestDb) {
    let (app, fake, tenant) = setup(
        &db,
        json!({"auth_header": "X-Auth-Token", "auth_scheme": ""}),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/tasks")))
        .and(header("x-auth-token", TOKEN))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"tasks": [], "pagination": {"next": null}})),
        )
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
    assert!(fake.received_requests().await.unwrap()[0]
        .headers
        .get("authorization")
        .is_none());
}

async fn an_order_creates_a_tracked_temporary_candidate(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({"lang": "en"})).await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/tasks/t_123/candidates")))
        .and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(200).set_body_json(basic_candidate(None)))
        .expect(1)
        .mount(&fake)
        .await;
    mount_candidate_lookup(&fake, ("code", "K7Q2XZ")).await;
    let mut body = stackone_order("ti-1", "ada@example.com", "t_123");
    body["passthrough"] = json!({"inviteByEmail": {"emailTemplateName": "Invitation"}, "group": "campus", "labels": ["2026"], "lang": "fr"});
    let created = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    assert_eq!(created["remote_id"], "c_abc");
    assert_eq!(
        created["test_url"], "https://www.testinvite.com/access/K7Q2XZ",
        "read back when the create answer lacks it"
    );

    let order_id = created["id"].as_str().unwrap();
    let sent: Value =
        serde_json::from_slice(&fake.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        sent,
        json!({
            "kind": "temporary-candidate",
            "fullname": "Romain Sestier",
            "email": "ada@example.com",
            "externalId": order_id,
            "externalData": {"ats": {"order_id": "ti-1", "candidate_id": "cand-1",
                                     "application_id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3", "job_id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3"},
                             "passthrough": body["passthrough"]},
            "lang": "fr",
            "tracking": {"uniqId": order_id, "scope": "task"},
            "callback": {"url": app.gateway.callback_url("testinvite", order_id.parse().unwrap()), "resource": "detailed"},
            "inviteByEmail": {"emailTemplateName": "Invitation"},
            "group": "campus",
            "labels": ["2026"]
        })
    );
}

/// Another candidate of task t_123.
fn other_candidate(n: usize) -> Value {
    json!({"candidateId": format!("c_other_{n}"), "kind": "temp", "taskId": "t_123", "loggedIn": true,
        "fullname": "Someone Else", "email": format!("someone{n}@example.com"), "invitationCode": format!("CODE{n}"),
        "directAccessUrl": format!("https://www.testinvite.com/access/CODE{n}")})
}

fn duplicate_refusal() -> Mock {
    Mock::given(method("POST"))
        .and(path(format!("{API}/tasks/t_123/candidates")))
        .and(header("authorization", BEARER))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(
                json!({"message": "A candidate with the same uniqId already exists"}),
            ),
        )
}

async fn a_duplicate_uniq_id_is_the_existing_candidate(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({})).await;
    duplicate_refusal().expect(1).mount(&fake).await;
    let mut candidates: Vec<Value> = (0..25).map(other_candidate).collect();
    candidates.insert(
        17,
        basic_candidate(Some("https://www.testinvite.com/access/K7Q2XZ")),
    );
    TiList::candidates(candidates)
        .mount(&fake, "/tasks/t_123/candidates")
        .await;
    let created = expect_json(
        app.order(
            &tenant,
            &stackone_order("ti-dup", "ada@example.com", "t_123"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(created["remote_id"], "c_abc");
    assert_eq!(
        created["test_url"],
        "https://www.testinvite.com/access/K7Q2XZ"
    );
}

/// One email may have several candidates in a task (each order has its own uniqId): a
/// duplicate refusal is resolved only when the candidates tell which one is the order's.
async fn same_email_candidates_are_never_taken_by_position(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({})).await;
    duplicate_refusal().mount(&fake).await;
    let mut earlier = basic_candidate(Some("https://www.testinvite.com/access/EARLY1"));
    earlier["candidateId"] = json!("c_earlier");
    earlier["invitationCode"] = json!("EARLY1");
    let list = TiList::candidates(vec![
        earlier.clone(),
        basic_candidate(Some("https://www.testinvite.com/access/K7Q2XZ")),
    ]);
    list.mount(&fake, "/tasks/t_123/candidates").await;
    let error = expect_error(
        app.order(
            &tenant,
            &stackone_order("ti-two", "ada@example.com", "t_123"),
        )
        .await,
        StatusCode::CONFLICT,
        "cannot tell",
    )
    .await;
    assert_eq!(error["provider_errors"][0]["status"], 400);
    let failed = app.admin_get("/admin/orders?status=failed").await;
    let order_id = failed["data"][0]["id"].as_str().unwrap().to_string();
    assert!(failed["data"][0]["failure_reason"]
        .as_str()
        .unwrap()
        .contains("2 candidates"));

    // Where the candidates show whose they are, the order's own is found.
    let mut ours = basic_candidate(Some("https://www.testinvite.com/access/K7Q2XZ"));
    ours["externalId"] = json!(order_id);
    earlier["externalId"] = json!("an-earlier-order");
    list.items.set(vec![ours, earlier]);
    let retried = expect_json(
        app.order(
            &tenant,
            &stackone_order("ti-two", "ada@example.com", "t_123"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(retried["id"], order_id);
    assert_eq!(retried["remote_id"], "c_abc");
}

/// An internal candidate is once per user in a task: a second order for the user finds the
/// existing candidate, and does not take it when its test sessions are completed.
async fn an_internal_candidate_with_completed_sessions_is_not_a_new_order_s(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({})).await;
    duplicate_refusal().mount(&fake).await;
    let mut user = basic_candidate(None);
    user["candidateId"] = json!("c_user");
    user["kind"] = json!("user");
    user["directAccessUrl"] = Value::Null;
    let mut candidates: Vec<Value> = (0..12).map(other_candidate).collect();
    candidates.push(user);
    TiList::candidates(candidates)
        .mount(&fake, "/tasks/t_123/candidates")
        .await;
    let instance = |id: &str, ticket: &str| {
        json!({"testInstanceId": id, "taskId": "t_123", "stepId": "s_1", "ticketId": ticket, "status": "COMPLETE",
            "ignored": false, "result": {"completedAt": 1737000000, "scoreboard": {"achievementRatio": 0.5}}})
    };
    let instances = TiList::test_instances(vec![instance("ti_9", "c_other_3")]);
    instances.mount(&fake, "/tasks/t_123/test-instances").await;
    let mut body = stackone_order("ti-int-1", "ada@example.com", "t_123");
    body["passthrough"] = json!({"kind": "internal-candidate", "id": "u_42"});
    let open = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    assert_eq!(
        open["remote_id"], "c_user",
        "the user's candidate, not yet tested"
    );

    instances.items.set(
        (0..11)
            .map(|n| instance(&format!("ti_{n}"), "c_other_1"))
            .chain([instance("ti_user", "c_user")])
            .collect(),
    );
    let mut again = body.clone();
    again["id"] = json!("ti-int-2");
    let error = expect_error(
        app.order(&tenant, &again).await,
        StatusCode::CONFLICT,
        "'has COMPLETE test sessions'",
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("c_user"));
}

/// Task ids come from callers: each is one percent-encoded path segment at TestInvite, and one
/// that cannot be (`..`) is refused before anything is written.
async fn hostile_task_ids_stay_one_path_segment(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({})).await;
    for encoded in ["T1%23x", "T1%3Fy%3D1"] {
        Mock::given(method("POST"))
            .and(path(format!("{API}/tasks/{encoded}/candidates")))
            .and(header("authorization", BEARER))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(basic_candidate(Some(
                    "https://www.testinvite.com/access/K7Q2XZ",
                ))),
            )
            .expect(1)
            .mount(&fake)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(format!("{API}/tasks/T1%3Fy%3D1")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"taskId": "T1?y=1", "title": "Odd", "createdAt": 1736899200}),
            ),
        )
        .expect(1)
        .mount(&fake)
        .await;
    for (i, id) in ["T1#x", "T1?y=1"].into_iter().enumerate() {
        expect_json(
            app.order(
                &tenant,
                &stackone_order(&format!("ti-h{i}"), &format!("h{i}@example.com"), id),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
    let package = expect_json(
        app.unified(
            Method::GET,
            "/unified/ats/assessments/packages/T1%3Fy%3D1",
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(package["data"]["name"], "Odd");
    for id in ["..", "."] {
        expect_error(
            app.order(&tenant, &stackone_order("ti-dots", "d@example.com", id))
                .await,
            StatusCode::BAD_REQUEST,
            "package.id",
        )
        .await;
    }
    assert_eq!(app.count_rows(&db, "orders").await, 2);
    let paths: Vec<String> = fake
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            format!("{API}/tasks/T1%23x/candidates"),
            format!("{API}/tasks/T1%3Fy%3D1/candidates"),
            format!("{API}/tasks/T1%3Fy%3D1"),
        ]
    );
}

/// A package is read with TestInvite's documented fetch of one task, not found in its list.
async fn a_task_is_read_directly(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({})).await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/tasks/t_9999")))
        .and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"taskId": "t_9999", "title": "Task number 9,999", "createdAt": 1736899200}),
        ))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/tasks/t_gone")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not found"})))
        .mount(&fake)
        .await;
    let found = expect_json(
        app.unified(
            Method::GET,
            "/unified/ats/assessments/packages/t_9999",
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        found["data"],
        json!({"id": "t_9999", "remote_id": "t_9999", "name": "Task number 9,999", "description": "TestInvite task"})
    );
    expect_error(
        app.unified(
            Method::GET,
            "/unified/ats/assessments/packages/t_gone",
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "t_gone",
    )
    .await;
}

async fn failures_map_and_leave_failed_orders(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({})).await;
    let refused = Mock::given(method("POST"))
        .and(path(format!("{API}/tasks/t_123/candidates")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthorized"})))
        .expect(1)
        .mount_as_scoped(&fake)
        .await;
    let error = expect_error(
        app.order(
            &tenant,
            &stackone_order("ti-e1", "ada@example.com", "t_123"),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "credentials",
    )
    .await;
    assert_eq!(error["provider_errors"][0]["status"], 401);
    drop(refused);
    Mock::given(method("POST"))
        .and(path(format!("{API}/tasks/t_404/candidates")))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "Task not found"})),
        )
        .expect(1)
        .mount(&fake)
        .await;
    expect_error(
        app.order(
            &tenant,
            &stackone_order("ti-e2", "ada@example.com", "t_404"),
        )
        .await,
        StatusCode::NOT_FOUND,
        "Task not found",
    )
    .await;
    let failed = app.admin_get("/admin/orders?status=failed").await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 2);
}

async fn test_instances_make_the_result(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({})).await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/tasks/t_123/candidates")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(basic_candidate(Some(
                "https://www.testinvite.com/access/K7Q2XZ",
            ))),
        )
        .mount(&fake)
        .await;
    let created = expect_json(
        app.order(&tenant, &stackone_order("ti-r", "ada@example.com", "t_123"))
            .await,
        StatusCode::OK,
    )
    .await;
    let order_id = created["id"].as_str().unwrap();
    let instance = |id: &str, ticket: &str, step: &str, status: &str, ratio: Value| {
        json!({"testInstanceId": id, "taskId": "t_123", "stepId": step,
        "ticketId": ticket, "candidate": {"id": ticket, "kind": "temp"}, "status": status, "ignored": false,
        "result": if ratio.is_null() { json!(false) } else { json!({"completedAt": 1737000000, "scoreboard": {"pointsAchieved": 42, "maxAchievablePoints": 50, "achievementRatio": ratio}}) }})
    };
    // Other candidates' sessions, complete with 10 %: the listing does not filter by candidate.
    let others = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| {
                instance(
                    &format!("ti_o{i}"),
                    &format!("c_other_{i}"),
                    if i % 2 == 0 { "s_1" } else { "s_2" },
                    "COMPLETE",
                    json!(0.1),
                )
            })
            .collect()
    };
    let list = TiList::test_instances(others(14));
    list.mount(&fake, "/tasks/t_123/test-instances").await;
    Mock::given(method("GET")).and(path(format!("{API}/tasks/t_123"))).and(query_param("mode", "detailed")).and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"taskId": "t_123", "title": "Java", "createdAt": 1736899200,
            "steps": [{"id": "s_1", "title": "Java", "active": true}, {"id": "s_2", "title": "English", "active": true}, {"id": "s_3", "active": false}]})))
        .expect(1).mount(&fake).await;

    assert_eq!(
        expect_json(
            order_action(&app, order_id, "refresh").await,
            StatusCode::OK
        )
        .await["status"],
        "invited",
        "others' sessions are not this candidate's"
    );
    let with = |ours: Vec<Value>| {
        let mut items = others(14);
        for (at, item) in [7, 12].into_iter().zip(ours) {
            items.insert(at, item);
        }
        items
    };
    list.items.set(with(vec![instance(
        "ti_1",
        "c_abc",
        "s_1",
        "STARTED",
        Value::Null,
    )]));
    assert_eq!(
        expect_json(
            order_action(&app, order_id, "refresh").await,
            StatusCode::OK
        )
        .await["status"],
        "in_progress"
    );
    list.items.set(with(vec![instance(
        "ti_1",
        "c_abc",
        "s_1",
        "COMPLETE",
        json!(0.84),
    )]));
    let detail = expect_json(
        order_action(&app, order_id, "refresh").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        detail["status"], "in_progress",
        "one of two active steps is not the whole task"
    );
    list.items.set(with(vec![
        instance("ti_1", "c_abc", "s_1", "COMPLETE", json!(0.84)),
        instance("ti_2", "c_abc", "s_2", "COMPLETE", json!(0.66)),
    ]));
    let detail = expect_json(
        order_action(&app, order_id, "refresh").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["status"], "completed");
    assert_eq!(
        detail["result"]["score"]["value"], "75",
        "mean achievementRatio × 100 of this candidate's sessions"
    );
    assert_eq!(
        detail["result"]["submission_date"],
        "2025-01-16T04:00:00.000Z"
    );
    assert_eq!(
        detail["result"]["result"]["source_value"]["instances"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn candidates_who_logged_in_cannot_be_deleted(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({})).await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/tasks/t_123/candidates")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(basic_candidate(Some(
                "https://www.testinvite.com/access/K7Q2XZ",
            ))),
        )
        .mount(&fake)
        .await;
    let a = expect_json(
        app.order(
            &tenant,
            &stackone_order("ti-c1", "ada@example.com", "t_123"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let b = expect_json(
        app.order(
            &tenant,
            &stackone_order("ti-c2", "ada@example.com", "t_123"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let deleted = Mock::given(method("DELETE"))
        .and(path(format!("{API}/tasks/t_123/candidates/c_abc")))
        .and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount_as_scoped(&fake)
        .await;
    assert_eq!(
        expect_json(
            order_action(&app, a["id"].as_str().unwrap(), "cancel").await,
            StatusCode::OK
        )
        .await["status"],
        "cancelled"
    );
    drop(deleted);
    Mock::given(method("DELETE"))
        .and(path(format!("{API}/tasks/t_123/candidates/c_abc")))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "Forbidden"})))
        .expect(1)
        .mount(&fake)
        .await;
    expect_error(
        order_action(&app, b["id"].as_str().unwrap(), "cancel").await,
        StatusCode::CONFLICT,
        "logged in",
    )
    .await;
}

/// Erasure with `at_vendor`: TestInvite deletes a candidate who never logged in and refuses (403)
/// one who did; the answer says which, and the gateway erases both orders either way.
async fn erasure_deletes_at_the_vendor_what_it_may(db: TestDb) {
    let (app, fake, tenant) = setup(&db, json!({})).await;
    for (id, code) in [("c_one", "K7Q2XZ"), ("c_two", "P4M8LQ")] {
        let mut candidate =
            basic_candidate(Some(&format!("https://www.testinvite.com/access/{code}")));
        candidate["candidateId"] = json!(id);
        candidate["invitationCode"] = json!(code);
        Mock::given(method("POST"))
            .and(path(format!("{API}/tasks/t_123/candidates")))
            .respond_with(ResponseTemplate::new(200).set_body_json(candidate))
            .up_to_n_times(1)
            .mount(&fake)
            .await;
    }
    for n in 1..=2 {
        let order = stackone_order(&format!("ti-e{n}"), "ada@example.com", "t_123");
        expect_json(app.order(&tenant, &order).await, StatusCode::OK).await;
    }
    Mock::given(method("DELETE"))
        .and(path(format!("{API}/tasks/t_123/candidates/c_one")))
        .and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("{API}/tasks/t_123/candidates/c_two")))
        .and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "Forbidden"})))
        .expect(1)
        .mount(&fake)
        .await;
    let erased = app
        .admin_post(
            &format!("/admin/projects/{}/erasures", tenant.project_id),
            json!({"email": "ada@example.com", "at_vendor": true}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(erased["orders_erased"], 2);
    let outcome = |remote: &str| {
        erased["orders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["vendor"]["remote_id"] == remote)
            .map(|o| o["vendor"].clone())
            .unwrap()
    };
    assert_eq!(outcome("c_one")["outcome"], "deleted");
    assert_eq!(outcome("c_two")["outcome"], "refused");
    assert!(outcome("c_two")["message"]
        .as_str()
        .unwrap()
        .contains("logged in"));
    let orders = app.admin_get("/admin/orders").await;
    assert!(orders["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["candidate_email"].is_null() && o["erased_at"].is_string()));
}

on_both_databases!(
    erasure_deletes_at_the_vendor_what_it_may,
    same_email_candidates_are_never_taken_by_position,
    an_internal_candidate_with_completed_sessions_is_not_a_new_order_s,
    hostile_task_ids_stay_one_path_segment,
    a_task_is_read_directly,
    tasks_page_through,
    the_auth_header_is_configurable,
    an_order_creates_a_tracked_temporary_candidate,
    a_duplicate_uniq_id_is_the_existing_candidate,
    failures_map_and_leave_failed_orders,
    test_instances_make_the_result,
    candidates_who_logged_in_cannot_be_deleted,
);
