//! The result path: deliveries to a local ATS receiver that answers 200, and vendor callbacks
//! from a local InterviewMocha that follows its documented wire format.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime},
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: SystemTime,
    pub received: Instant,
    /// The delivery body's `timestamp`: when the gateway recorded the state change.
    pub changed_at: Option<SystemTime>,
}

/// A local ATS endpoint answering 200 to every delivery.
#[derive(Clone, Default)]
pub struct Receiver {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    count: Arc<AtomicU64>,
    pub url: String,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let receiver = Self {
            url: format!(
                "http://{}/ats/results",
                listener.local_addr().expect("addr")
            ),
            ..Self::default()
        };
        let app = Router::new()
            .route("/ats/results", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn take(&self) -> Vec<Arrival> {
        self.count.store(0, Ordering::Relaxed);
        std::mem::take(&mut *self.arrivals.lock().expect("arrivals"))
    }

    /// Waits until `n` deliveries arrived (or `timeout` passed); returns how many did.
    pub async fn wait_for(&self, n: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        while self.count() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.count()
    }
}

async fn receive(State(receiver): State<Receiver>, body: Bytes) -> StatusCode {
    let at = SystemTime::now();
    let received = Instant::now();
    let changed_at = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["timestamp"].as_str().map(str::to_string))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(SystemTime::from);
    receiver.arrivals.lock().expect("arrivals").push(Arrival {
        at,
        received,
        changed_at,
    });
    receiver.count.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

/// Delay from each state change to its arrival, microseconds, sorted.
pub fn delays_us(arrivals: &[Arrival]) -> Vec<u32> {
    let mut delays: Vec<u32> = arrivals
        .iter()
        .filter_map(|a| {
            let changed = a.changed_at?;
            Some(
                a.at.duration_since(changed)
                    .unwrap_or_default()
                    .as_micros()
                    .min(u32::MAX as u128) as u32,
            )
        })
        .collect();
    delays.sort_unstable();
    delays
}

/// A local InterviewMocha: invites (remembering each invitation's `callbackUrl`) and reports
/// every invitation as "In Progress", the state of its first documented callback.
#[derive(Clone, Default)]
pub struct FakeInterviewMocha {
    invitations: Arc<Mutex<Vec<(u64, String)>>>,
    next: Arc<AtomicU64>,
    /// Reports read so far: the gateway's re-reads.
    reads: Arc<AtomicU64>,
    pub url: String,
}

impl FakeInterviewMocha {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the vendor fake");
        let vendor = Self {
            url: format!("http://{}", listener.local_addr().expect("addr")),
            next: Arc::new(AtomicU64::new(330_000)),
            ..Self::default()
        };
        let app = Router::new()
            .route("/v3/tests/{test}/invite", post(invite))
            .route("/v3/reports/{id}", get(report))
            .with_state(vendor.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        vendor
    }

    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// (testInvitationId, callbackUrl) of every invitation made so far.
    pub fn invitations(&self) -> Vec<(u64, String)> {
        self.invitations.lock().expect("invitations").clone()
    }
}

async fn invite(
    State(vendor): State<FakeInterviewMocha>,
    Path(_test): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let callback = body
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("callbackUrl"))
        })
        .and_then(|(_, v)| v.as_str())
        .map(str::to_string);
    let Some(callback) = callback else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "callbackUrl is required"})),
        );
    };
    let id = vendor.next.fetch_add(1, Ordering::Relaxed);
    vendor
        .invitations
        .lock()
        .expect("invitations")
        .push((id, callback));
    (
        StatusCode::OK,
        Json(
            json!({"testInvitationId": id, "testUrl": format!("https://tests.imocha.io/invite/{id}"),
                    "callbackUrlRegistered": true, "redirectUrlRegistered": false}),
        ),
    )
}

async fn report(State(vendor): State<FakeInterviewMocha>, Path(id): Path<u64>) -> Json<Value> {
    vendor.reads.fetch_add(1, Ordering::Relaxed);
    Json(
        json!({"testInvitationId": id, "testId": "1001", "testName": "Java Developer",
                "candidateEmail": "jane@example.com", "attemptedOn": "2026-11-23T09:00:00Z",
                "status": "In Progress", "score": 0, "scorePercentage": 0, "candidatePoints": 0,
                "totalTestPoints": 115, "sections": []}),
    )
}

/// The body iMocha posts when a test goes "In Progress" (documented, PascalCase).
pub fn in_progress_callback(invitation: u64) -> Vec<u8> {
    json!({"CandidateEmailId": "jane@example.com", "AttemptedOn": "23-Nov-2026 09:00 AM",
           "TotalScore": 0, "CandidateScore": 0, "ReportPDFUrl": null,
           "TestInvitationId": invitation, "Status": "In Progress",
           "AttemptedOnUtc": "2026-11-23T09:00:00", "PerformanceCategory": null})
    .to_string()
    .into_bytes()
}
