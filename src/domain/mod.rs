//! Unified models and the order state machine. No I/O lives here.

pub mod order;
pub mod result;
pub mod unified;

pub use order::{OrderStatus, TransitionError};
pub use result::{format_score, VendorOutcome};
pub use unified::*;

/// Timestamps are kept to the microsecond, the precision both databases store, so that a value
/// read back equals the value written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

/// RFC 3339 with milliseconds and `Z`, the form StackOne's SDK writes and accepts.
pub fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
