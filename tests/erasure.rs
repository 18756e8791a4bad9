//! Erasing a candidate on request: every order of the project with that email keeps its ids,
//! package, status, score and dates and loses every personal value, wherever the gateway wrote it
//! (request, result, timeline, delivery bodies, receivers' answers); the whole database, searched
//! as text afterwards, holds none of it. Open orders are closed as cancelled and their ATS told.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    database_text, eventually, expect_error, expect_json, order_action, stackone_order, TestApp,
    TestDb,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

/// The personal values of the erased candidate, and of the people around their order.
const PERSONAL: &[&str] = &[
    "augusta.king@example.org",
    "Augusta",
    "Lovelace-King",
    "https://ats.example/candidates/augusta",
    "Charlotte",
    "Babbage",
    "charlotte.babbage@corp.example",
    "7946 0958",
    "Analytical Engines Lead",
];

/// An ATS receiver that refuses the first delivery with an answer echoing it (so the attempt's
/// excerpt holds the candidate's data), then accepts, and keeps every body.
#[derive(Clone, Default)]
struct EchoingReceiver {
    received: Arc<Mutex<Vec<Value>>>,
}

impl Respond for EchoingReceiver {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut received = self.received.lock().unwrap();
        received.push(serde_json::from_slice(&request.body).unwrap_or_default());
        if received.len() == 1 {
            ResponseTemplate::new(500).set_body_bytes(request.body.clone())
        } else {
            ResponseTemplate::new(200)
        }
    }
}

fn augusta_order(id: &str, email: &str, receiver: &MockServer) -> Value {
    let mut order = stackone_order(id, email, "sandbox-coding");
    let charlotte = json!({"user_id": "u-7", "first_name": "Charlotte", "last_name": "Babbage",
        "email": "charlotte.babbage@corp.example", "role": "Hiring manager"});
    order["candidate"]["first_name"] = json!("Augusta");
    order["candidate"]["last_name"] = json!("Lovelace-King");
    order["candidate"]["profile_url"] = json!("https://ats.example/candidates/augusta");
    order["candidate"]["passthrough"] = json!({"phone": "+44 20 7946 0958"});
    order["job"]["title"] = json!("Analytical Engines Lead");
    order["job"]["hiring_team"] = json!([charlotte.clone()]);
    order["requester"] = charlotte;
    order["results_update_url"] = json!(format!("{}/results", receiver.uri()));
    order
}

fn found_in<'a>(text: &str, values: &[&'a str]) -> Vec<&'a str> {
    let text = text.to_lowercase();
    values
        .iter()
        .filter(|v| text.contains(&v.to_lowercase()))
        .copied()
        .collect()
}

async fn erasure_leaves_no_personal_data_anywhere(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--delivery-retry-schedule", "100ms"]).await;
    let receiver = MockServer::start().await;
    let ats = EchoingReceiver::default();
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ats.clone())
        .mount(&receiver)
        .await;
    let tenant = app.create_tenant().await;

    // A completed order (its first delivery refused with an echo, then delivered), an open one
    // with the email in another case, and another candidate's order.
    let done = augusta_order("aug-1", "augusta.king@example.org", &receiver);
    let done = expect_json(app.order(&tenant, &done).await, StatusCode::OK).await;
    app.submit_sandbox_test(done["test_url"].as_str().unwrap(), "88")
        .await;
    let open = augusta_order("aug-2", "Augusta.King@Example.org", &receiver);
    let open = expect_json(app.order(&tenant, &open).await, StatusCode::OK).await;
    let other = stackone_order("bob-1", "bob@example.com", "sandbox-coding");
    let other = expect_json(app.order(&tenant, &other).await, StatusCode::OK).await;
    let done_id = done["id"].as_str().unwrap();
    eventually(Duration::from_secs(15), || async {
        let order = app.admin_get(&format!("/admin/orders/{done_id}")).await;
        (order["deliveries"][0]["status"] == "delivered").then_some(())
    })
    .await;
    let before = database_text(&db).await;
    assert_eq!(
        found_in(&before, PERSONAL),
        PERSONAL,
        "the search finds each value before the erasure"
    );

    let erased = app
        .admin_post(
            &format!("/admin/projects/{}/erasures", tenant.project_id),
            json!({"email": "AUGUSTA.KING@example.org"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(erased["orders_erased"], 2, "{erased}");
    let statuses: Vec<(&str, &str)> = erased["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_str().unwrap(), o["status"].as_str().unwrap()))
        .collect();
    assert!(statuses.contains(&(done_id, "completed")), "{erased}");
    assert!(
        statuses.contains(&(open["id"].as_str().unwrap(), "cancelled")),
        "{erased}"
    );
    assert!(erased["orders"][0].get("vendor").is_none());

    // The open order's ATS is told it is cancelled, with no personal data.
    let told = eventually(Duration::from_secs(15), || async {
        ats.received
            .lock()
            .unwrap()
            .iter()
            .find(|b| b["data"]["id"] == open["id"])
            .cloned()
    })
    .await;
    assert_eq!(told["data"]["result"]["value"], "cancelled");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let after = database_text(&db).await;
    assert_eq!(found_in(&after, PERSONAL), Vec::<&str>::new());
    assert!(after.contains("bob@example.com"), "other candidates stay");

    // Reads answer 200 with the facts and without the person.
    let admin = app.admin_get(&format!("/admin/orders/{done_id}")).await;
    assert_eq!(admin["status"], "completed");
    assert!(admin["candidate_email"].is_null());
    assert!(admin["erased_at"].is_string());
    assert_eq!(admin["package_id"], "sandbox-coding");
    assert_eq!(admin["client_order_id"], "aug-1");
    assert_eq!(admin["result"]["score"]["value"], "88");
    assert!(admin["request"]["candidate"]["first_name"].is_null());
    assert_eq!(admin["request"]["candidate"]["id"], "cand-1");
    let unified = expect_json(
        app.unified(
            Method::GET,
            &format!("/unified/ats/assessments/orders/{done_id}"),
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(unified["data"]["candidate"]["id"], "cand-1");
    assert!(unified["data"]["candidate"]["first_name"].is_null());
    assert!(unified["data"]["candidate"]["emails"].is_null());
    assert!(unified["data"]["job"]["hiring_team"].is_null());
    assert_eq!(unified["data"]["package"]["id"], "sandbox-coding");
    let results = expect_json(
        app.unified(
            Method::GET,
            &format!("/unified/ats/assessments/orders/{done_id}/results"),
            &tenant,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(results["data"]["score"]["value"], "88", "{results}");
    assert!(results["data"]["candidate"]["profile_url"].is_null());

    // An erased order takes no more changes, and its key is not replayed.
    for action in ["cancel", "refresh", "reject"] {
        expect_error(
            order_action(&app, done_id, action).await,
            StatusCode::CONFLICT,
            "erased",
        )
        .await;
    }
    let pushed = app
        .unified(
            Method::PATCH,
            &format!("/unified/ats/assessments/orders/{done_id}/result"),
            &tenant,
        )
        .json(&json!({"result": {"value": "passed"}, "summary": "Augusta did well"}))
        .send()
        .await
        .unwrap();
    expect_error(pushed, StatusCode::CONFLICT, "erased").await;
    let again = augusta_order("aug-1", "augusta.king@example.org", &receiver);
    expect_error(
        app.order(&tenant, &again).await,
        StatusCode::CONFLICT,
        "erased",
    )
    .await;
    assert_eq!(
        found_in(&database_text(&db).await, PERSONAL),
        Vec::<&str>::new()
    );

    // Erasing again finds nothing; the other candidate's order is untouched.
    let none = app
        .admin_post(
            &format!("/admin/projects/{}/erasures", tenant.project_id),
            json!({"email": "augusta.king@example.org", "at_vendor": true}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(none, json!({"orders_erased": 0, "orders": []}));
    let bob = app
        .admin_get(&format!("/admin/orders/{}", other["id"].as_str().unwrap()))
        .await;
    assert_eq!(bob["candidate_email"], "bob@example.com");
    assert_eq!(bob["status"], "invited");
}

async fn the_sandbox_vendor_deletes_and_bad_requests_change_nothing(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let tenant = app.create_tenant().await;
    let order = stackone_order("s-1", "ada@example.com", "sandbox-coding");
    let order = expect_json(app.order(&tenant, &order).await, StatusCode::OK).await;
    let project = tenant.project_id.as_str();
    let erase = |project: String, body: Value| {
        app.admin(Method::POST, &format!("/admin/projects/{project}/erasures"))
            .json(&body)
            .send()
    };
    for (body, needle) in [
        (json!({}), "email"),
        (json!({"email": ""}), "email"),
        (json!({"email": "   "}), "email"),
        (
            json!({"email": format!("{}@example.com", "a".repeat(300))}),
            "email",
        ),
        (
            json!({"email": "ada@example.com", "at_vendor": "yes"}),
            "at_vendor",
        ),
        (json!({"email": "ada@example.com", "also": 1}), "also"),
        (json!(["ada@example.com"]), ""),
    ] {
        let refused = erase(project.to_string(), body.clone()).await.unwrap();
        expect_error(refused, StatusCode::BAD_REQUEST, needle).await;
    }
    let unknown = erase(
        uuid::Uuid::now_v7().to_string(),
        json!({"email": "ada@example.com"}),
    )
    .await
    .unwrap();
    expect_error(unknown, StatusCode::NOT_FOUND, "project").await;
    let anonymous = app
        .client
        .post(format!("{}/admin/projects/{project}/erasures", app.url))
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let untouched = app
        .admin_get(&format!("/admin/orders/{}", order["id"].as_str().unwrap()))
        .await;
    assert_eq!(untouched["candidate_email"], "ada@example.com");
    assert_eq!(untouched["status"], "invited");

    let erased = app
        .admin_post(
            &format!("/admin/projects/{project}/erasures"),
            json!({"email": "ada@example.com", "at_vendor": true}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(erased["orders_erased"], 1);
    assert_eq!(
        erased["orders"][0]["vendor"],
        json!({"provider": "sandbox", "remote_id": order["remote_id"], "outcome": "deleted", "message": null})
    );
    let audit = app
        .admin_get("/admin/audit-events?action=project.erase_candidate")
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 9, "{audit}");
    assert_eq!(audit["data"][0]["outcome"], "succeeded");
    assert_eq!(audit["data"][0]["target"], format!("project:{project}"));
    assert!(!audit.to_string().contains("ada@"));
}

on_both_databases!(
    erasure_leaves_no_personal_data_anywhere,
    the_sandbox_vendor_deletes_and_bad_requests_change_nothing,
);
