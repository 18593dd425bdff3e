//! A bounded in-process memory of family secrets (key id and nonce), for stores whose
//! atomic step runs on a server (a Lua script, a SQL function) and so cannot check a
//! presented token's tag inside it: the store checks the tag first, against the secret
//! remembered here or read once. A family's secret never changes, so an entry is never
//! stale; at worst a purged family's entry lingers until evicted, and an id is never
//! reused (ids are random and creation refuses a taken one).

use quick_cache::sync::Cache;

use crate::model::token::FamilySecret;

/// How many family secrets a store remembers: the families active on this process, so
/// that their rotations take one round trip, not two.
pub const SECRET_CACHE_CAPACITY: usize = 65_536;

/// Family id → secret, bounded (S3-FIFO eviction).
#[derive(Debug)]
pub struct SecretCache(Cache<String, FamilySecret>);

impl SecretCache {
    /// An empty memory of at most [`SECRET_CACHE_CAPACITY`] secrets.
    pub fn new() -> Self {
        Self(Cache::new(SECRET_CACHE_CAPACITY))
    }

    /// The remembered secret of `family_id`.
    pub fn get(&self, family_id: &str) -> Option<FamilySecret> {
        self.0.get(family_id)
    }

    /// Remembers `secret` as `family_id`'s.
    pub fn insert(&self, family_id: &str, secret: FamilySecret) {
        self.0.insert(family_id.to_owned(), secret);
    }
}

impl Default for SecretCache {
    fn default() -> Self {
        Self::new()
    }
}
