//! Fair shares of a worker's slots: no project, receiver or vendor account may hold more than
//! `cap` of them at once, so that one whose work hangs (a receiver that never answers, a vendor
//! that stalls) cannot crowd out everyone else's. The worker counts its items in flight per key;
//! the one key at its cap (with a cap above half the slots there is at most one) is left out of
//! its next claim. Work-conserving: alone, a key still gets `cap` slots at once.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
};

pub struct Shares<K> {
    cap: usize,
    in_flight: Mutex<HashMap<K, usize>>,
}

impl<K: Eq + Hash + Clone> Shares<K> {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// The key that holds its whole share, if any.
    pub fn full(&self) -> Option<K> {
        let in_flight = self.in_flight.lock().ok()?;
        in_flight
            .iter()
            .find(|(_, count)| **count >= self.cap)
            .map(|(key, _)| key.clone())
    }

    /// Counts one item of `key` in flight until the returned guard is dropped (when its work
    /// ends, however it ends); `None` when `key` already holds its whole share.
    pub fn try_take(self: &Arc<Self>, key: K) -> Option<Share<K>> {
        let mut in_flight = self.in_flight.lock().ok()?;
        let count = in_flight.entry(key.clone()).or_default();
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Share {
            shares: self.clone(),
            key,
        })
    }
}

/// One item's place in its key's share.
pub struct Share<K: Eq + Hash + Clone> {
    shares: Arc<Shares<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Drop for Share<K> {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.shares.in_flight.lock() {
            if let Some(count) = in_flight.get_mut(&self.key) {
                *count -= 1;
                if *count == 0 {
                    in_flight.remove(&self.key);
                }
            }
        }
    }
}

/// The receiver part of a URL, `scheme://host[:port]/`, as it is written in the URL itself (so
/// that a prefix comparison in SQL finds the same deliveries).
pub fn url_prefix(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find('/') {
        Some(slash) => url[..start + slash + 1].to_string(),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_at_its_cap_is_full_until_its_work_ends() {
        let shares = Shares::new(2);
        let a1 = shares.try_take("a").unwrap();
        let _b = shares.try_take("b").unwrap();
        assert_eq!(shares.full(), None);
        let a2 = shares.try_take("a").unwrap();
        assert_eq!(shares.full(), Some("a"));
        assert!(shares.try_take("a").is_none(), "no more than the cap");
        drop(a1);
        assert_eq!(shares.full(), None);
        drop(a2);
        assert!(shares.in_flight.lock().unwrap().get("a").is_none());
    }

    #[test]
    fn receivers_are_told_apart_by_scheme_host_and_port() {
        assert_eq!(
            url_prefix("https://ats.example.com/results?x=1"),
            "https://ats.example.com/"
        );
        assert_eq!(
            url_prefix("http://10.0.0.1:8080/a/b"),
            "http://10.0.0.1:8080/"
        );
        assert_eq!(
            url_prefix("https://ats.example.com"),
            "https://ats.example.com"
        );
    }
}
