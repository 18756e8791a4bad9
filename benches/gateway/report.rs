//! The Markdown report: the machine, each scenario's figures, their ratios to the ceilings, and
//! each target marked met or not met.

use std::{fmt::Write, process::Command, time::Duration};

use crate::{
    ceilings::Ceiling,
    loadgen::{percentile_us, Load, Stats},
    scenarios::{Callbacks, Deliveries, Idle, OrderLevel},
};

pub struct Section {
    pub database: &'static str,
    /// Closed loop, one per concurrency.
    pub levels: Vec<OrderLevel>,
    /// Open loop at a steady offered rate.
    pub paced: Option<OrderLevel>,
    /// The database's single-row inserts, per level.
    pub ceilings: Vec<Ceiling>,
    /// The trivial handler's requests per second, per level.
    pub trivial: Vec<f64>,
    pub idle: Idle,
    pub deliveries: Option<Deliveries>,
    pub callbacks: Option<Callbacks>,
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or("unknown".into(), |kb| {
            format!("{:.1} GiB", kb / 1024.0 / 1024.0)
        });
    format!(
        "- Date: {}\n- CPU: {} × {model}\n- Memory: {memory}\n- Kernel: {}\n- {}\n- pgbench: {}\n- SQLite (linked by sqlx): {}\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        command_line("uname", &["-sr"]),
        command_line("rustc", &["--version"]),
        command_line("pgbench", &["--version"]),
        sqlite_version(),
    )
}

fn sqlite_version() -> String {
    // The version compiled into libsqlite3-sys, which is what the gateway runs.
    let runtime = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        runtime.block_on(async {
            let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.ok()?;
            sqlx::query_scalar::<_, String>("SELECT sqlite_version()")
                .fetch_one(&pool)
                .await
                .ok()
        })
    })
    .unwrap_or_else(|| "unknown".into())
}

/// How late the load generator woke for due requests: the part of an open-loop latency that is
/// the benchmark's own timer and CPU share, not the gateway's.
fn wake_lateness(stats: &Stats) -> String {
    let late = &stats.wake_late_us;
    format!(
        "the load generator itself woke late by p50 {:.2} ms, p99 {:.2} ms ({} of the requests it waited for)",
        percentile_us(late, 50.0) / 1000.0,
        percentile_us(late, 99.0) / 1000.0,
        late.len()
    )
}

fn mark(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**NOT met**"
    }
}

/// An open-loop run: what was offered, whether the gateway kept up, the latency.
struct SteadyRate {
    offered: String,
    offered_rate: f64,
    achieved: f64,
    kept_up: bool,
    errors: u64,
    p99: f64,
}

impl SteadyRate {
    fn of(load: &Load, stats: &Stats) -> Self {
        let offered_rate = load.rate.unwrap_or(0.0);
        Self {
            offered: format!("{offered_rate:.0}/s offered"),
            offered_rate,
            achieved: stats.rate(),
            // Every request due in the window was answered in it, within 2 %.
            kept_up: stats.errors == 0 && stats.rate() >= 0.98 * offered_rate,
            errors: stats.errors,
            p99: stats.percentile_ms(99.0),
        }
    }

    fn describe(&self) -> String {
        format!(
            "at {}: {:.0}/s answered, {} errors, p99 {:.1} ms",
            self.offered, self.achieved, self.errors, self.p99
        )
    }
}

struct Target {
    what: String,
    measured: String,
    met: bool,
}

fn targets(sections: &[Section]) -> Vec<Target> {
    let mut targets = Vec::new();
    let mut peak_rss: f64 = 0.0;
    for s in sections {
        let heaviest = s
            .levels
            .iter()
            .enumerate()
            .max_by_key(|(_, l)| l.load.concurrency);
        if let Some((i, top)) = heaviest {
            let (rate, p99, errors) = (
                top.stats.rate(),
                top.stats.percentile_ms(99.0),
                top.stats.errors,
            );
            let steady = s.paced.as_ref().map(|p| SteadyRate::of(&p.load, &p.stats));
            if s.database == "postgres" {
                let ratio = rate / s.ceilings[i].rate;
                targets.push(Target {
                    what: format!("Postgres order path at {} clients: ≥ 40 % of pgbench's insert rate, p99 ≤ 25 ms, 0 errors", top.load.concurrency),
                    measured: format!(
                        "{:.0} orders/s = {:.0} % of {:.0} inserts/s; p99 {p99:.1} ms; {errors} errors{}",
                        rate,
                        ratio * 100.0,
                        s.ceilings[i].rate,
                        steady.as_ref().map(|s| format!(" (at {}: p99 {:.1} ms)", s.offered, s.p99)).unwrap_or_default()
                    ),
                    met: ratio >= 0.40 && p99 <= 25.0 && errors == 0,
                });
            } else {
                // Read as: carries 1,000 orders/s, and orders sent at 1,000/s are answered
                // within 25 ms (p99). Flat out, 64 waiting clients make p99 ≥ 64 / rate.
                targets.push(Target {
                    what: format!(
                        "SQLite order path: ≥ 1,000 orders/s ({} clients flat out); p99 ≤ 25 ms at 1,000 orders/s offered",
                        top.load.concurrency
                    ),
                    measured: format!(
                        "{rate:.0} orders/s, {errors} errors (p99 {p99:.1} ms flat out); {}",
                        steady.as_ref().map_or("no steady-rate run".into(), SteadyRate::describe)
                    ),
                    met: rate >= 1000.0
                        && errors == 0
                        && steady.is_some_and(|s| s.kept_up && s.offered_rate >= 1000.0 && s.p99 <= 25.0),
                });
            }
        }
        if let Some(single) = s.levels.iter().find(|l| l.load.concurrency == 1) {
            let p50 = single.stats.percentile_ms(50.0);
            targets.push(Target {
                what: format!("{}: p50 ≤ 2 ms per order at concurrency 1", s.database),
                measured: format!("p50 {p50:.2} ms"),
                met: p50 <= 2.0,
            });
        }
        if let Some(d) = &s.deliveries {
            // Read like the other rate-and-p99 targets: the rate flat out (the backlog's drain),
            // the p99 with completions offered at that steady rate. Completions offered faster
            // than one receiver is delivered to only queue up, so the flat-out flow's delay grows
            // with its length; it is printed beside.
            let flow_p99 = percentile_us(&d.flow_delays_us, 99.0) / 1000.0;
            let flat_out = format!(
                "flat out ({:.0} completions/s): p99 {flow_p99:.0} ms",
                d.flow_completions_per_s
            );
            let (measured, paced_met) = match &d.paced_flow {
                Some(p) => {
                    let p99 = percentile_us(&p.delays_us, 99.0) / 1000.0;
                    (
                        format!(
                            "{:.0} deliveries/s; at {:.0} completions/s offered: p99 {p99:.0} ms, {} of {} delivered ({flat_out})",
                            d.drained_per_s, p.rate, p.received, d.flow_orders
                        ),
                        p99 <= 1000.0
                            && p.received == d.flow_orders as u64
                            && p.completions.errors == 0,
                    )
                }
                None => (
                    format!("{:.0} deliveries/s; {flat_out}", d.drained_per_s),
                    flow_p99 <= 1000.0,
                ),
            };
            targets.push(Target {
                what: format!(
                    "{}: ≥ 1,000 deliveries/s; completion → delivered p99 ≤ 1 s",
                    s.database
                ),
                measured,
                met: d.drained_per_s >= 1000.0
                    && d.drained == d.backlog as u64
                    && d.flow_received == d.flow_orders as u64
                    && paced_met,
            });
        }
        if let Some(callbacks) = &s.callbacks {
            let c = &callbacks.stats;
            let steady = callbacks.paced.as_ref().map(|p| SteadyRate::of(&p.0, &p.1));
            targets.push(Target {
                what: format!(
                    "{}: ≥ 5,000 callbacks/s accepted with 2xx; p99 ≤ 10 ms at 5,000/s offered",
                    s.database
                ),
                measured: format!(
                    "{:.0}/s, {} errors (p99 {:.1} ms flat out); {}",
                    c.rate(),
                    c.errors,
                    c.percentile_ms(99.0),
                    steady
                        .as_ref()
                        .map_or("no steady-rate run".into(), SteadyRate::describe)
                ),
                met: c.rate() >= 5000.0
                    && c.errors == 0
                    && steady
                        .is_some_and(|s| s.kept_up && s.offered_rate >= 5000.0 && s.p99 <= 10.0),
            });
            if let Some(api) = callbacks
                .api_only
                .as_ref()
                .map(|p| SteadyRate::of(&p.0, &p.1))
            {
                targets.push(Target {
                    what: format!(
                        "{}: the same, accepted by an API-only process (`RUN_WORKERS=false`; the re-reads run elsewhere)",
                        s.database
                    ),
                    measured: api.describe(),
                    met: api.kept_up && api.offered_rate >= 5000.0 && api.p99 <= 10.0,
                });
            }
        }
        targets.push(Target {
            what: format!("{}: idle gateway uses no measurable CPU; ≤ 1 database query/s per worker (2 workers)", s.database),
            measured: format!(
                "{:.2} % CPU over {:.0} s; {:.1} statements/s",
                s.idle.cpu_percent, s.idle.seconds, s.idle.statements_per_s
            ),
            met: s.idle.cpu_percent <= 0.5 && s.idle.statements_per_s <= 2.0 + 0.1,
        });
        peak_rss = s
            .levels
            .iter()
            .map(|l| l.peak_rss_mib)
            .chain(s.deliveries.as_ref().map(|d| d.peak_rss_mib))
            .chain(s.callbacks.as_ref().map(|c| c.peak_rss_mib))
            .fold(peak_rss, f64::max);
    }
    targets.push(Target {
        what: "Peak RSS of the gateway in any scenario ≤ 100 MB".into(),
        measured: format!("{peak_rss:.1} MiB"),
        met: peak_rss * 1.048_576 <= 100.0,
    });
    targets
}

/// CPU time per order in each closed-loop level, beside the database's own per insert: where an
/// order's cost goes, in figures that depend less on what else the machine is doing than rates.
fn cpu_table(s: &Section) -> String {
    let us = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
    let mut out = String::from(
        "CPU time per order in the closed-loop rows (user + system over the measured window), µs:\n\n\
         | clients | gateway | Postgres server | load generator | Postgres server per pgbench insert | pgbench per insert |\n\
         |---:|---:|---:|---:|---:|---:|\n",
    );
    for (l, ceiling) in s.levels.iter().zip(&s.ceilings) {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {:.0} | {} | {} |",
            l.load.concurrency,
            l.cpu.gateway_us,
            us(l.cpu.postgres_us),
            l.cpu.load_generator_us,
            us(ceiling.postgres_us),
            us(ceiling.client_us),
        );
    }
    if s.levels.iter().all(|l| l.cpu.postgres_us.is_none()) {
        out.push_str(
            "\nSQLite runs inside the gateway, so its work is part of the gateway's figure.\n",
        );
    }
    out
}

pub fn render(sections: &[Section], took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmark results\n\nProduced by `scripts/bench`. The gateway is the release build, started by the benchmark on a fresh database per scenario, with default settings; the load generator, the ATS receiver and the vendor fake run in the benchmark's own process on the same machine, over loopback.\n\n## Machine\n\n{}", machine());
    let _ = writeln!(out, "## Targets\n\n| Target | Measured | |\n|---|---|---|");
    for t in targets(sections) {
        let _ = writeln!(out, "| {} | {} | {} |", t.what, t.measured, mark(t.met));
    }
    for s in sections {
        let _ = writeln!(
            out,
            "\n## {}\n\n### Order path (sandbox vendor answering at once)\n",
            s.database
        );
        let _ = writeln!(out, "| clients | orders/s | p50 ms | p90 ms | p99 ms | max ms | errors | peak RSS MiB | DB inserts/s | orders / inserts | trivial req/s | orders / trivial |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (i, l) in s.levels.iter().enumerate() {
            let rate = l.stats.rate();
            let _ = writeln!(
                out,
                "| {} | {:.0} | {} | {} | {:.1} | {:.0} | {:.0} % | {:.0} | {:.0} % |",
                l.load.concurrency,
                rate,
                latency_cells(&l.stats),
                l.stats.errors,
                l.peak_rss_mib,
                s.ceilings[i].rate,
                100.0 * rate / s.ceilings[i].rate,
                s.trivial[i],
                100.0 * rate / s.trivial[i],
            );
            if let Some(error) = &l.stats.first_error {
                let _ = writeln!(
                    out,
                    "\nFirst error at {} clients: `{error}`\n",
                    l.load.concurrency
                );
            }
        }
        if let Some(p) = &s.paced {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {} | {} | {:.1} | – | – | – | – |",
                p.load.label(),
                p.stats.rate(),
                latency_cells(&p.stats),
                p.stats.errors,
                p.peak_rss_mib,
            );
            let _ = writeln!(out, "\nThe last row is open loop: orders are sent at a steady {} whatever the answers do, and each latency counts from when its order was due; {}.", p.load.rate.map(|r| format!("{r:.0}/s")).unwrap_or_default(), wake_lateness(&p.stats));
        }
        let _ = writeln!(out, "\n{}", cpu_table(s));
        if let Some(d) = &s.deliveries {
            let delays = &d.flow_delays_us;
            let _ = writeln!(out, "\n### Deliveries to a local receiver answering 200\n");
            let _ = writeln!(out, "- Backlog: {} orders placed and completed with no worker running ({:.0} completions/s), then drained by a freshly started gateway: {} delivered in {:.2} s = **{:.0} deliveries/s** (from process start).", d.backlog, d.completions_per_s, d.drained, d.drain_seconds, d.drained_per_s);
            let _ = writeln!(out, "- Flow: {} orders completed at 64 clients ({:.0} completions/s) while the worker delivers; {} delivered; completion → receiver p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms.", d.flow_orders, d.flow_completions_per_s, d.flow_received, percentile_us(delays, 50.0) / 1000.0, percentile_us(delays, 99.0) / 1000.0, delays.last().copied().unwrap_or(0) as f64 / 1000.0);
            if let Some(p) = &d.paced_flow {
                let delays = &p.delays_us;
                let _ = writeln!(out, "- Steady flow: {} more orders completed at {:.0}/s offered (open loop, 64 connections: {} answered in the window, {} errors) while the worker delivers; {} delivered; completion → receiver p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms.", d.flow_orders, p.rate, p.completions.ok, p.completions.errors, p.received, percentile_us(delays, 50.0) / 1000.0, percentile_us(delays, 99.0) / 1000.0, delays.last().copied().unwrap_or(0) as f64 / 1000.0);
            }
            let _ = writeln!(out, "- Peak RSS: {:.1} MiB.", d.peak_rss_mib);
        }
        if let Some(c) = &s.callbacks {
            let _ = writeln!(out, "\n### InterviewMocha callbacks (the documented \"In Progress\" body, {} open orders)\n", c.orders);
            let _ = writeln!(out, "- {:.0} callbacks/s accepted, {}, {} errors; peak RSS {:.1} MiB; the vendor's reports were re-read {:.0} times a second.", c.stats.rate(), latency_words(&c.stats), c.stats.errors, c.peak_rss_mib, c.rereads_per_s.0);
            if let Some(paced) = &c.paced {
                let _ = writeln!(out, "- At a steady {} offered (open loop, {} connections, latency from when each callback was due): {:.0}/s accepted, {}, {} errors; {:.0} re-reads a second; {}.", paced.0.rate.map(|r| format!("{r:.0}/s")).unwrap_or_default(), paced.0.concurrency, paced.1.rate(), latency_words(&paced.1), paced.1.errors, c.rereads_per_s.1.unwrap_or_default(), wake_lateness(&paced.1));
            }
            if let Some(api) = &c.api_only {
                let _ = writeln!(out, "- The same steady rate against an API-only gateway (`RUN_WORKERS=false`, so no re-reads on this machine): {:.0}/s accepted, {}, {} errors; {}.", api.1.rate(), latency_words(&api.1), api.1.errors, wake_lateness(&api.1));
            }
            for error in c
                .stats
                .first_error
                .iter()
                .chain(c.paced.as_ref().and_then(|p| p.1.first_error.as_ref()))
                .chain(c.api_only.as_ref().and_then(|p| p.1.first_error.as_ref()))
            {
                let _ = writeln!(out, "- First error: `{error}`");
            }
        }
        let _ = writeln!(
            out,
            "\n### Idle\n\n- The loaded gateway, once traffic stopped: {:.2} % CPU over {:.0} s.\n- A gateway with nothing to do sends {:.2} statements/s to the database (its polling and delivery workers; counted from its statement log).",
            s.idle.cpu_percent, s.idle.seconds, s.idle.statements_per_s
        );
    }
    let _ = writeln!(
        out,
        "\nThe run took {:.0} s (without the build).",
        took.as_secs_f64()
    );
    out
}

/// p50, p90, p99 and max as table cells.
fn latency_cells(stats: &Stats) -> String {
    format!(
        "{:.2} | {:.2} | {:.2} | {:.2}",
        stats.percentile_ms(50.0),
        stats.percentile_ms(90.0),
        stats.percentile_ms(99.0),
        stats.max_ms()
    )
}

/// p50, p90, p99 and max in a sentence.
fn latency_words(stats: &Stats) -> String {
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        stats.percentile_ms(50.0),
        stats.percentile_ms(90.0),
        stats.percentile_ms(99.0),
        stats.max_ms()
    )
}
