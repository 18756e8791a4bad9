//! Recently checked API keys and opened accounts, so that a unified API call does not read and
//! decrypt them again. Entries live `TTL`: a key revoked or an account changed through *this*
//! process is dropped at once; through another instance sharing the database, it takes effect
//! here within `TTL`.
//!
//! A request that read a key or an account from the database just before it was revoked or
//! changed must not put the old one back: each map has a generation, moved on by every forget,
//! and an entry read under an older generation is not stored.

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
    entries: Mutex<Entries<K, V>>,
}

struct Entries<K, V> {
    map: HashMap<K, (V, Instant)>,
    generation: u64,
}

impl<K: Eq + Hash, V: Clone> Expiring<K, V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                generation: 0,
            }),
        }
    }

    /// The generation to pass to `put` for a value about to be read.
    fn generation(&self) -> u64 {
        self.entries.lock().map_or(u64::MAX, |e| e.generation)
    }

    fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let entries = self.entries.lock().ok()?;
        let (value, stored) = entries.map.get(key)?;
        (stored.elapsed() < TTL).then(|| value.clone())
    }

    /// Stores `value`, read while the map was at `generation`, unless something was forgotten
    /// since.
    fn put(&self, key: K, value: V, generation: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.generation != generation {
                return;
            }
            if entries.map.len() >= MAX_ENTRIES {
                entries.map.clear();
            }
            entries.map.insert(key, (value, Instant::now()));
        }
    }

    fn retain(&self, keep: impl Fn(&K, &V) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation += 1;
            entries.map.retain(|k, (v, _)| keep(k, v));
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

    /// Take before reading a key from the database; give to `remember_key`.
    pub fn key_generation(&self) -> u64 {
        self.keys.generation()
    }

    pub fn remember_key(&self, key_hash: String, project_id: Uuid, generation: u64) {
        self.keys.put(key_hash, project_id, generation);
    }

    pub fn caller(&self, account_id: Uuid) -> Option<Caller> {
        self.callers.get(&account_id)
    }

    /// Take before reading an account from the database; give to `remember_caller`.
    pub fn account_generation(&self) -> u64 {
        self.callers.generation()
    }

    pub fn remember_caller(&self, caller: Caller, generation: u64) {
        self.callers.put(caller.account.id, caller, generation);
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
        cache.put("a", 1, cache.generation());
        assert_eq!(cache.get(&"a"), Some(1));
        cache.retain(|k, _| *k != "a");
        assert_eq!(cache.get(&"a"), None);
        cache
            .entries
            .lock()
            .unwrap()
            .map
            .insert("b", (2, Instant::now() - TTL));
        assert_eq!(
            cache.get(&"b"),
            None,
            "an entry older than the TTL is not used"
        );
    }

    #[test]
    fn a_value_read_before_a_forget_is_not_put_back() {
        let cache: Expiring<&str, u32> = Expiring::new();
        // A request reads the key; meanwhile the key is revoked and the cache forgets.
        let read_at = cache.generation();
        cache.retain(|_, _| false);
        cache.put("key", 1, read_at);
        assert_eq!(cache.get(&"key"), None, "the revoked key stays out");
        cache.put("key", 1, cache.generation());
        assert_eq!(cache.get(&"key"), Some(1), "a later read is cached");
    }
}
