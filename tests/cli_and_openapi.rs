//! The binary as an operator runs it, and the OpenAPI document it describes itself with.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_assessment-gateway");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every documented operation, as (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            ops.push((method.to_uppercase(), path.clone(), operation.clone()));
        }
    }
    ops
}

/// Every setting the binary reads is in `.env.example` and in README's configuration table, and
/// neither lists one the binary does not read.
#[test]
fn env_example_and_readme_list_every_setting() {
    use clap::CommandFactory;
    let root = env!("CARGO_MANIFEST_DIR");
    let settings: Vec<String> = assessment_gateway::config::Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect();
    assert!(settings.len() > 10, "{settings:?}");
    let example = std::fs::read_to_string(format!("{root}/.env.example")).unwrap();
    let listed: Vec<String> = example
        .lines()
        .map(|l| l.trim_start_matches('#'))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name.to_string()))
        .filter(|name| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
        .collect();
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let configuration = readme
        .split("\n## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Configuration section");
    let table: Vec<String> = configuration
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name.to_string()))
        .filter(|name| name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .collect();
    for setting in &settings {
        assert!(listed.contains(setting), ".env.example lacks {setting}");
        assert!(table.contains(setting), "README's table lacks {setting}");
    }
    for name in listed.iter().chain(&table) {
        assert!(
            settings.contains(name) || name == "RUST_LOG" || name == "POSTGRES_PASSWORD",
            "{name} is listed but not a setting"
        );
    }
}

/// `assessment-gateway openapi | head -3`: a reader that stops early is not an error.
#[test]
fn the_document_printer_stops_quietly_on_a_closed_pipe() {
    use std::io::Read;
    let mut child = Command::new(BIN)
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut start = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut start).unwrap();
    // The pipe is closed here, before the document is written out.
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Each secured operation refuses a caller without credentials with 401, and documents it with
/// the error body; each that takes a body documents 400 and 413 too. (`scripts/api-contract`
/// checks the rest of the document against the server.)
#[tokio::test]
async fn every_refusal_the_server_gives_is_documented() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db).await;
    let doc: Value = app
        .client
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let error_body = json!({"$ref": "#/components/schemas/ErrorBody"});
    for (method, path, operation) in operations(&doc) {
        let documented = |status: &str| {
            operation["responses"][status]["content"]["application/json"]["schema"] == error_body
        };
        if operation["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
        {
            assert!(documented("401"), "{method} {path} does not document 401");
            assert!(documented("503"), "{method} {path} does not document 503");
            let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
            let answer = app
                .client
                .request(method.parse().unwrap(), format!("{}{concrete}", app.url))
                .header("x-account-id", "acct")
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        }
        if !operation["requestBody"]["content"]["application/json"].is_null() {
            assert!(documented("400") && documented("413"), "{method} {path}");
        }
        if path.starts_with("/unified/") {
            assert!(documented("429"), "{method} {path} does not document 429");
        }
    }
    // The document's formats are the server's own (domain::patterns).
    let order = &doc["components"]["schemas"]["AtsCreateCandidatesAssessmentsRequestDto"];
    assert_eq!(
        order["properties"]["candidate"]["properties"]["emails"]["contains"]["properties"]["value"]
            ["pattern"],
        assessment_gateway::domain::patterns::EMAIL
    );
    assert_eq!(order["required"], json!(["package", "candidate"]));
}

/// Every documented operation, as (method, path).
fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.push((method.to_uppercase(), path.clone()));
        }
    }
    ops.sort();
    ops
}

#[tokio::test]
async fn the_openapi_document_covers_every_route_and_matches_the_cli() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db).await;
    let served: Value = app
        .client
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let printed = Command::new(BIN)
        .arg("openapi")
        .env_clear()
        .output()
        .unwrap();
    assert!(printed.status.success());
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(
        served, printed,
        "`assessment-gateway openapi` prints the served document"
    );
    assert!(served["openapi"].as_str().unwrap().starts_with("3."));

    let ops = documented(&served);
    let expected = [
        ("DELETE", "/admin/accounts/{id}"),
        ("GET", "/admin/accounts/{id}"),
        ("PATCH", "/admin/accounts/{id}"),
        ("DELETE", "/admin/api-keys/{id}"),
        ("GET", "/admin/audit-events"),
        ("GET", "/admin/orders"),
        ("GET", "/admin/orders/{id}"),
        ("POST", "/admin/orders/{id}/cancel"),
        ("POST", "/admin/orders/{id}/reject"),
        ("POST", "/admin/orders/{id}/refresh"),
        ("GET", "/admin/projects"),
        ("POST", "/admin/projects"),
        ("GET", "/admin/projects/{id}"),
        ("PATCH", "/admin/projects/{id}"),
        ("POST", "/admin/projects/{id}/accounts"),
        ("POST", "/admin/projects/{id}/api-keys"),
        ("POST", "/admin/projects/{id}/erasures"),
        ("GET", "/"),
        ("GET", "/docs"),
        ("GET", "/docs/redoc.standalone.js"),
        ("GET", "/healthz"),
        ("GET", "/openapi.json"),
        ("GET", "/readyz"),
        ("GET", "/sandbox/tests/{token}"),
        ("POST", "/sandbox/tests/{token}/start"),
        ("POST", "/sandbox/tests/{token}/submit"),
        ("GET", "/unified/ats/assessments/orders/{id}"),
        ("PATCH", "/unified/ats/assessments/orders/{id}/result"),
        ("GET", "/unified/ats/assessments/orders/{id}/results"),
        ("POST", "/unified/ats/assessments/orders"),
        ("POST", "/webhooks/{provider}/{token}"),
        ("GET", "/admin/deliveries"),
        ("POST", "/admin/deliveries/{id}/retry"),
        ("POST", "/admin/projects/{id}/signing-secret"),
        ("GET", "/unified/ats/assessments/packages"),
        ("GET", "/unified/ats/assessments/packages/{id}"),
    ];
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(ops, expected);

    // Every documented operation is routed: no 404 route fall-back, no 405.
    for (method, path) in &ops {
        let concrete = path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{token}", "sbx_x");
        let response = app
            .client
            .request(method.parse().unwrap(), format!("{}{concrete}", app.url))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !body.contains("no such route"),
            "{method} {path} is documented but not routed"
        );
    }
    // `/` tells a person who opens the address where to go.
    let home = app.client.get(&app.url).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let home = home.text().await.unwrap();
    for link in ["/console", "/docs", "/openapi.json", "/healthz", "/readyz"] {
        assert!(home.contains(&format!("href=\"{link}\"")), "{link}: {home}");
    }
    // `/docs` works without internet: its renderer comes from the gateway itself.
    let page = app
        .client
        .get(format!("{}/docs", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("src=\"http"), "{page}");
    let script = app
        .client
        .get(format!("{}/docs/redoc.standalone.js", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.bytes().await.unwrap().len() > 500_000);
    for schema in [
        "OrderRequest",
        "CreateOrderResult",
        "AssessmentResult",
        "ErrorBody",
        "UpdateResult",
    ] {
        assert!(
            served["components"]["schemas"][schema].is_object(),
            "{schema}"
        );
    }
}

#[test]
fn a_bad_setting_stops_start_up_naming_it() {
    for (name, value) in [
        ("LISTEN_ADDR", "nowhere"),
        ("POLL_INTERVAL", "often"),
        ("CALLBACK_REREAD_DELAY", "soon"),
        ("DELIVERY_RETRY_SCHEDULE", "5s,,1m"),
        ("MASTER_KEY", "short"),
        ("RUN_WORKERS", "maybe"),
    ] {
        let output = Command::new(BIN)
            .env_clear()
            .env(name, value)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{name}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    let output = Command::new(BIN)
        .env_clear()
        .env("DATABASE_URL", "postgres://127.0.0.1:1/x")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("MASTER_KEY"));

    // A refused secret is named, never shown.
    let master_key = "W38SnotAkeyButASecretAll=";
    for (env, named, secret) in [
        (vec![("MASTER_KEY", master_key)], "MASTER_KEY", master_key),
        (vec![("ADMIN_TOKEN", "tiny-tok")], "ADMIN_TOKEN", "tiny-tok"),
        (
            vec![
                ("DATABASE_URL", "postgres://gw:Sup3rS3cretPw@127.0.0.1:1/x"),
                ("MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            ],
            "DATABASE_URL",
            "Sup3rS3cretPw",
        ),
    ] {
        let output = Command::new(BIN)
            .env_clear()
            .envs(env)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{named}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{named}: {stderr}");
        assert!(!stderr.contains(secret), "{named} shown: {stderr}");
    }

    // Listening beyond loopback: links must name a reachable host, and the admin token must be
    // the operator's own (never generated and printed into a container's log).
    let dir = tempfile::tempdir().unwrap();
    for (env, named) in [
        (vec![("LISTEN_ADDR", "0.0.0.0:0")], "PUBLIC_URL"),
        (
            vec![
                ("LISTEN_ADDR", "0.0.0.0:0"),
                ("PUBLIC_URL", "https://gw.example.com"),
            ],
            "ADMIN_TOKEN",
        ),
    ] {
        let output = Command::new(BIN)
            .current_dir(dir.path())
            .env_clear()
            .envs(env)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{named}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("adm_"),
            "no token printed"
        );
    }
}

#[test]
fn help_shows_no_secret_from_the_environment() {
    let output = Command::new(BIN)
        .env_clear()
        .env(
            "DATABASE_URL",
            "postgres://gateway:db-password-123@db:5432/gateway",
        )
        .env("ADMIN_TOKEN", "admin-token-from-env-0123")
        .env("MASTER_KEY", "W38SthisisnotrealbutlooksbasesixtyfourAAAAA=")
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("DATABASE_URL"), "{help}");
    for secret in [
        "db-password-123",
        "admin-token-from-env",
        "W38Sthisisnotreal",
    ] {
        assert!(!help.contains(secret), "{secret} in --help:\n{help}");
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cargo run` with no environment at all: SQLite beside the working directory, a printed
/// development admin token, and a service that answers.
#[tokio::test]
async fn with_no_environment_it_serves_on_sqlite_and_prints_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut token = None;
    let mut seen = String::new();
    while token.is_none() {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the banner is printed");
        seen.push_str(&line);
        seen.push('\n');
        if let Some((_, t)) = line.split_once("ADMIN_TOKEN (development only") {
            token = t.rsplit(' ').next().map(str::to_string);
        }
    }
    let token = token.unwrap();
    assert!(seen.contains(&format!("http://127.0.0.1:{port}")), "{seen}");
    assert!(dir.path().join("assessment-gateway.db").exists());
    assert!(dir.path().join("assessment-gateway.db.master-key").exists());

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let project: Value = client
        .post(format!("{base}/admin/projects"))
        .bearer_auth(&token)
        .json(&json!({"name": "p"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = project["signing_secret"].as_str().unwrap().to_string();
    let key: Value = client
        .post(format!(
            "{base}/admin/projects/{}/api-keys",
            project["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_key = key["key"].as_str().unwrap().to_string();
    let packages = client
        .get(format!("{base}/unified/ats/assessments/packages"))
        .basic_auth(&api_key, Some(""))
        .header("x-account-id", uuid::Uuid::now_v7().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(packages.status(), StatusCode::NOT_FOUND);

    // Secrets never reach the logs, even at debug level.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(line) = lines_rx.try_recv() {
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(!seen.contains(&secret), "the signing secret was logged");
    assert!(!seen.contains(&api_key), "the API key was logged");
}
