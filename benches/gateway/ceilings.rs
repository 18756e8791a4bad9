//! What the gateway is compared with on the same machine in the same run: the database's own
//! single-row insert rate and a trivial axum handler behind the same load generator.

use std::{
    path::Path,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{routing::get, routing::post, Json, Router};
use serde_json::{json, Value};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Executor,
};

use crate::{loadgen::Load, process::cpu_time_of_all};

/// A trivial handler with the unified API's shape: parse the JSON order, answer a small JSON.
pub async fn serve_trivial(listen: &str) {
    async fn order(Json(body): Json<Value>) -> Json<Value> {
        Json(json!({"id": body["id"], "remote_id": null, "test_url": null}))
    }
    let app = Router::new()
        .route("/unified/ats/assessments/orders", post(order))
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .expect("bind the trivial server");
    axum::serve(listener, app).await.expect("trivial server");
}

/// A database's own single-row insert rate, the ceiling the order path is compared with.
pub struct Ceiling {
    pub rate: f64,
    /// The Postgres server's CPU time per insert, microseconds (Postgres only).
    pub postgres_us: Option<f64>,
    /// pgbench's own CPU time per insert, microseconds (Postgres only).
    pub client_us: Option<f64>,
}

/// `pgbench` running a one-INSERT script (an order-sized JSON row, autocommit) on a fresh
/// database of the server at `server_url`.
pub async fn pgbench(
    server_url: &str,
    database: &str,
    order_json: &str,
    load: Load,
    dir: &Path,
) -> Ceiling {
    let url = url::Url::parse(server_url).expect("postgres URL");
    let admin = sqlx::PgPool::connect(server_url)
        .await
        .expect("connect to Postgres");
    admin
        .execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str())
        .await
        .expect("drop the pgbench database");
    admin
        .execute(format!("CREATE DATABASE {database}").as_str())
        .await
        .expect("create the pgbench database");
    admin.close().await;
    let mut db_url = url.clone();
    db_url.set_path(database);
    let db = sqlx::PgPool::connect(db_url.as_str())
        .await
        .expect("connect");
    db.execute(
        "CREATE TABLE bench_insert (id uuid PRIMARY KEY, body jsonb NOT NULL, \
         created_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .expect("create the insert table");
    db.close().await;
    let script = dir.join("pgbench-insert.sql");
    std::fs::write(
        &script,
        format!(
            "INSERT INTO bench_insert (id, body) VALUES (gen_random_uuid(), '{}');\n",
            order_json.replace('\'', "''")
        ),
    )
    .expect("write the pgbench script");
    let seconds = (load.warmup + load.measure).as_secs().max(1);
    // pgbench connects the way the gateway does: with the URL's sslmode (libpq's default, prefer,
    // when it has none: TLS if the server offers it).
    let sslmode = url
        .query_pairs()
        .find(|(k, _)| k == "sslmode")
        .map_or("prefer".to_string(), |(_, v)| v.into_owned());
    let child = Command::new("pgbench")
        .env("PGSSLMODE", sslmode)
        .args(["-h", url.host_str().unwrap_or("127.0.0.1")])
        .args(["-p", &url.port().unwrap_or(5432).to_string()])
        .args([
            "-U",
            if url.username().is_empty() {
                "postgres"
            } else {
                url.username()
            },
        ])
        .args(["-n", "-c", &load.concurrency.to_string()])
        .args(["-j", &load.concurrency.min(2).to_string()])
        .args(["-T", &seconds.to_string(), "-f"])
        .arg(&script)
        .arg(database)
        .env("PGPASSWORD", url.password().unwrap_or_default())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pgbench (apt install postgresql-contrib or postgresql-client)");
    // The server's CPU over the measured part of the run, ending before pgbench's connections
    // close and take their backends' time with them.
    tokio::time::sleep(load.warmup).await;
    let before = (cpu_time_of_all("postgres"), cpu_time_of_all("pgbench"));
    let window = load.measure.saturating_sub(Duration::from_millis(200));
    tokio::time::sleep(window).await;
    let server_cpu = cpu_time_of_all("postgres").saturating_sub(before.0);
    let client_cpu = cpu_time_of_all("pgbench").saturating_sub(before.1);
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("wait for pgbench")
        .expect("pgbench's output");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rate: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("pgbench printed its tps");
    let per_insert =
        |cpu: Duration| Some(cpu.as_secs_f64() * 1e6 / (rate * window.as_secs_f64()).max(1.0));
    Ceiling {
        rate,
        postgres_us: per_insert(server_cpu),
        client_us: per_insert(client_cpu),
    }
}

/// The SQLite counterpart: `concurrency` tasks inserting one order-sized row per transaction
/// through one writer connection (as the gateway writes), WAL mode with synchronous=FULL.
pub async fn sqlite_inserts(file: &Path, order_json: &str, load: Load) -> Ceiling {
    let options = SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open the SQLite ceiling database");
    pool.execute(
        "CREATE TABLE bench_insert (id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL)",
    )
    .await
    .expect("create the insert table");
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let inserted = Arc::new(AtomicU64::new(0));
    let body: Arc<str> = Arc::from(order_json);
    let mut tasks = Vec::new();
    for _ in 0..load.concurrency {
        let (pool, body) = (pool.clone(), body.clone());
        let (measuring, stop, inserted) = (measuring.clone(), stop.clone(), inserted.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                sqlx::query("INSERT INTO bench_insert (id, body, created_at) VALUES ($1, $2, $3)")
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(&*body)
                    .bind(chrono::Utc::now().to_rfc3339())
                    .execute(&pool)
                    .await
                    .expect("insert");
                if measuring.load(Ordering::Relaxed) {
                    inserted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(load.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(load.measure).await;
    let count = inserted.load(Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("insert task");
    }
    pool.close().await;
    Ceiling {
        rate: count as f64 / seconds,
        postgres_us: None,
        client_us: None,
    }
}
