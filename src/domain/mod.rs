//! Unified models and the order state machine. No I/O lives here.

pub mod erasure;
pub mod limits;
pub mod order;
pub mod patterns;
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
/// `at` plus `delay`, saturating at a century: no stored duration (a setting, a vendor's wait)
/// can overflow date arithmetic or write a time the databases cannot hold.
pub fn later(
    at: chrono::DateTime<chrono::Utc>,
    delay: std::time::Duration,
) -> chrono::DateTime<chrono::Utc> {
    const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
    let delay = chrono::Duration::from_std(delay.min(CENTURY)).unwrap_or_default();
    at.checked_add_signed(delay).unwrap_or(at)
}

/// `at` minus `delay`, saturating like `later`.
pub fn earlier(
    at: chrono::DateTime<chrono::Utc>,
    delay: std::time::Duration,
) -> chrono::DateTime<chrono::Utc> {
    const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
    let delay = chrono::Duration::from_std(delay.min(CENTURY)).unwrap_or_default();
    at.checked_sub_signed(delay).unwrap_or(at)
}

pub fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn date_arithmetic_saturates_at_a_century() {
        let at = now();
        let far = later(at, Duration::from_secs(u64::MAX));
        assert_eq!((far - at).num_days(), 100 * 365);
        assert_eq!(
            later(at, Duration::from_secs(60)) - at,
            chrono::Duration::seconds(60)
        );
        assert_eq!((at - earlier(at, Duration::MAX)).num_days(), 100 * 365);
    }
}
