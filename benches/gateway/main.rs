//! The gateway's benchmark: `scripts/bench` runs it as `cargo bench --bench gateway`.
//! It starts the release gateway itself on Postgres and on SQLite, drives it over loopback and
//! prints a Markdown report comparing it with ceilings measured in the same run.

mod ceilings;
mod loadgen;
mod process;
mod report;
mod results_path;
mod scenarios;

use std::{path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};
use sqlx::Executor;

#[derive(Parser, Debug)]
#[command(
    about = "Benchmarks the gateway's order path and result path",
    // scripts/bench passes `--output bench/RESULTS.md`; a later `--output` replaces it.
    args_override_self = true
)]
struct Options {
    #[command(subcommand)]
    command: Option<Helper>,
    /// Seconds measured per level of load (after a one-second warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent clients per level.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Which databases to run on.
    #[arg(long, value_delimiter = ',', default_value = "postgres,sqlite")]
    databases: Vec<String>,
    /// A Postgres server the benchmark may create databases on.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Completed orders in the delivery backlog.
    #[arg(long, default_value_t = 5000)]
    deliveries: usize,
    /// Orders whose callbacks are sent over and over.
    #[arg(long, default_value_t = 1000)]
    callback_orders: usize,
    /// Orders per second offered (open loop) at the highest concurrency, for the latency at a
    /// steady rate (0: skip).
    #[arg(long, default_value_t = 1000.0)]
    order_rate: f64,
    /// Completions per second offered (open loop) in a second delivery flow after the flat-out
    /// one, for the delivery delay at a steady rate (0: skip).
    #[arg(long, default_value_t = 1000.0)]
    completion_rate: f64,
    /// Callbacks per second offered (open loop) after the flat-out run (0: skip).
    #[arg(long, default_value_t = 5000.0)]
    callback_rate: f64,
    /// Which result-path scenarios to run besides the order path (none: "").
    #[arg(long, value_delimiter = ',', default_value = "deliveries,callbacks")]
    scenarios: Vec<String>,
    /// Keep the gateways' logs in this directory (default: a scratch directory, removed).
    #[arg(long)]
    logs: Option<PathBuf>,
    /// Also write the report to this file.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Subcommand, Debug)]
enum Helper {
    /// The trivial axum handler the gateway is compared with (run as its own process).
    #[command(hide = true)]
    TrivialServer {
        #[arg(long)]
        listen: String,
    },
}

/// A database server under test.
pub enum Database {
    Postgres { server: String },
    Sqlite { dir: PathBuf },
}

impl Database {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Postgres { .. } => "postgres",
            Self::Sqlite { .. } => "sqlite",
        }
    }

    fn postgres_name(scenario: &str) -> String {
        format!("agw_bench_{scenario}")
    }

    /// A new, empty database for one scenario; returns its URL.
    pub async fn fresh(&self, scenario: &str) -> String {
        match self {
            Self::Postgres { server } => {
                let name = Self::postgres_name(scenario);
                let admin = sqlx::PgPool::connect(server)
                    .await
                    .expect("connect to Postgres");
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .expect("drop the old bench database");
                admin
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create the bench database");
                admin.close().await;
                let mut url = url::Url::parse(server).expect("postgres URL");
                url.set_path(&name);
                url.to_string()
            }
            Self::Sqlite { dir } => {
                let file = dir.join(format!("{scenario}.db"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
                format!("sqlite://{}", file.display())
            }
        }
    }

    pub async fn drop_all(&self) {
        if let Self::Postgres { server } = self {
            if let Ok(admin) = sqlx::PgPool::connect(server).await {
                for scenario in ["orders", "deliveries", "callbacks", "ceiling"] {
                    let name = Self::postgres_name(scenario);
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            }
        }
    }
}

fn main() {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match options.command {
        Some(Helper::TrivialServer { ref listen }) => {
            runtime.block_on(ceilings::serve_trivial(listen))
        }
        None => {
            let text = runtime.block_on(run(&options));
            println!("{text}");
            if let Some(path) = &options.output {
                std::fs::write(path, &text).expect("write the report");
                eprintln!("report written to {}", path.display());
            }
        }
    }
}

async fn run(options: &Options) -> String {
    let started = std::time::Instant::now();
    let work = tempfile::tempdir().expect("a scratch directory");
    let logs = options.logs.as_deref().unwrap_or(work.path());
    std::fs::create_dir_all(logs).expect("the log directory");
    let loads: Vec<loadgen::Load> = options
        .concurrency
        .iter()
        .map(|&concurrency| loadgen::Load {
            concurrency,
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(options.seconds),
            rate: None,
        })
        .collect();
    let heaviest = *loads
        .iter()
        .max_by_key(|l| l.concurrency)
        .expect("at least one concurrency");
    let at_rate = |rate: f64| (rate > 0.0).then(|| heaviest.paced(rate));
    let receiver = results_path::Receiver::start().await;
    let (_, order_sample) = scenarios::order_template("sandbox-coding", &receiver.url);

    eprintln!("trivial axum handler…");
    let trivial = process::Measured::trivial_server().await;
    let mut trivial_rates = Vec::new();
    for load in &loads {
        let url = format!("{}/unified/ats/assessments/orders", trivial.url);
        let (template, _) = scenarios::order_template("sandbox-coding", &receiver.url);
        let stats = loadgen::run(
            *load,
            std::sync::Arc::new(move |client, n| {
                client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(template.replace("__N__", &n.to_string()))
            }),
        )
        .await;
        trivial_rates.push(stats.rate());
    }
    trivial.stop();

    let mut sections = Vec::new();
    for name in &options.databases {
        let db = match name.as_str() {
            "postgres" => Database::Postgres {
                server: options.postgres_url.clone(),
            },
            "sqlite" => Database::Sqlite {
                dir: work.path().to_path_buf(),
            },
            other => panic!("unknown database '{other}': expected postgres or sqlite"),
        };
        eprintln!("{}: insert ceiling…", db.name());
        let mut ceilings = Vec::new();
        for load in &loads {
            ceilings.push(match &db {
                Database::Postgres { server } => {
                    ceilings::pgbench(
                        server,
                        &Database::postgres_name("ceiling"),
                        &order_sample,
                        *load,
                        logs,
                    )
                    .await
                }
                Database::Sqlite { dir } => {
                    let file = dir.join(format!("ceiling-{}.db", load.concurrency));
                    ceilings::sqlite_inserts(&file, &order_sample, *load).await
                }
            });
        }
        eprintln!("{}: order path…", db.name());
        let (levels, paced, idle) =
            scenarios::order_path(&db, &loads, at_rate(options.order_rate), &receiver, logs).await;
        let wanted = |name: &str| options.scenarios.iter().any(|s| s == name);
        let deliveries = if wanted("deliveries") {
            eprintln!("{}: deliveries…", db.name());
            let (backlog, flow) = (options.deliveries, options.deliveries / 2);
            let rate = (options.completion_rate > 0.0).then_some(options.completion_rate);
            Some(scenarios::deliveries(&db, backlog, flow, rate, 64, &receiver, logs).await)
        } else {
            None
        };
        let callbacks = if wanted("callbacks") {
            eprintln!("{}: callbacks…", db.name());
            let orders = options.callback_orders;
            let paced = at_rate(options.callback_rate);
            Some(scenarios::callbacks(&db, orders, heaviest, paced, &receiver, logs).await)
        } else {
            None
        };
        db.drop_all().await;
        sections.push(report::Section {
            database: db.name(),
            levels,
            paced,
            ceilings,
            trivial: trivial_rates.clone(),
            idle,
            deliveries,
            callbacks,
        });
    }
    report::render(&sections, started.elapsed())
}
