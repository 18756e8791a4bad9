//! Child processes under measurement: the release gateway and the trivial axum server, with
//! their peak RSS and CPU time read from `/proc`.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";

/// A free port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// User + system CPU time in a `/proc/<pid>/stat` line.
fn cpu_time_in_stat(stat: &str) -> Duration {
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // Linux reports in USER_HZ, which is 100 on every mainstream build.
    Duration::from_millis(ticks * 10)
}

/// User + system CPU time used so far by all living processes whose command is `command`
/// (`postgres`: the server and every backend, which the benchmark does not start itself). A
/// process that exits takes its time with it, so compare only windows in which none does.
pub fn cpu_time_of_all(command: &str) -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            stat.split_once(" (")
                .and_then(|(_, rest)| rest.rsplit_once(')'))
                .is_some_and(|(name, _)| name == command)
        })
        .map(|stat| cpu_time_in_stat(&stat))
        .sum()
}

/// User + system CPU time this benchmark process (load generator, fakes, receiver) used so far.
pub fn own_cpu_time() -> Duration {
    cpu_time_in_stat(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
}

/// A process the benchmark started and measures.
pub struct Measured {
    child: Child,
    pub url: String,
}

impl Measured {
    /// The release gateway (`cargo bench` builds it) on `database_url`, logging at the default
    /// level unless BENCH_GATEWAY_LOG asks for another (for diagnosis).
    pub async fn gateway(database_url: &str, run_workers: bool, log: &Path) -> Self {
        let level = std::env::var("BENCH_GATEWAY_LOG").unwrap_or_else(|_| "info".into());
        Self::gateway_logging(database_url, run_workers, log, &level).await
    }

    /// The gateway with `RUST_LOG=level` (e.g. to log every statement it sends).
    pub async fn gateway_logging(
        database_url: &str,
        run_workers: bool,
        log: &Path,
        level: &str,
    ) -> Self {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(log).expect("gateway log file");
        let child = Command::new(env!("CARGO_BIN_EXE_assessment-gateway"))
            .arg("serve")
            .env("RUST_LOG", level)
            .env("DATABASE_URL", database_url)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("PUBLIC_URL", &url)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("MASTER_KEY", STANDARD.encode([7u8; 32]))
            .env("OUTBOUND_ALLOW_PRIVATE", "true")
            .env("RUN_WORKERS", run_workers.to_string())
            // Two gateways may run at once; neither needs the default metrics port.
            .env(
                "METRICS_ADDR",
                std::env::var("METRICS_ADDR").unwrap_or_default(),
            )
            // One API key sends every order: the per-key limit (1,000 a minute by default) is a
            // policy, not a cost, so the benchmark turns it off unless asked to measure with it.
            .env(
                "RATE_LIMIT",
                std::env::var("RATE_LIMIT").unwrap_or_else(|_| "0".into()),
            )
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start the gateway");
        let measured = Self { child, url };
        measured.wait_ready("/readyz").await;
        measured
    }

    /// This benchmark's own binary serving a trivial axum handler.
    pub async fn trivial_server() -> Self {
        let port = free_port();
        let child = Command::new(std::env::current_exe().expect("own path"))
            .args(["trivial-server", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .expect("start the trivial server");
        let measured = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        measured.wait_ready("/healthz").await;
        measured
    }

    async fn wait_ready(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}{path}", self.url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id())).unwrap_or_default()
    }

    /// Peak resident set since start or the last `reset_peak_rss`, in MiB (`VmHWM`).
    pub fn peak_rss_mib(&self) -> f64 {
        self.proc_file("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// Starts a new peak-RSS window (Linux `clear_refs` value 5).
    pub fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// User + system CPU time used so far.
    pub fn cpu_time(&self) -> Duration {
        cpu_time_in_stat(&self.proc_file("stat"))
    }

    /// SIGTERM, then wait for the exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// A call to the admin API, expected to succeed.
    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("admin request");
        let status = response.status();
        let body: Value = response.json().await.expect("admin answer");
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    /// A project, an API key and one linked account; returns the unified API's auth headers.
    pub async fn tenant(&self, provider: &str, credentials: Value, settings: Value) -> Tenant {
        let project = self
            .admin_post("/admin/projects", json!({"name": "Bench ATS"}))
            .await;
        let project_id = project["id"].as_str().expect("project id");
        let key = self
            .admin_post(
                &format!("/admin/projects/{project_id}/api-keys"),
                json!({"name": "bench"}),
            )
            .await;
        let account = self
            .admin_post(
                &format!("/admin/projects/{project_id}/accounts"),
                json!({"provider": provider, "name": "bench", "credentials": credentials, "settings": settings}),
            )
            .await;
        Tenant {
            authorization: format!(
                "Basic {}",
                STANDARD.encode(format!("{}:", key["key"].as_str().expect("key")))
            ),
            account_id: account["id"].as_str().expect("account id").to_string(),
        }
    }
}

impl Drop for Measured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The headers a tenant's ATS sends.
#[derive(Clone)]
pub struct Tenant {
    pub authorization: String,
    pub account_id: String,
}

impl Tenant {
    pub fn post(&self, client: &reqwest::Client, url: String) -> reqwest::RequestBuilder {
        client
            .post(url)
            .header("authorization", &self.authorization)
            .header("x-account-id", &self.account_id)
    }
}
