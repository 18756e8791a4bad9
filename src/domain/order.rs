//! The order state machine (ARCHITECTURE.md, "The order state machine").
//!
//! ```text
//! pending ──▶ invited ──▶ in_progress ──▶ completed
//!    │  ▲        │  │          │  │
//!    ▼  │        │  └──────────┼──┴──▶ cancelled, expired
//! failed ─┘      └─────────────┴─────▶ completed
//! ```
//! `failed` means the vendor refused the invitation; the same idempotency key may try again,
//! which moves the order back to `pending`. A completed order may receive a revised result.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Invited,
    InProgress,
    Completed,
    Failed,
    Cancelled,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        Self::Pending,
        Self::Invited,
        Self::InProgress,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Invited => "invited",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Still waiting for the candidate: worth polling.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Invited | Self::InProgress)
    }

    /// The vendor has accepted the invitation (the order has a test link).
    pub fn is_placed(self) -> bool {
        !matches!(self, Self::Pending | Self::Failed)
    }

    /// Whether `self → next` is allowed. Staying in the same open or completed state is allowed
    /// (a newer reading of the same state, e.g. a revised score).
    pub fn check_transition(self, next: Self) -> Result<(), TransitionError> {
        use OrderStatus::*;
        let allowed = matches!(
            (self, next),
            (Pending, Invited | Failed)
                | (Failed, Pending)
                | (
                    Invited,
                    Invited | InProgress | Completed | Cancelled | Expired
                )
                | (InProgress, InProgress | Completed | Cancelled | Expired)
                | (Completed, Completed)
        );
        if allowed {
            Ok(())
        } else {
            Err(TransitionError {
                from: self,
                to: next,
            })
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(OrderStatus::parse("done"), None);
    }

    #[test]
    fn the_happy_path_is_allowed() {
        for (from, to) in [
            (Pending, Invited),
            (Invited, InProgress),
            (InProgress, Completed),
        ] {
            assert!(from.check_transition(to).is_ok(), "{from} → {to}");
        }
    }

    #[test]
    fn terminal_states_do_not_reopen() {
        for terminal in [Cancelled, Expired, Completed] {
            for next in [Pending, Invited, InProgress, Failed] {
                assert!(
                    terminal.check_transition(next).is_err(),
                    "{terminal} → {next}"
                );
            }
        }
        assert!(Cancelled.check_transition(Completed).is_err());
        assert!(Expired.check_transition(Expired).is_err());
        assert!(
            Completed.check_transition(Completed).is_ok(),
            "a revised result"
        );
    }

    #[test]
    fn failed_orders_can_be_retried_but_not_skip_the_vendor() {
        assert!(Failed.check_transition(Pending).is_ok());
        assert!(Failed.check_transition(Invited).is_err());
        assert!(Pending.check_transition(InProgress).is_err());
        assert!(Pending.check_transition(Completed).is_err());
    }
}
