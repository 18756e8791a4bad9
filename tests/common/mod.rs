//! Test helpers: a fresh database per test (a SQLite file, or a new Postgres database on the
//! server named by `TEST_DATABASE_URL`) and the real app served on a random port.
#![allow(dead_code)]

pub mod binary;
pub mod vendor_lists;

use std::time::Duration;

use assessment_gateway::{
    config::{Cli, Config},
    service::Gateway,
    App,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use clap::Parser;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
        Self {
            url,
            backend: "sqlite",
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A Postgres database a test runs itself (nothing is dropped afterwards).
    pub fn external(url: String) -> Self {
        Self {
            url,
            backend: "postgres",
            _dir: None,
            postgres: None,
        }
    }

    /// A fresh database on the `TEST_DATABASE_URL` server; `None` when that is unset outside CI.
    /// In CI (`CI` set) a missing `TEST_DATABASE_URL` fails the test: the Postgres half must
    /// never be skipped silently there.
    pub async fn postgres() -> Option<Self> {
        let server = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var_os("CI").is_some() => {
                panic!("CI is set but TEST_DATABASE_URL is not: the Postgres tests cannot run")
            }
            _ => {
                eprintln!("TEST_DATABASE_URL is not set: skipping the Postgres variant");
                return None;
            }
        };
        let name = format!("agw_test_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&server)
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Some(Self {
            url: url.to_string(),
            backend: "postgres",
            _dir: None,
            postgres: Some((server, name)),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.postgres.take() {
            // Best effort, on a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    if let Ok(pool) = sqlx::PgPool::connect(&server).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&pool)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Runs each named `async fn(TestDb)` once on SQLite and once on Postgres.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::TestDb::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(postgres_tests),
                    ignore = "TEST_DATABASE_URL is not set: run `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test` for the Postgres variants"
                )]
                async fn $name() {
                    if let Some(db) = $crate::common::TestDb::postgres().await {
                        super::$name(db).await
                    }
                }
            )*
        }
    };
}

/// The settings a test app runs with, plus any `extra` flags.
pub fn test_config(db: &TestDb, addr: std::net::SocketAddr, extra: &[&str]) -> Config {
    let master_key = STANDARD.encode([42u8; 32]);
    let listen = addr.to_string();
    let public = format!("http://{addr}");
    let mut args = vec![
        "assessment-gateway",
        "--database-url",
        &db.url,
        "--listen-addr",
        &listen,
        "--public-url",
        &public,
        "--admin-token",
        ADMIN_TOKEN,
        "--master-key",
        &master_key,
        "--outbound-allow-private",
        "true",
        "--log-format",
        "pretty",
        // Tests run many apps in one process: none listens for metrics unless a test asks.
        "--metrics-addr",
        "",
    ];
    args.extend_from_slice(extra);
    let cli = Cli::try_parse_from(args).expect("test settings parse");
    Config::from_settings(cli.settings).expect("test settings are valid")
}

/// The real app, served on a random port; its HTTP helpers are `ApiClient`'s.
pub struct TestApp {
    api: ApiClient,
    pub gateway: Gateway,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl std::ops::Deref for TestApp {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

/// A project with an API key and a sandbox account.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub project_id: String,
    pub signing_secret: String,
    pub key_id: String,
    pub api_key: String,
    pub account_id: String,
}

/// A client of a gateway at `url` (in this process or another), with the calls tests make.
pub struct ApiClient {
    pub url: String,
    pub client: reqwest::Client,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> Self {
        Self::spawn_with(db, &[]).await
    }

    pub async fn spawn_with(db: &TestDb, extra: &[&str]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = App::build(test_config(db, addr, extra))
            .await
            .expect("app builds");
        let gateway = app.gateway.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(app.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            api: ApiClient::new(format!("http://{addr}")),
            gateway,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Stops accepting and waits for the server and workers to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
    }

    pub async fn count_rows(&self, db: &TestDb, table: &str) -> i64 {
        count_rows(db, table).await
    }
}

impl ApiClient {
    pub fn new(url: String) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            // A test may point the environment's proxies elsewhere; the test itself goes direct.
            .no_proxy()
            .build()
            .expect("client");
        Self { url, client }
    }

    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// `POST` an admin body, expecting `expected`; returns the JSON answer.
    pub async fn admin_post(&self, path: &str, body: Value, expected: StatusCode) -> Value {
        let response = self
            .admin(Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("request");
        expect_json(response, expected).await
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        let response = self.admin(Method::GET, path).send().await.expect("request");
        expect_json(response, StatusCode::OK).await
    }

    pub async fn create_tenant(&self) -> Tenant {
        self.create_tenant_with("sandbox", json!({}), json!({}))
            .await
    }

    pub async fn create_tenant_with(
        &self,
        provider: &str,
        credentials: Value,
        settings: Value,
    ) -> Tenant {
        let project = self
            .admin_post(
                "/admin/projects",
                json!({"name": "Acme ATS"}),
                StatusCode::CREATED,
            )
            .await;
        let project_id = project["id"].as_str().expect("project id").to_string();
        let key = self
            .admin_post(
                &format!("/admin/projects/{project_id}/api-keys"),
                json!({"name": "ci"}),
                StatusCode::CREATED,
            )
            .await;
        let account = self
            .admin_post(
                &format!("/admin/projects/{project_id}/accounts"),
                json!({"provider": provider, "name": "acct", "credentials": credentials, "settings": settings}),
                StatusCode::CREATED,
            )
            .await;
        Tenant {
            project_id,
            signing_secret: project["signing_secret"]
                .as_str()
                .expect("secret")
                .to_string(),
            key_id: key["id"].as_str().expect("key id").to_string(),
            api_key: key["key"].as_str().expect("key").to_string(),
            account_id: account["id"].as_str().expect("account id").to_string(),
        }
    }

    /// A unified API request as the tenant's ATS sends it.
    pub fn unified(&self, method: Method, path: &str, tenant: &Tenant) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .basic_auth(&tenant.api_key, Some(""))
            .header("x-account-id", &tenant.account_id)
    }

    /// Submits a sandbox test with `score`, as the candidate does on its page.
    pub async fn submit_sandbox_test(&self, test_url: &str, score: &str) {
        let submitted = self
            .client
            .post(format!("{test_url}/submit"))
            .form(&[("score", score)])
            .send()
            .await
            .expect("submit");
        assert!(submitted.status().is_success() || submitted.status().is_redirection());
    }

    pub async fn order(&self, tenant: &Tenant, body: &Value) -> reqwest::Response {
        self.unified(Method::POST, "/unified/ats/assessments/orders", tenant)
            .json(body)
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Evaluates `$body` with `$pool` a pool of its own on the test's database, whichever backend it
/// is (the two pool types differ, so the body is expanded once for each), and closes the pool.
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        if $db.backend == "postgres" {
            let $pool = sqlx::PgPool::connect(&$db.url).await.expect("connect");
            let out = $body;
            $pool.close().await;
            out
        } else {
            let $pool = sqlx::SqlitePool::connect(&$db.url).await.expect("connect");
            let out = $body;
            $pool.close().await;
            out
        }
    };
}

/// Counts the rows of `table` straight from the database, past the app.
pub async fn count_rows(db: &TestDb, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    with_pool!(db, |pool| sqlx::query_scalar::<_, i64>(&sql)
        .fetch_one(&pool)
        .await
        .expect("count"))
}

/// The status of the order with client key `key`, read straight from the database on a
/// connection of its own: what is committed, whatever the app holds.
pub async fn order_status_by_key(db: &TestDb, key: &str) -> Option<String> {
    let sql = "SELECT status FROM orders WHERE client_key = $1";
    with_pool!(db, |pool| sqlx::query_scalar::<_, String>(sql)
        .bind(key)
        .fetch_optional(&pool)
        .await
        .expect("read the order"))
}

/// Moves an order's last change back to `at`, straight in the database: how a test makes an order
/// closed long ago without waiting.
pub async fn set_order_updated_at(db: &TestDb, order_id: &str, at: chrono::DateTime<chrono::Utc>) {
    let id: uuid::Uuid = order_id.parse().expect("order id");
    let sql = "UPDATE orders SET updated_at = $1 WHERE id = $2";
    with_pool!(db, |pool| {
        sqlx::query(sql)
            .bind(at)
            .bind(id)
            .execute(&pool)
            .await
            .expect("update");
    });
}

/// Everything the database holds, every table and every column as text, one row a line: what a
/// test searches for data that must be gone.
pub async fn database_text(db: &TestDb) -> String {
    let mut text = String::new();
    if db.backend == "postgres" {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                .fetch_all(&pool)
                .await
                .expect("tables");
        for table in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT CAST(t AS text) FROM \"{table}\" t"))
                    .fetch_all(&pool)
                    .await
                    .expect("rows");
            text.extend(rows.into_iter().map(|r| format!("{table}: {r}\n")));
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("connect");
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&pool)
                .await
                .expect("tables");
        for table in tables {
            let columns: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&pool)
                    .await
                    .expect("columns");
            let row = columns
                .iter()
                .map(|c| {
                    format!(
                        "CASE typeof(\"{c}\") WHEN 'blob' THEN hex(\"{c}\") \
                         ELSE COALESCE(CAST(\"{c}\" AS TEXT), '') END"
                    )
                })
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {row} FROM \"{table}\""))
                .fetch_all(&pool)
                .await
                .expect("rows");
            text.extend(rows.into_iter().map(|r| format!("{table}: {r}\n")));
        }
        pool.close().await;
    }
    text
}

/// Asserts the status and returns the JSON body.
pub async fn expect_json(response: reqwest::Response, expected: StatusCode) -> Value {
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, expected, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
}

/// Asserts a StackOne error body with `status`, and that its message contains `needle`.
pub async fn expect_error(response: reqwest::Response, status: StatusCode, needle: &str) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = expect_json(response, status).await;
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    assert_eq!(body["statusCode"], json!(status.as_u16()), "{body}");
    let message = body["message"].as_str().expect("message is a string");
    assert!(
        message.contains(needle),
        "message {message:?} should contain {needle:?}"
    );
    let timestamp = body["timestamp"].as_str().expect("timestamp is a string");
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok() && timestamp.ends_with('Z'),
        "timestamp {timestamp}"
    );
    body
}

/// The order body of StackOne's docs (seed 003), with `id` and the candidate email replaced.
pub fn stackone_order(id: &str, email: &str, package: &str) -> Value {
    json!({
        "id": id,
        "package": {"id": package, "remote_id": package, "name": "Test 1",
                    "description": "Skills test to gauge a candidate's proficiency in job-specific skills"},
        "application": {"id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3", "remote_id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3",
                        "application_status": {"value": "hired", "source_value": "Hired"},
                        "passthrough": {"other_known_names": "John Doe"}},
        "job": {"id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3", "remote_id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3",
                "title": "Software Engineer",
                "hiring_team": [{"user_id": "123456", "remote_user_id": "e3cb75bf-aa84-466e-a6c1-b8322b257a48",
                                 "first_name": "John", "last_name": "Doe", "email": "john.doe@gmail.com", "role": "Software Engineer"}],
                "passthrough": {"other_known_names": "John Doe"}},
        "candidate": {"id": "cand-1", "remote_id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3",
                      "first_name": "Romain", "last_name": "Sestier",
                      "emails": [{"type": "personal", "value": email}],
                      "passthrough": {"other_known_names": "John Doe"},
                      "profile_url": "https://exmaple.com/candidate?id=xyz"},
        "requester": {"user_id": "123456", "remote_user_id": "e3cb75bf-aa84-466e-a6c1-b8322b257a48",
                      "first_name": "John", "last_name": "Doe", "email": "john.doe@gmail.com", "role": "Software Engineer"},
        "results_update_url": "https://exmaple.com/integrations/results/update",
        "passthrough": {"other_known_names": "John Doe"}
    })
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tenant whose account of `provider` points at a vendor fake.
pub async fn vendor_tenant(
    app: &ApiClient,
    provider: &str,
    credentials: Value,
    base_url: &str,
    mut settings: Value,
) -> Tenant {
    settings["base_url"] = json!(base_url);
    app.create_tenant_with(provider, credentials, settings)
        .await
}

/// `POST /admin/orders/{id}/{action}` (cancel, reject, refresh).
pub async fn order_action(app: &ApiClient, order_id: &str, action: &str) -> reqwest::Response {
    app.admin(Method::POST, &format!("/admin/orders/{order_id}/{action}"))
        .send()
        .await
        .expect("request")
}
