//! An HTTP load generator: `concurrency` clients, each on its own keep-alive connection.
//! Closed loop (no `rate`): each client sends one request after another, as fast as answers come.
//! Open loop (`rate`): request n is due at start + n / rate whatever the answers do, and its
//! latency counts from when it was due, so a request that waited for a free client is charged the
//! wait (no coordinated omission). Only requests due and finished inside the measured window count.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// How one level of load is run.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub concurrency: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// Requests per second offered (open loop); `None`: closed loop.
    pub rate: Option<f64>,
}

impl Load {
    /// The same clients offering `rate` requests per second.
    pub fn paced(self, rate: f64) -> Self {
        Self {
            rate: Some(rate),
            ..self
        }
    }

    /// "64" or "64 @ 1000/s", for reports.
    pub fn label(&self) -> String {
        match self.rate {
            Some(rate) => format!("{} @ {rate:.0}/s", self.concurrency),
            None => self.concurrency.to_string(),
        }
    }
}

/// What one level of load measured.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub ok: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Latencies of the successful requests, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Open loop: how late the load generator itself woke for requests a free client was
    /// already waiting for (timer granularity and CPU contention on this machine), microseconds,
    /// sorted. Part of `latencies_us`; it says how much of them is not the gateway's.
    pub wake_late_us: Vec<u32>,
    pub first_error: Option<String>,
}

impl Stats {
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile_us(&self.latencies_us, p) / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0
    }
}

/// The `p`-th percentile (0–100) of sorted samples, nearest rank.
pub fn percentile_us(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// Builds request number `seq` (unique across all clients of a run).
pub type MakeRequest = Arc<dyn Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync>;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// Runs the load and returns what the measured window saw.
pub async fn run(load: Load, make: MakeRequest) -> Stats {
    let seq = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let window_start = start + load.warmup;
    let window_end = window_start + load.measure;
    let mut workers = Vec::with_capacity(load.concurrency);
    for _ in 0..load.concurrency {
        let (make, seq) = (make.clone(), seq.clone());
        workers.push(tokio::spawn(async move {
            let client = client();
            let mut stats = Stats::default();
            loop {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let mut wake_late = None;
                let sent = match load.rate {
                    Some(rate) => {
                        let due = start + Duration::from_secs_f64(n as f64 / rate);
                        if Instant::now() < due {
                            tokio::time::sleep_until(due.into()).await;
                            wake_late = Some(Instant::now() - due);
                        }
                        due
                    }
                    None => Instant::now(),
                };
                if sent >= window_end {
                    break;
                }
                let outcome = match make(&client, n).send().await {
                    Ok(response) => {
                        let status = response.status();
                        match response.bytes().await {
                            Ok(_) if status.is_success() || status.is_redirection() => Ok(()),
                            Ok(body) => Err(format!(
                                "HTTP {status}: {}",
                                String::from_utf8_lossy(&body[..body.len().min(300)])
                            )),
                            Err(error) => Err(format!("reading the answer: {error}")),
                        }
                    }
                    Err(error) => Err(format!("{error}")),
                };
                let done = Instant::now();
                if sent < window_start || done > window_end {
                    continue;
                }
                match outcome {
                    Ok(()) => {
                        stats.ok += 1;
                        let us = micros(done - sent);
                        stats.latencies_us.push(us);
                        if let Some(late) = wake_late {
                            stats.wake_late_us.push(micros(late));
                        }
                    }
                    Err(error) => {
                        stats.errors += 1;
                        stats.first_error.get_or_insert(error);
                    }
                }
            }
            stats
        }));
    }
    let mut total = Stats {
        seconds: load.measure.as_secs_f64(),
        ..Stats::default()
    };
    for worker in workers {
        let stats = worker.await.expect("load worker");
        total.ok += stats.ok;
        total.errors += stats.errors;
        total.latencies_us.extend(stats.latencies_us);
        total.wake_late_us.extend(stats.wake_late_us);
        if total.first_error.is_none() {
            total.first_error = stats.first_error;
        }
    }
    total.latencies_us.sort_unstable();
    total.wake_late_us.sort_unstable();
    total
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

/// Sends `count` requests, `concurrency` at a time, and returns each one's answer body in order
/// of `seq` (for setting up a scenario; panics on any error, since the scenario would be wrong).
pub async fn each(
    count: usize,
    concurrency: usize,
    make: MakeRequest,
) -> (Vec<serde_json::Value>, Duration) {
    let seq = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (make, seq) = (make.clone(), seq.clone());
        workers.push(tokio::spawn(async move {
            let client = client();
            let mut answers = Vec::new();
            loop {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                if n >= count as u64 {
                    break;
                }
                let response = make(&client, n).send().await.expect("request");
                let status = response.status();
                let body = response.bytes().await.expect("answer");
                assert!(
                    status.is_success() || status.is_redirection(),
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                answers.push((n, value));
            }
            answers
        }));
    }
    let mut all = Vec::with_capacity(count);
    for worker in workers {
        all.extend(worker.await.expect("setup worker"));
    }
    let took = started.elapsed();
    all.sort_by_key(|(n, _)| *n);
    (all.into_iter().map(|(_, v)| v).collect(), took)
}
