//! Recently checked API keys and opened accounts, so that a unified API call does not read and
//! decrypt them again. Entries live `TTL`: a key revoked or an account changed through *this*
//! process is dropped at once; through another instance sharing the database, it takes effect
//! here within `TTL`.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

use uuid::Uuid;

use super::tenancy::Caller;

pub const TTL: Duration = Duration::from_secs(5);
/// Past this many entries a map is emptied rather than grown (keys and accounts are few; this
/// only bounds memory against a flood of distinct valid credentials).
const MAX_ENTRIES: usize = 10_000;

struct Expiring<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> Expiring<K, V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let entries = self.entries.lock().ok()?;
        let (value, stored) = entries.get(key)?;
        (stored.elapsed() < TTL).then(|| value.clone())
    }

    fn put(&self, key: K, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (value, Instant::now()));
        }
    }

    fn retain(&self, keep: impl Fn(&K, &V) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|k, (v, _)| keep(k, v));
        }
    }
}

pub struct TenancyCache {
    /// SHA-256 of a valid API key → its project.
    keys: Expiring<String, Uuid>,
    /// Account id → the caller acting on it (adapter and opened credentials).
    callers: Expiring<Uuid, Caller>,
}

impl Default for TenancyCache {
    fn default() -> Self {
        Self {
            keys: Expiring::new(),
            callers: Expiring::new(),
        }
    }
}

impl TenancyCache {
    pub fn project_of_key(&self, key_hash: &str) -> Option<Uuid> {
        self.keys.get(key_hash)
    }

    pub fn remember_key(&self, key_hash: String, project_id: Uuid) {
        self.keys.put(key_hash, project_id);
    }

    pub fn caller(&self, account_id: Uuid) -> Option<Caller> {
        self.callers.get(&account_id)
    }

    pub fn remember_caller(&self, caller: Caller) {
        self.callers.put(caller.account.id, caller);
    }

    /// A key was revoked (its hash is not known here): forget every key.
    pub fn forget_keys(&self) {
        self.keys.retain(|_, _| false);
    }

    pub fn forget_account(&self, account_id: Uuid) {
        self.callers.retain(|id, _| *id != account_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let cache: Expiring<&str, u32> = Expiring::new();
        cache.put("a", 1);
        assert_eq!(cache.get(&"a"), Some(1));
        cache.retain(|k, _| *k != "a");
        assert_eq!(cache.get(&"a"), None);
        cache
            .entries
            .lock()
            .unwrap()
            .insert("b", (2, Instant::now() - TTL));
        assert_eq!(
            cache.get(&"b"),
            None,
            "an entry older than the TTL is not used"
        );
    }
}
