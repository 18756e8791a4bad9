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
        Self::start_through_shell(db, "", env).await
    }

    /// `start`, through `sh -c '<prelude>; exec <binary>'` (e.g. to set a signal ignored).
    pub async fn start_through_shell(db: &TestDb, prelude: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("gateway.log");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("{prelude}\nexec \"$0\""))
            .arg(env!("CARGO_BIN_EXE_assessment-gateway"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("PUBLIC_URL", &url)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("MASTER_KEY", STANDARD.encode(MASTER_KEY))
            .env("OUTBOUND_ALLOW_PRIVATE", "true")
            .env("LOG_FORMAT", "json")
            .env("METRICS_ADDR", "")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            // Through pipes, copied here: the process's own limits (a test may limit the size of
            // the files it writes) then never touch its log.
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the gateway binary");
        let file = std::sync::Arc::new(std::sync::Mutex::new(file));
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for pipe in [out, err] {
            let file = file.clone();
            std::thread::spawn(move || {
                use std::io::{BufRead, Write};
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Ok(mut file) = file.lock() {
                        let _ = writeln!(file, "{line}");
                    }
                }
            });
        }
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

    /// The process id (the shell `exec`s the binary, so it is the gateway's).
    pub fn pid(&self) -> u32 {
        self.child.id()
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
