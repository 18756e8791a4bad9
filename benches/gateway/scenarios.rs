//! The measured scenarios, each against a gateway started on a fresh database.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::{
    loadgen::{self, Load, MakeRequest, Stats},
    process::{cpu_time_of_all, own_cpu_time, Measured, Tenant},
    results_path::{delays_us, in_progress_callback, FakeInterviewMocha, Receiver},
    Database,
};

/// A realistic StackOne order body (the shape of StackOne's own example), with `{n}` standing
/// for the request's number: a unique `id` and candidate email per order.
pub fn order_template(package: &str, results_update_url: &str) -> (String, String) {
    let body = json!({
        "id": "__N__",
        "package": {"id": package, "remote_id": package, "name": "Coding test",
                    "description": "Skills test to gauge a candidate's proficiency in job-specific skills"},
        "application": {"id": "app-__N__", "remote_id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3",
                        "application_status": {"value": "assessment", "source_value": "Assessment"},
                        "passthrough": {"source": "bench"}},
        "job": {"id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3", "remote_id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3",
                "title": "Software Engineer",
                "hiring_team": [{"user_id": "123456", "remote_user_id": "e3cb75bf-aa84-466e-a6c1-b8322b257a48",
                                 "first_name": "John", "last_name": "Doe", "email": "john.doe@example.com", "role": "Recruiter"}]},
        "candidate": {"id": "cand-__N__", "remote_id": "cand-__N__", "first_name": "Ada", "last_name": "Lovelace",
                      "emails": [{"type": "personal", "value": "candidate-__N__@bench.example.com"}],
                      "profile_url": "https://ats.example.com/candidates/__N__"},
        "requester": {"user_id": "123456", "remote_user_id": "e3cb75bf-aa84-466e-a6c1-b8322b257a48",
                      "first_name": "John", "last_name": "Doe", "email": "john.doe@example.com", "role": "Recruiter"},
        "results_update_url": results_update_url,
        "passthrough": {"campaign": "bench"}
    })
    .to_string();
    let sample = body.replace("__N__", "0");
    (body, sample)
}

/// `POST /unified/ats/assessments/orders` with order number `run_id`-`n`.
pub fn place_orders(
    gateway: &Measured,
    tenant: &Tenant,
    template: &str,
    run_id: &str,
) -> MakeRequest {
    let url = format!("{}/unified/ats/assessments/orders", gateway.url);
    let (tenant, template, run_id) = (tenant.clone(), template.to_string(), run_id.to_string());
    Arc::new(move |client, n| {
        tenant
            .post(client, url.clone())
            .header("content-type", "application/json")
            .body(template.replace("__N__", &format!("{run_id}-{n}")))
    })
}

pub struct OrderLevel {
    pub load: Load,
    pub stats: Stats,
    pub peak_rss_mib: f64,
    pub cpu: CpuPerOrder,
}

/// CPU time per answered order during the measured window, microseconds: what an order costs,
/// whatever else the shared machine is doing. On SQLite the database works inside the gateway.
pub struct CpuPerOrder {
    pub gateway_us: f64,
    /// The Postgres server (all its processes), when the database is Postgres.
    pub postgres_us: Option<f64>,
    /// This benchmark's own process: the load generator sending the orders and reading answers.
    pub load_generator_us: f64,
}

/// CPU time used in a measured window: the gateway's, the Postgres server's (when on Postgres)
/// and this process's.
struct CpuUse {
    gateway: Duration,
    postgres: Option<Duration>,
    load_generator: Duration,
}

impl CpuUse {
    /// The CPU `gateway`, the Postgres server and this process use in `load`'s measured window
    /// (it starts after the warm-up, as the load generator's does).
    async fn in_window(load: Load, gateway: &Measured, postgres: bool) -> Self {
        let sample = || Self {
            gateway: gateway.cpu_time(),
            postgres: postgres.then(|| cpu_time_of_all("postgres")),
            load_generator: own_cpu_time(),
        };
        tokio::time::sleep(load.warmup).await;
        let before = sample();
        tokio::time::sleep(load.measure).await;
        let after = sample();
        Self {
            gateway: after.gateway.saturating_sub(before.gateway),
            postgres: after
                .postgres
                .zip(before.postgres)
                .map(|(a, b)| a.saturating_sub(b)),
            load_generator: after.load_generator.saturating_sub(before.load_generator),
        }
    }

    fn per_order(&self, orders: u64) -> CpuPerOrder {
        let us = |cpu: Duration| cpu.as_secs_f64() * 1e6 / orders.max(1) as f64;
        CpuPerOrder {
            gateway_us: us(self.gateway),
            postgres_us: self.postgres.map(us),
            load_generator_us: us(self.load_generator),
        }
    }
}

pub struct Idle {
    pub seconds: f64,
    pub cpu_percent: f64,
    /// Statements per second an idle gateway sends to the database.
    pub statements_per_s: f64,
}

/// The order path on the sandbox, which answers at once and completes nothing.
pub async fn order_path(
    db: &Database,
    loads: &[Load],
    paced: Option<Load>,
    receiver: &Receiver,
    logs: &Path,
) -> (Vec<OrderLevel>, Option<OrderLevel>, Idle) {
    let url = db.fresh("orders").await;
    let gateway =
        Measured::gateway(&url, true, &logs.join(format!("{}-orders.log", db.name()))).await;
    let tenant = gateway.tenant("sandbox", json!({}), json!({})).await;
    let (template, _) = order_template("sandbox-coding", &receiver.url);
    let mut levels = Vec::new();
    for (i, load) in loads.iter().chain(&paced).enumerate() {
        gateway.reset_peak_rss();
        let (stats, cpu) = tokio::join!(
            loadgen::run(
                *load,
                place_orders(&gateway, &tenant, &template, &format!("c{i}")),
            ),
            CpuUse::in_window(*load, &gateway, matches!(db, Database::Postgres { .. })),
        );
        levels.push(OrderLevel {
            load: *load,
            cpu: cpu.per_order(stats.ok),
            stats,
            peak_rss_mib: gateway.peak_rss_mib(),
        });
    }
    let paced = paced.and_then(|_| levels.pop());
    let idle_log = logs.join(format!("{}-idle-statements.log", db.name()));
    let idle = idle(&gateway, &url, Duration::from_secs(10), &idle_log).await;
    gateway.stop();
    (levels, paced, idle)
}

/// Idle cost: the CPU the loaded gateway uses once traffic stops, and the statements a gateway
/// with nothing to do sends to the database (counted from its own statement log, so exactly).
async fn idle(gateway: &Measured, url: &str, window: Duration, log: &Path) -> Idle {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_before = gateway.cpu_time();
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = (gateway.cpu_time() - cpu_before).as_secs_f64();

    let logging = Measured::gateway_logging(url, true, log, "warn,sqlx::query=debug").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let statements = || {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"summary\""))
            .count()
    };
    let before = statements();
    let counted = Instant::now();
    tokio::time::sleep(window).await;
    let statements_per_s = (statements() - before) as f64 / counted.elapsed().as_secs_f64();
    logging.stop();
    Idle {
        seconds,
        cpu_percent: 100.0 * cpu / seconds,
        statements_per_s,
    }
}

pub struct Deliveries {
    pub backlog: usize,
    pub completions_per_s: f64,
    pub drained_per_s: f64,
    pub drain_seconds: f64,
    pub drained: u64,
    pub flow_orders: usize,
    pub flow_completions_per_s: f64,
    pub flow_delays_us: Vec<u32>,
    pub flow_received: u64,
    /// The same number of completions offered at a steady rate while the worker delivers.
    pub paced_flow: Option<PacedFlow>,
    pub peak_rss_mib: f64,
}

/// Completions offered at a steady rate (open loop), and each delivery's delay from its state
/// change to its arrival.
pub struct PacedFlow {
    pub rate: f64,
    pub completions: Stats,
    pub delays_us: Vec<u32>,
    pub received: u64,
}

/// Places and completes `count` sandbox orders (concurrency `concurrency`); returns the
/// completions per second.
async fn place_and_complete(
    gateway: &Measured,
    tenant: &Tenant,
    template: &str,
    run_id: &str,
    count: usize,
    concurrency: usize,
) -> f64 {
    let submit = place_to_complete(gateway, tenant, template, run_id, count, concurrency).await;
    let (_, took) = loadgen::each(count, concurrency, submit).await;
    count as f64 / took.as_secs_f64()
}

/// Places `count` sandbox orders (concurrency `concurrency`); returns the request that completes
/// order `n` (its candidate submitting a score of 80).
async fn place_to_complete(
    gateway: &Measured,
    tenant: &Tenant,
    template: &str,
    run_id: &str,
    count: usize,
    concurrency: usize,
) -> MakeRequest {
    let (answers, _) = loadgen::each(
        count,
        concurrency,
        place_orders(gateway, tenant, template, run_id),
    )
    .await;
    let submits: Arc<Vec<String>> = Arc::new(
        answers
            .iter()
            .map(|a| {
                format!(
                    "{}/submit",
                    a["test_url"].as_str().expect("a sandbox test_url")
                )
            })
            .collect(),
    );
    Arc::new(move |client, n| {
        client
            .post(&submits[n as usize % submits.len()])
            .form(&[("score", "80")])
    })
}

/// Places `count` orders, then completes them at `rate` a second (open loop, 64 connections)
/// while the worker delivers; waits for their deliveries.
async fn paced_flow(
    gateway: &Measured,
    tenant: &Tenant,
    template: &str,
    receiver: &Receiver,
    count: usize,
    rate: f64,
) -> PacedFlow {
    let submit = place_to_complete(gateway, tenant, template, "paced", count, 64).await;
    receiver.take();
    let load = Load {
        concurrency: 64,
        warmup: Duration::ZERO,
        measure: Duration::from_secs_f64(count as f64 / rate),
        rate: Some(rate),
    };
    let completions = loadgen::run(load, submit).await;
    // Completions answered after the window closed are not in `completions`, but were made.
    let received = receiver
        .wait_for(count as u64, Duration::from_secs(60))
        .await;
    PacedFlow {
        rate,
        completions,
        delays_us: delays_us(&receiver.take()),
        received,
    }
}

/// Deliveries: (1) a backlog of `backlog` completed orders, made while no worker runs, drained by
/// a fresh gateway; (2) `flow` orders completed flat out while the worker runs, each delivery's
/// delay from the state change (the body's `timestamp`) to its arrival at the receiver; (3) when
/// `rate` is set, `flow` more orders completed at that steady rate, with the same delays.
pub async fn deliveries(
    db: &Database,
    backlog: usize,
    flow: usize,
    rate: Option<f64>,
    concurrency: usize,
    receiver: &Receiver,
    logs: &Path,
) -> Deliveries {
    let url = db.fresh("deliveries").await;
    let log = |phase: &str| logs.join(format!("{}-deliveries-{phase}.log", db.name()));
    let (template, _) = order_template("sandbox-coding", &receiver.url);

    let without_workers = Measured::gateway(&url, false, &log("backlog")).await;
    let tenant = without_workers
        .tenant("sandbox", json!({}), json!({}))
        .await;
    receiver.take();
    let completions_per_s = place_and_complete(
        &without_workers,
        &tenant,
        &template,
        "backlog",
        backlog,
        concurrency,
    )
    .await;
    without_workers.stop();

    let started = Instant::now();
    let gateway = Measured::gateway(&url, true, &log("drain")).await;
    gateway.reset_peak_rss();
    let drained = receiver
        .wait_for(backlog as u64, Duration::from_secs(120))
        .await;
    let arrivals = receiver.take();
    let last = arrivals.iter().map(|a| a.received).max().unwrap_or(started);
    let drain_seconds = (last - started).as_secs_f64();

    let flow_completions_per_s =
        place_and_complete(&gateway, &tenant, &template, "flow", flow, concurrency).await;
    let flow_received = receiver
        .wait_for(flow as u64, Duration::from_secs(60))
        .await;
    let flow_delays_us = delays_us(&receiver.take());
    let paced_flow = match rate {
        Some(rate) => Some(paced_flow(&gateway, &tenant, &template, receiver, flow, rate).await),
        None => None,
    };
    let peak_rss_mib = gateway.peak_rss_mib();
    gateway.stop();
    Deliveries {
        backlog,
        completions_per_s,
        drained_per_s: drained as f64 / drain_seconds,
        drain_seconds,
        drained,
        flow_orders: flow,
        flow_completions_per_s,
        flow_delays_us,
        flow_received,
        paced_flow,
        peak_rss_mib,
    }
}

pub struct Callbacks {
    pub orders: usize,
    /// Flat out (closed loop).
    pub stats: Stats,
    /// At a steady offered rate (open loop).
    pub paced: Option<(Load, Stats)>,
    /// The same steady rate accepted by an API-only gateway (`RUN_WORKERS=false`): the callback
    /// path without the re-reads it triggers, as when the workers run on another machine.
    pub api_only: Option<(Load, Stats)>,
    /// The vendor's report reads per second (the gateway's re-reads) during the flat-out run and
    /// during the steady one.
    pub rereads_per_s: (f64, Option<f64>),
    pub peak_rss_mib: f64,
}

/// Vendor callbacks: `orders` InterviewMocha orders, then the documented "In Progress" callback
/// posted to their callback URLs over and over under `load`, then under `paced`; then `paced`
/// again against an API-only gateway on the same database.
pub async fn callbacks(
    db: &Database,
    orders: usize,
    load: Load,
    paced: Option<Load>,
    receiver: &Receiver,
    logs: &Path,
) -> Callbacks {
    let url = db.fresh("callbacks").await;
    let vendor = FakeInterviewMocha::start().await;
    let gateway = Measured::gateway(
        &url,
        true,
        &logs.join(format!("{}-callbacks.log", db.name())),
    )
    .await;
    let tenant = gateway
        .tenant(
            "interviewmocha",
            json!({"api_key": "bench-imocha-key"}),
            json!({"base_url": vendor.url}),
        )
        .await;
    let (template, _) = order_template("1001", &receiver.url);
    loadgen::each(orders, 16, place_orders(&gateway, &tenant, &template, "cb")).await;
    let invitations: Arc<Vec<(u64, Vec<u8>, String)>> = Arc::new(
        vendor
            .invitations()
            .into_iter()
            .map(|(id, url)| (id, in_progress_callback(id), url))
            .collect(),
    );
    assert_eq!(invitations.len(), orders, "every order invited once");
    gateway.reset_peak_rss();
    // The callback URLs name the gateway that placed the orders; `to` is the one to send them to.
    let placed_by = gateway.url.clone();
    let post_callbacks = |to: &Measured| -> MakeRequest {
        let (invitations, from, to) = (invitations.clone(), placed_by.clone(), to.url.clone());
        Arc::new(move |client, n| {
            let (_, body, url) = &invitations[n as usize % invitations.len()];
            client
                .post(url.replacen(&from, &to, 1))
                .header("content-type", "application/json")
                .body(body.clone())
        })
    };
    let rereads_per_s = |started: Instant, reads_before: u64| {
        (vendor.reads() - reads_before) as f64 / started.elapsed().as_secs_f64()
    };
    let (started, reads_before) = (Instant::now(), vendor.reads());
    let stats = loadgen::run(load, post_callbacks(&gateway)).await;
    let flat_out_rereads = rereads_per_s(started, reads_before);
    let (paced_stats, paced_rereads) = match paced {
        Some(paced) => {
            let (started, reads_before) = (Instant::now(), vendor.reads());
            let stats = loadgen::run(paced, post_callbacks(&gateway)).await;
            (
                Some((paced, stats)),
                Some(rereads_per_s(started, reads_before)),
            )
        }
        None => (None, None),
    };
    let mut peak_rss_mib = gateway.peak_rss_mib();
    gateway.stop();
    let api_only = match paced {
        Some(paced) => {
            let api = Measured::gateway(
                &url,
                false,
                &logs.join(format!("{}-callbacks-api-only.log", db.name())),
            )
            .await;
            let stats = loadgen::run(paced, post_callbacks(&api)).await;
            peak_rss_mib = peak_rss_mib.max(api.peak_rss_mib());
            api.stop();
            Some((paced, stats))
        }
        None => None,
    };
    receiver.take();
    Callbacks {
        orders,
        stats,
        paced: paced_stats,
        api_only,
        rereads_per_s: (flat_out_rereads, paced_rereads),
        peak_rss_mib,
    }
}
