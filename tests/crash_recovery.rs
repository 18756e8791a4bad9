//! The gateway killed with SIGKILL in the middle of a delivery and started again: the delivery is
//! made by the new process once the dead one's lease runs out, with the same webhook-id.

mod common;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{eventually, stackone_order, TestDb};
use serde_json::{json, Value};
use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_assessment-gateway");
const TOKEN: &str = "crash-test-admin-token";

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(db: &TestDb, port: u16) -> Gateway {
    let child = Command::new(BIN)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("ADMIN_TOKEN", TOKEN)
        .env("MASTER_KEY", "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=")
        .env("OUTBOUND_ALLOW_PRIVATE", "true")
        .env("METRICS_ADDR", "")
        // The lease of a claimed delivery is twice this plus 10 s: 16 s.
        .env("PROVIDER_TIMEOUT", "3s")
        .env("DELIVERY_RETRY_SCHEDULE", "500ms")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gateway starts");
    Gateway(child)
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    eventually(Duration::from_secs(20), || async {
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let response = client
        .post(url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// A running gateway with one sandbox order whose test was just submitted, so that its
/// completion is being delivered to `receiver`.
async fn completed_order(
    db: &TestDb,
    base: &str,
    port: u16,
    receiver: &MockServer,
) -> (Gateway, reqwest::Client, Value) {
    let gateway = start(db, port);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    wait_healthy(&client, base).await;
    let project = post(
        &client,
        format!("{base}/admin/projects"),
        json!({"name": "p"}),
    )
    .await;
    let project_id = project["id"].as_str().unwrap();
    let key = post(
        &client,
        format!("{base}/admin/projects/{project_id}/api-keys"),
        json!({"name": "k"}),
    )
    .await;
    let account = post(
        &client,
        format!("{base}/admin/projects/{project_id}/accounts"),
        json!({"provider": "sandbox", "name": "s", "credentials": {}}),
    )
    .await;
    let mut body = stackone_order("crash-1", "ada@example.com", "sandbox-coding");
    body["results_update_url"] = json!(format!("{}/results", receiver.uri()));
    let order: Value = client
        .post(format!("{base}/unified/ats/assessments/orders"))
        .basic_auth(key["key"].as_str().unwrap(), Some(""))
        .header("x-account-id", account["id"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let submitted = client
        .post(format!("{}/submit", order["test_url"].as_str().unwrap()))
        .form(&[("score", "70")])
        .send()
        .await
        .unwrap();
    assert!(submitted.status().is_redirection());
    (gateway, client, order)
}

async fn a_delivery_interrupted_by_sigkill_is_made_after_restart(db: TestDb) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let receiver = MockServer::start().await;
    // The first attempt hangs (the gateway is killed meanwhile); later ones succeed.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;

    let (mut gateway, client, order) = completed_order(&db, &base, port, &receiver).await;

    eventually(Duration::from_secs(10), || async {
        (receiver.received_requests().await.unwrap().len() == 1).then_some(())
    })
    .await;
    gateway.0.kill().expect("SIGKILL");
    gateway.0.wait().unwrap();
    drop(gateway);

    let _restarted = start(&db, port);
    wait_healthy(&client, &base).await;
    let requests = eventually(Duration::from_secs(40), || async {
        let r = receiver.received_requests().await.unwrap();
        (r.len() >= 2).then_some(r)
    })
    .await;
    let ids: Vec<&str> = requests
        .iter()
        .map(|r| r.headers.get("webhook-id").unwrap().to_str().unwrap())
        .collect();
    assert_eq!(ids[0], ids[1], "the same delivery, sent again");
    assert_eq!(requests[0].body, requests[1].body);
    let detail = eventually(Duration::from_secs(10), || async {
        let detail: Value = client
            .get(format!(
                "{base}/admin/orders/{}",
                order["id"].as_str().unwrap()
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (detail["deliveries"][0]["status"] == "delivered").then_some(detail)
    })
    .await;
    assert_eq!(detail["status"], "completed");
}

async fn sigterm_finishes_the_delivery_in_flight_then_exits(db: TestDb) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)))
        .mount(&receiver)
        .await;
    let (mut gateway, client, order) = completed_order(&db, &base, port, &receiver).await;
    eventually(Duration::from_secs(10), || async {
        (receiver.received_requests().await.unwrap().len() == 1).then_some(())
    })
    .await;

    let terminated = Command::new("kill")
        .args(["-TERM", &gateway.0.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let exit = eventually(Duration::from_secs(15), || {
        let status = gateway.0.try_wait().unwrap();
        async move { status }
    })
    .await;
    assert!(exit.success(), "a clean exit: {exit:?}");
    drop(gateway);

    // The answer that came back during shutdown was recorded: nothing is sent again.
    let _restarted = start(&db, port);
    wait_healthy(&client, &base).await;
    let detail: Value = client
        .get(format!(
            "{base}/admin/orders/{}",
            order["id"].as_str().unwrap()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["deliveries"][0]["status"], "delivered");
    assert_eq!(detail["deliveries"][0]["attempts"], 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

on_both_databases!(
    a_delivery_interrupted_by_sigkill_is_made_after_restart,
    sigterm_finishes_the_delivery_in_flight_then_exits,
);
