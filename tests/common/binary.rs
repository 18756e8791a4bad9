//! The real `assessment-gateway` binary as a child process, for what only a whole process shows:
//! its log output, and how it lives through faults.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::{engine::general_purpose::STANDARD, Engine};

use super::{ApiClient, TestDb, ADMIN_TOKEN};

pub const MASTER_KEY: [u8; 32] = [42; 32];

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct Binary {
    api: ApiClient,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Binary {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

impl Binary {
    /// Starts the binary on `db` with the test settings and `env`, logging JSON to a file, and
    /// waits until it answers `/healthz`.
    pub async fn start(db: &TestDb, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("gateway.log");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_assessment-gateway"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("PUBLIC_URL", &url)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("MASTER_KEY", STANDARD.encode(MASTER_KEY))
            .env("OUTBOUND_ALLOW_PRIVATE", "true")
            .env("LOG_FORMAT", "json")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start the gateway binary");
        let binary = Self {
            api: ApiClient::new(url),
            child,
            log,
            _dir: dir,
        };
        binary.wait_until_up().await;
        binary
    }

    async fn wait_until_up(&self) {
        for _ in 0..200 {
            if let Ok(response) = self
                .client
                .get(format!("{}/healthz", self.url))
                .send()
                .await
            {
                if response.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not come up; its log:\n{}", self.log());
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the process with SIGTERM and waits for it.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..300 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.log()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
