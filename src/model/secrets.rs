//! A bounded in-process memory of family secrets (key id and nonce, and whatever else of
//! a family never changes that a backend keeps beside them), for stores whose
//! atomic step runs on a server (a Lua script, a SQL function) and so cannot check a
//! presented token's tag inside it: the store checks the tag first, against the secret
//! remembered here or read once. A family's nonce never changes; its key changes only
//! when a rotation moves it to the signing key (a key rotation), after which a remembered
//! entry fails the tag check of the family's new tokens, and is read again then. A
//! stale entry never makes a token pass: at worst it costs one more read. A purged
//! family's entry lingers until evicted, and an id is never reused (ids are random and
//! creation refuses a taken one).

use std::future::Future;

use quick_cache::sync::Cache;

use crate::error::Error;
use crate::model::token::{FamilySecret, PresentedToken};

/// How many family secrets a store remembers: the families active on this process, so
/// that their rotations take one round trip, not two.
pub const SECRET_CACHE_CAPACITY: usize = 65_536;

/// Family id → secret (or a backend's `T` holding it), bounded (S3-FIFO eviction).
#[derive(Debug)]
pub struct SecretCache<T: Clone = FamilySecret>(Cache<String, T>);

impl<T: Clone + AsRef<FamilySecret>> SecretCache<T> {
    /// An empty memory of at most [`SECRET_CACHE_CAPACITY`] secrets.
    pub fn new() -> Self {
        Self(Cache::new(SECRET_CACHE_CAPACITY))
    }

    /// The remembered secret of `family_id`.
    pub fn get(&self, family_id: &str) -> Option<T> {
        self.0.get(family_id)
    }

    /// Remembers `secret` as `family_id`'s.
    pub fn insert(&self, family_id: &str, secret: T) {
        self.0.insert(family_id.to_owned(), secret);
    }

    /// The remembered secret of the family `presented` names if that family minted it:
    /// against the remembered secret, or, when none is remembered or the token fails it
    /// (the family may have moved to another key since), the one `read` finds (`None`: no
    /// such family), which is then remembered. The MAC is computed whether or not the family exists
    /// (see [`PresentedToken::is_minted_by`]).
    ///
    /// # Errors
    /// What `read` answers.
    pub async fn minted<R>(&self, presented: &PresentedToken, read: R) -> Result<Option<T>, Error>
    where
        R: Future<Output = Result<Option<T>, Error>>,
    {
        let family_id = presented.family_id();
        if let Some(secret) = self.get(family_id)
            && presented.is_minted_by(Some(secret.as_ref()))
        {
            return Ok(Some(secret));
        }
        // Not remembered, or remembered from before the family moved to another key
        // (a rotation in another process): read what the store holds now.
        let read = read.await?;
        if let Some(secret) = &read {
            self.insert(family_id, secret.clone());
        }
        let minted = presented.is_minted_by(read.as_ref().map(AsRef::as_ref));
        Ok(read.filter(|_| minted))
    }
}

impl<T: Clone + AsRef<FamilySecret>> Default for SecretCache<T> {
    fn default() -> Self {
        Self::new()
    }
}
