//! The in-process store: for tests and single-process apps. One mutex makes every
//! operation atomic.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use crate::error::Error;
use std::sync::Weak;

use crate::model::change::{ChangeListener, Feed};
use crate::model::family::{FamilyRecord, Logout};
use crate::model::resolve::{resolve_logout, resolve_rotation};
use crate::model::store::{
    Created, FamiliesByKey, LogoutRequest, OnlineState, RotationOutcome, RotationRequest, Store,
    count_by_key, deny_until, listed,
};
use crate::numeric_date::NumericDate;

#[derive(Default)]
struct State {
    families: HashMap<String, FamilyRecord>,
    subjects: HashMap<String, HashSet<String>>,
    /// `jti` → the end of its entry (the token's `exp` plus the retention).
    denylist: HashMap<String, NumericDate>,
}

/// Families and denylist in memory. Holds no token and no token hash; its `Debug` shows
/// only counts.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tok::Error> {
/// use tok::refresh::{RefreshPolicy, Sessions};
/// let keys = tok::KeySet::new(tok::HmacKey::generate()?);
/// let sessions = Sessions::new(tok::store::MemoryStore::new(), keys, RefreshPolicy::default());
/// sessions.issue("alice", &serde_json::Map::new(), None).await?;
/// assert_eq!(sessions.store().len(), 1);
/// # Ok(()) }
/// ```
pub struct MemoryStore {
    state: Mutex<State>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store. (In a [`Cached`](crate::layer::Cached) layer, online checks do
    /// not take its one lock.)
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
        }
    }

    /// How many families the store holds (live or not).
    pub fn len(&self) -> usize {
        self.lock().families.len()
    }

    /// Whether the store holds no family.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every stored family, for inspection (what a dump of this store would show).
    pub fn families(&self) -> Vec<FamilyRecord> {
        self.lock().families.values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the maps consistent (every
        // operation writes only after deciding), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("families", &state.families.len())
            .field("denylisted", &state.denylist.len())
            .finish()
    }
}

fn revoke(family: &mut FamilyRecord, now: NumericDate) -> bool {
    let live = family.revoked_at.is_none();
    if live {
        family.revoked_at = Some(now);
    }
    live
}

impl Store for MemoryStore {
    async fn create_family(
        &self,
        family: &FamilyRecord,
        _now: NumericDate,
    ) -> Result<Created, Error> {
        let mut state = self.lock();
        if state.families.contains_key(&family.family_id) {
            return Ok(Created::IdTaken);
        }
        state
            .subjects
            .entry(family.subject.clone())
            .or_default()
            .insert(family.family_id.clone());
        state
            .families
            .insert(family.family_id.clone(), family.clone());
        Ok(Created::Stored)
    }

    async fn rotate(&self, r: &RotationRequest) -> Result<RotationOutcome, Error> {
        let mut state = self.lock();
        let resolved = resolve_rotation(state.families.get(r.presented.family_id()), r);
        if let Some(next) = resolved.to_write() {
            // The map keeps its own copy; the answer keeps the other.
            state.families.insert(next.family_id.clone(), next.clone());
        }
        Ok(resolved.outcome)
    }

    async fn logout(&self, r: &LogoutRequest) -> Result<Logout, Error> {
        let mut state = self.lock();
        let (revokes, outcome) = resolve_logout(state.families.get(r.presented.family_id()), r);
        if revokes && let Some(f) = state.families.get_mut(r.presented.family_id()) {
            revoke(f, r.now);
        }
        Ok(outcome)
    }

    async fn revoke_family(&self, family_id: &str, now: NumericDate) -> Result<bool, Error> {
        let mut state = self.lock();
        let revoked = state
            .families
            .get_mut(family_id)
            .is_some_and(|f| revoke(f, now));
        Ok(revoked)
    }

    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, Error> {
        let mut state = self.lock();
        let State {
            families, subjects, ..
        } = &mut *state;
        let mut count = 0;
        for id in subjects.get(subject).into_iter().flatten() {
            if let Some(f) = families.get_mut(id)
                && revoke(f, now)
            {
                count += 1;
            }
        }
        Ok(count)
    }

    async fn deny_jti(&self, jti: &str, exp: NumericDate, _now: NumericDate) -> Result<(), Error> {
        let mut state = self.lock();
        let until = deny_until(exp);
        let entry = state.denylist.entry(jti.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
        Ok(())
    }

    async fn is_jti_denied(&self, jti: &str, now: NumericDate) -> Result<bool, Error> {
        Ok(self
            .lock()
            .denylist
            .get(jti)
            .is_some_and(|&until| now < until))
    }

    async fn family(&self, family_id: &str) -> Result<Option<FamilyRecord>, Error> {
        Ok(self.lock().families.get(family_id).cloned())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }

    /// No other process writes to memory: a layer that every handle goes through sees
    /// every write.
    async fn follow_changes(&self, _: Weak<dyn ChangeListener>) -> Result<Feed, Error> {
        Ok(Feed::OnlyThisHandle)
    }

    async fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> Result<Vec<FamilyRecord>, Error> {
        let state = self.lock();
        let found = state
            .subjects
            .get(subject)
            .into_iter()
            .flatten()
            .filter_map(|id| state.families.get(id))
            .cloned();
        Ok(listed(found, subject, now))
    }

    async fn families_by_key(&self, now: NumericDate) -> Result<FamiliesByKey, Error> {
        let state = self.lock();
        Ok(count_by_key(state.families.values(), now))
    }

    async fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> Result<OnlineState, Error> {
        // Both under one lock: one consistent view.
        let state = self.lock();
        Ok(OnlineState {
            jti_denied: jti
                .and_then(|jti| state.denylist.get(jti))
                .is_some_and(|&until| now < until),
            family: sid.and_then(|sid| state.families.get(sid)).cloned(),
        })
    }

    async fn purge_expired(&self, now: NumericDate) -> Result<u64, Error> {
        let now = crate::model::store::purge_horizon(now);
        let mut state = self.lock();
        let dead: Vec<(String, String)> = state
            .families
            .values()
            .filter(|f| f.is_expired(now))
            .map(|f| (f.family_id.clone(), f.subject.clone()))
            .collect();
        let mut removed = 0u64;
        for (id, subject) in &dead {
            state.families.remove(id);
            if let Some(set) = state.subjects.get_mut(subject) {
                set.remove(id);
                if set.is_empty() {
                    state.subjects.remove(subject);
                }
            }
            removed += 1;
        }
        let before = state.denylist.len();
        state.denylist.retain(|_, until| now < *until);
        removed += (before - state.denylist.len()) as u64;
        Ok(removed)
    }
}
