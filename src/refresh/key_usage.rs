//! [`Sessions::key_usage`]: how many live sessions each key of the set still carries, so
//! that an operator removes an old key when it carries none (or knows whom it ends).

use serde::Serialize;

use crate::error::Error;
use crate::model::store::Store;
use crate::refresh::Sessions;

/// Gauge: live sessions by the key their refresh tokens use (`kid`: the key's id,
/// `(no kid)` for a key without one, `(not in set)` for keys no longer in the set), as of
/// the last [`Sessions::key_usage`] call.
pub(crate) const SESSIONS_BY_KEY: &str = "tok_sessions_by_key";

/// What [`Sessions::key_usage`] answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyUsage {
    /// Each key of the set, in the set's order.
    pub keys: Vec<KeyCount>,
    /// Live sessions whose refresh key derives from no key of the set: their next
    /// refresh is refused (`refresh-unknown`).
    pub not_in_set: u64,
}

/// One key's live sessions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyCount {
    /// The key's `kid`, if it has one.
    pub kid: Option<String>,
    /// Whether it signs (new sessions use it, and each session moves to it at its next
    /// refresh).
    pub signing: bool,
    /// Live sessions whose refresh tokens use it: removing the key ends them.
    pub sessions: u64,
}

impl<S: Store> Sessions<S> {
    /// How many live sessions use each key of the set (a session uses the key that
    /// signed it, or the signing key it moved to at its last refresh). A key that
    /// carries 0 can leave the set without ending anyone; its access tokens end with it
    /// (wait one access-token life after it stopped signing). Also sets the gauge
    /// `tok_sessions_by_key{kid}`. It reads every session: an operator's call, not a
    /// request's.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// let keys = tok::KeySet::new(tok::HmacKey::generate()?.with_kid("a"));
    /// let sessions = tok::refresh::Sessions::new(tok::store::MemoryStore::new(), keys, Default::default());
    /// sessions.issue("alice", &serde_json::json!({}), None).await?;
    /// let usage = sessions.key_usage().await?;
    /// assert_eq!((usage.keys[0].kid.as_deref(), usage.keys[0].sessions), (Some("a"), 1));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store) when the store fails;
    /// [`Config`](crate::ErrorKind::Config) when it cannot count (Redis Cluster, a custom
    /// store without [`Store::families_by_key`]).
    pub async fn key_usage(&self) -> Result<KeyUsage, Error> {
        let mut counts = self.store.families_by_key(self.now()).await?;
        let current = self.keys.load();
        let signer = current.set.signing_key();
        let keys: Vec<KeyCount> = current
            .set
            .keys()
            .iter()
            .zip(current.refresh.ids())
            .map(|(key, id)| KeyCount {
                kid: key.kid().map(str::to_owned),
                signing: std::ptr::eq(key, signer),
                sessions: counts.remove(id).unwrap_or(0),
            })
            .collect();
        let usage = KeyUsage {
            keys,
            not_in_set: counts.values().sum(),
        };
        for key in &usage.keys {
            let kid = key.kid.clone().unwrap_or_else(|| "(no kid)".into());
            metrics::gauge!(SESSIONS_BY_KEY, "kid" => kid).set(key.sessions as f64);
        }
        metrics::gauge!(SESSIONS_BY_KEY, "kid" => "(not in set)").set(usage.not_in_set as f64);
        Ok(usage)
    }
}
