//! What this process has seen of each linked account's vendor: the last error, the last call
//! that worked, and how many errors in the last hour — for operators (the console). Kept in
//! memory, per instance, since its start; a refused request (bad input, unknown package) is the
//! caller's, not the vendor's, and is not counted.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{domain::now, providers::ProviderError};

/// Errors remembered per account (those of the last hour, at most this many).
const KEPT_ERRORS: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct AccountHealth {
    pub last_ok: Option<DateTime<Utc>>,
    pub last_error: Option<(DateTime<Utc>, String)>,
    errors: VecDeque<DateTime<Utc>>,
}

impl AccountHealth {
    /// Vendor errors in the hour before `at`.
    pub fn errors_since(&self, since: DateTime<Utc>) -> usize {
        self.errors.iter().filter(|at| **at >= since).count()
    }
}

#[derive(Default)]
pub struct VendorHealth {
    accounts: Mutex<HashMap<Uuid, AccountHealth>>,
}

/// Whether an error is the vendor's (down, slow, throttling, refusing the credentials).
fn is_vendors(error: &ProviderError) -> bool {
    matches!(
        error,
        ProviderError::CredentialsRefused { .. }
            | ProviderError::RateLimited { .. }
            | ProviderError::QuotaExhausted { .. }
            | ProviderError::Timeout
            | ProviderError::Unavailable { .. }
    )
}

impl VendorHealth {
    /// Notes how a call to the vendor of `account` went.
    pub fn note<T>(&self, account: Uuid, outcome: &Result<T, ProviderError>) {
        let Ok(mut accounts) = self.accounts.lock() else {
            return;
        };
        let health = accounts.entry(account).or_default();
        let at = now();
        match outcome {
            Ok(_) => health.last_ok = Some(at),
            Err(error) if is_vendors(error) => {
                health.last_error = Some((at, error.to_string()));
                let hour_ago = at - chrono::Duration::hours(1);
                while health.errors.front().is_some_and(|e| *e < hour_ago)
                    || health.errors.len() >= KEPT_ERRORS
                {
                    health.errors.pop_front();
                }
                health.errors.push_back(at);
            }
            Err(_) => health.last_ok = Some(at),
        }
    }

    pub fn of(&self, account: Uuid) -> AccountHealth {
        self.accounts
            .lock()
            .ok()
            .and_then(|accounts| accounts.get(&account).cloned())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_errors_are_counted_and_callers_are_not() {
        let health = VendorHealth::default();
        let account = Uuid::now_v7();
        health.note::<()>(account, &Err(ProviderError::Timeout));
        health.note::<()>(account, &Err(ProviderError::rejected("bad email")));
        health.note(account, &Ok(()));
        let seen = health.of(account);
        assert_eq!(seen.errors_since(now() - chrono::Duration::hours(1)), 1);
        assert!(seen.last_error.unwrap().1.contains("in time"));
        assert!(seen.last_ok.is_some());
        assert!(health.of(Uuid::now_v7()).last_ok.is_none());
    }
}
