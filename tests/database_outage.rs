//! The database may go away. Postgres killed with SIGKILL and started again while orders flow:
//! meanwhile requests fail fast with 503 and the StackOne body, `/readyz` says 503; once Postgres
//! is back the same process serves again; every order answered 200 is in the database; the
//! workers resume; nothing panics. The test runs a Postgres server of its own (initdb and pg_ctl
//! of the installed PostgreSQL, a free port, a temporary directory), never the shared one.
//! SQLite: a disk that is full gives 503 with the reason, and writes work again once it is not.

mod common;

use std::{
    path::PathBuf,
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{binary::free_port, binary::Binary, eventually, expect_json, stackone_order, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

/// A Postgres server of this test's own.
struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PrivatePostgres {
    /// Postgres refuses to run as root: as root, the server runs as the `postgres` user.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// The installed PostgreSQL's binaries; `None` (the test is skipped) when there are none,
    /// except in CI, where the test must run.
    fn binaries() -> Option<PathBuf> {
        let found = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|bin| bin.join("initdb").exists());
        if found.is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but no PostgreSQL is installed under /usr/lib/postgresql"
            );
            eprintln!("no PostgreSQL under /usr/lib/postgresql: skipping the outage test");
        }
        found
    }

    fn create(bin: PathBuf) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let server = Self {
            bin,
            data,
            port: free_port(),
            _dir: dir,
        };
        let initdb = server
            .command("initdb")
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&server.data)
            .output()
            .unwrap();
        assert!(
            initdb.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        server
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log(&self) -> PathBuf {
        self.data.join("server.log")
    }

    /// Starts the server; after a SIGKILL, retries while the old backends are still exiting.
    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
            self.port,
            self.data.display()
        );
        for _ in 0..50 {
            let started = self
                .command("pg_ctl")
                .args(["-w", "-t", "20", "-D"])
                .arg(&self.data)
                .args(["-l"])
                .arg(self.log())
                .args(["-o", &options, "start"])
                .output()
                .unwrap();
            if started.status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "the private Postgres did not start: {}",
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    /// SIGKILL to the postmaster, as an out-of-memory killer would.
    fn kill(&self) {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .expect("postmaster.pid")
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_string();
        let killed = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        assert!(killed.success());
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// What the flow of orders saw.
#[derive(Default)]
struct Seen {
    answered: Vec<(Instant, StatusCode, Duration, Value)>,
}

/// Places `body` as the tenant's ATS (gateway `url`, API `key`, `account`) and records when it
/// was sent, the answer and how long it took.
async fn place(
    seen: &Mutex<Seen>,
    client: &reqwest::Client,
    (url, key, account): (&str, &str, &str),
    body: &Value,
) {
    let sent = Instant::now();
    let response = client
        .post(format!("{url}/unified/ats/assessments/orders"))
        .basic_auth(key, Some(""))
        .header("x-account-id", account)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    seen.lock()
        .unwrap()
        .answered
        .push((sent, status, sent.elapsed(), answer));
}

async fn postgres_killed_and_restarted_while_orders_flow() {
    let Some(bin) = PrivatePostgres::binaries() else {
        return;
    };
    let server = PrivatePostgres::create(bin);
    server.start();
    let db = TestDb::external(server.url());
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let gateway = Binary::start(
        &db,
        &[("DELIVERY_RETRY_SCHEDULE", "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s")],
    )
    .await;
    let tenant = gateway
        .create_tenant_with("sandbox", json!({}), json!({"auto_complete_after": "1s"}))
        .await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let flowing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Four clients, so that orders are sent all through the outage even while some wait for a
    // connection (up to the pool's 3 s).
    let flows: Vec<_> = (0..4)
        .map(|flow| {
            let (seen, flowing) = (seen.clone(), flowing.clone());
            let (url, key, account, receiver) = (
                gateway.url.clone(),
                tenant.api_key.clone(),
                tenant.account_id.clone(),
                format!("{}/results", receiver.uri()),
            );
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                let mut i = 0;
                while flowing.load(std::sync::atomic::Ordering::SeqCst) {
                    i += 1;
                    let mut body = stackone_order(
                        &format!("flow-{flow}-{i}"),
                        &format!("c{flow}-{i}@example.com"),
                        "sandbox-coding",
                    );
                    body["results_update_url"] = json!(receiver);
                    place(&seen, &client, (&url, &key, &account), &body).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    server.kill();
    let killed = Instant::now();
    // One more order, sent well into the outage while the clients above may all be waiting for
    // a connection: it too is answered 503 within the bound.
    let late = {
        let (seen, url, key, account) = (
            seen.clone(),
            gateway.url.clone(),
            tenant.api_key.clone(),
            tenant.account_id.clone(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(600)).await;
            let body = stackone_order("late", "late@example.com", "sandbox-coding");
            place(
                &seen,
                &reqwest::Client::new(),
                (&url, &key, &account),
                &body,
            )
            .await;
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ready = gateway
        .client
        .get(format!("{}/readyz", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_secs(3)).await;

    // From here Postgres may answer at any moment (pg_ctl returns a little after it does).
    let back = Instant::now();
    server.start();
    tokio::time::sleep(Duration::from_secs(6)).await;
    flowing.store(false, std::sync::atomic::Ordering::SeqCst);
    for flow in flows {
        flow.await.unwrap();
    }
    late.await.unwrap();

    let answered = std::mem::take(&mut seen.lock().unwrap().answered);
    let during: Vec<_> = answered
        .iter()
        // Sent once the old backends were gone, answered before Postgres could answer again.
        .filter(|(sent, _, took, _)| {
            *sent > killed + Duration::from_millis(500) && *sent + *took < back
        })
        .collect();
    assert!(
        !during.is_empty(),
        "orders were sent while Postgres was down"
    );
    for (sent, status, took, body) in &during {
        assert_eq!(
            *status,
            StatusCode::SERVICE_UNAVAILABLE,
            "sent {:?} after the kill, answered in {took:?}: {body}",
            *sent - killed
        );
        assert!(*took < Duration::from_secs(5), "answered after {took:?}");
        assert_eq!(body["statusCode"], 503);
        assert!(
            body["message"].as_str().unwrap().contains("database"),
            "{body}"
        );
    }
    let recovered = answered
        .iter()
        .find(|(sent, status, ..)| *sent > back && *status == StatusCode::OK)
        .map(|(sent, ..)| *sent - back)
        .expect("orders succeed again once Postgres is back");
    assert!(
        recovered < Duration::from_secs(5),
        "served again {recovered:?} after Postgres came back"
    );
    assert!(
        answered.iter().all(|(_, status, ..)| matches!(
            *status,
            StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE
        )),
        "{:?}",
        answered.iter().map(|a| a.1).collect::<Vec<_>>()
    );

    // Every order answered 200 is in the database, and the workers deliver after the outage.
    let accepted: Vec<String> = answered
        .iter()
        .filter(|(_, status, ..)| *status == StatusCode::OK)
        .map(|(.., body)| body["id"].as_str().unwrap().to_string())
        .collect();
    assert!(accepted.len() >= 10);
    for id in &accepted {
        let kept = gateway
            .admin(Method::GET, &format!("/admin/orders/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            kept.status(),
            StatusCode::OK,
            "order {id} answered 200 is kept"
        );
    }
    let last = accepted.last().unwrap().clone();
    eventually(Duration::from_secs(20), || async {
        let detail = gateway.admin_get(&format!("/admin/orders/{last}")).await;
        (detail["deliveries"][0]["status"] == "delivered").then_some(())
    })
    .await;
    let log = gateway.stop();
    assert!(!log.contains("panicked"), "{log}");
}

/// RLIMIT_FSIZE of the gateway process, through util-linux's prlimit: writes past `bytes` fail.
fn limit_file_size(pid: u32, bytes: Option<u64>) {
    let limit = bytes.map_or("unlimited:unlimited".to_string(), |b| {
        format!("{b}:unlimited")
    });
    let status = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--fsize={limit}")])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn sqlite_on_a_full_disk_answers_503_and_recovers(db: TestDb) {
    // The gateway ignores SIGXFSZ (a shell sets it ignored, exec keeps it): a write past the file
    // size limit then fails with EFBIG, as a write on a full disk fails with ENOSPC.
    let gateway = Binary::start_through_shell(&db, "trap '' XFSZ", &[]).await;
    let tenant = gateway.create_tenant().await;
    expect_json(
        gateway
            .order(
                &tenant,
                &stackone_order("before", "a@example.com", "sandbox-coding"),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    limit_file_size(gateway.pid(), Some(1));
    let started = Instant::now();
    let refused = gateway
        .order(
            &tenant,
            &stackone_order("full", "b@example.com", "sandbox-coding"),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("database is unavailable"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Reads go on.
    let listed = gateway
        .admin(Method::GET, "/admin/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);

    limit_file_size(gateway.pid(), None);
    let again = eventually(Duration::from_secs(5), || async {
        let response = gateway
            .order(
                &tenant,
                &stackone_order("full", "b@example.com", "sandbox-coding"),
            )
            .await;
        (response.status() == StatusCode::OK).then_some(response)
    })
    .await;
    let created: Value = again.json().await.unwrap();
    let detail = gateway
        .admin_get(&format!(
            "/admin/orders/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(detail["status"], "invited");
    let log = gateway.stop();
    assert!(!log.contains("panicked"), "{log}");
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_and_restarted_while_orders_flow() {
        super::postgres_killed_and_restarted_while_orders_flow().await
    }
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_answers_503_and_recovers() {
        super::sqlite_on_a_full_disk_answers_503_and_recovers(crate::common::TestDb::sqlite().await)
            .await
    }
}
