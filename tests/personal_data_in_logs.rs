//! No candidate's email or name reaches the log at `info`: the real binary takes sandbox and
//! vendor orders (one refused by the vendor in words that repeat the candidate's email and name),
//! a vendor callback, a signed delivery, admin reads and an erasure, and its whole output holds
//! none of them. Ids are logged instead.

mod common;

use std::time::Duration;

use common::{binary::Binary, eventually, expect_json, stackone_order, vendor_tenant, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wiremock::{
    matchers::{body_partial_json, method, path},
    Mock, MockServer, ResponseTemplate,
};

/// The candidates' and the hiring team's personal values.
const PERSONAL: &[&str] = &[
    "hypatia.alexandria@example.org",
    "Hypatia",
    "Theonsdottir",
    "zenobia.palmyra@example.org",
    "Zenobia",
    "Septimia",
    "Hiero",
    "Syracusano",
    "hiero.syracusano@corp.example",
];

fn order(id: &str, email: &str, first: &str, last: &str, package: &str, receiver: &str) -> Value {
    let mut order = stackone_order(id, email, package);
    order["candidate"]["first_name"] = json!(first);
    order["candidate"]["last_name"] = json!(last);
    let hiero = json!({"first_name": "Hiero", "last_name": "Syracusano",
        "email": "hiero.syracusano@corp.example"});
    order["job"]["hiring_team"] = json!([hiero.clone()]);
    order["requester"] = hiero;
    order["results_update_url"] = json!(format!("{receiver}/results"));
    order
}

async fn no_candidate_data_reaches_the_info_log(db: TestDb) {
    let gateway = Binary::start(
        &db,
        &[
            ("RUST_LOG", "info"),
            ("CALLBACK_REREAD_DELAY", "0s"),
            ("DELIVERY_RETRY_SCHEDULE", "100ms"),
        ],
    )
    .await;
    let receiver = MockServer::start().await;
    // The receiver refuses the first delivery with an answer that echoes it: the failure is
    // logged, its words are not.
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(|request: &wiremock::Request| {
            ResponseTemplate::new(500).set_body_bytes(request.body.clone())
        })
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .and(body_partial_json(json!({"email": "zenobia.palmyra@example.org"})))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"statusCode": 400,
            "message": "Candidate Zenobia Septimia (zenobia.palmyra@example.org) cannot be invited"}))
        )
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/tests/303076/invite"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"testInvitationId": 77, "testUrl": "https://test.imocha.io/x", "status": "Pending"}),
        ))
        .mount(&vendor)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/reports/77"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"testInvitationId": 77, "status": "Complete", "scorePercentage": 80,
                   "candidateEmail": "hypatia.alexandria@example.org", "candidateName": "Hypatia Theonsdottir"}),
        ))
        .mount(&vendor)
        .await;

    // A sandbox order, taken on its test page and delivered.
    let sandbox = gateway.create_tenant().await;
    let body = order(
        "pii-1",
        "hypatia.alexandria@example.org",
        "Hypatia",
        "Theonsdottir",
        "sandbox-coding",
        &receiver.uri(),
    );
    let created = expect_json(gateway.order(&sandbox, &body).await, StatusCode::OK).await;
    let test_url = created["test_url"].as_str().unwrap().to_string();
    gateway.client.get(&test_url).send().await.unwrap();
    gateway
        .client
        .post(format!("{test_url}/submit"))
        .form(&[("score", "82")])
        .send()
        .await
        .unwrap();

    // iMocha: one order refused in words naming the candidate, one invited and called back.
    let imocha = vendor_tenant(
        &gateway,
        "interviewmocha",
        json!({"api_key": "imocha-key-0123456789"}),
        &vendor.uri(),
        json!({}),
    )
    .await;
    let refused = gateway
        .order(
            &imocha,
            &order(
                "pii-2",
                "zenobia.palmyra@example.org",
                "Zenobia",
                "Septimia",
                "303076",
                &receiver.uri(),
            ),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body = order(
        "pii-3",
        "hypatia.alexandria@example.org",
        "Hypatia",
        "Theonsdottir",
        "303076",
        &receiver.uri(),
    );
    expect_json(gateway.order(&imocha, &body).await, StatusCode::OK).await;
    let invite = vendor
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .find(|b| b["email"] == "hypatia.alexandria@example.org")
        .unwrap();
    let called = gateway
        .client
        .post(invite["callbackUrl"].as_str().unwrap())
        .json(&json!({"TestInvitationId": 77, "Status": "Complete"}))
        .send()
        .await
        .unwrap();
    assert_eq!(called.status(), StatusCode::OK);
    eventually(Duration::from_secs(20), || async {
        (receiver.received_requests().await.unwrap_or_default().len() >= 3).then_some(())
    })
    .await;

    // Operators read and search, then erase one candidate.
    for path in ["/admin/orders", "/admin/deliveries", "/admin/audit-events"] {
        let read = gateway.admin(Method::GET, path).send().await.unwrap();
        assert_eq!(read.status(), StatusCode::OK);
    }
    let erased = gateway
        .admin(
            Method::POST,
            &format!("/admin/projects/{}/erasures", imocha.project_id),
        )
        .json(&json!({"email": "Hypatia.Alexandria@example.org", "at_vendor": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), StatusCode::OK);

    let log = gateway.stop();
    assert!(log.contains("\"delivered\""), "info logging is on: {log}");
    assert!(log.contains("500"), "the refused delivery is logged: {log}");
    assert!(
        log.contains("an order's personal data was erased"),
        "the erasure is logged by id"
    );
    let lowered = log.to_lowercase();
    for value in PERSONAL {
        if let Some(line) = lowered
            .lines()
            .find(|line| line.contains(&value.to_lowercase()))
        {
            panic!("{value} is in the log: {line}");
        }
    }
}

on_both_databases!(no_candidate_data_reaches_the_info_log);
