//! The in-process store: for tests and single-process apps. One mutex makes every
//! operation atomic.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, ErrorKind};
use crate::numeric_date::NumericDate;
use crate::refresh::decide::{self, FamilyRecord, TokenRecord};
use crate::refresh::token::TokenHash;
use crate::store::{RotationOutcome, RotationRequest, Store};

#[derive(Default)]
struct State {
    families: HashMap<String, FamilyRecord>,
    /// Every token hash ever minted, current or retired, with its family and generation.
    tokens: HashMap<TokenHash, (String, u64)>,
    subjects: HashMap<String, HashSet<String>>,
    denylist: HashMap<String, NumericDate>,
}

/// Families and denylist in memory. Holds only hashes; its `Debug` shows only counts.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
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
            .field("token_hashes", &state.tokens.len())
            .field("denylisted", &state.denylist.len())
            .finish()
    }
}

impl Store for MemoryStore {
    async fn create_family(&self, family: &FamilyRecord) -> Result<(), Error> {
        let mut state = self.lock();
        if state.families.contains_key(&family.family_id)
            || state.tokens.contains_key(&family.current_hash)
        {
            return Err(Error::new(
                ErrorKind::Store,
                "family id or token hash exists already",
            ));
        }
        state.tokens.insert(
            family.current_hash,
            (family.family_id.clone(), family.generation),
        );
        state
            .subjects
            .entry(family.subject.clone())
            .or_default()
            .insert(family.family_id.clone());
        state
            .families
            .insert(family.family_id.clone(), family.clone());
        Ok(())
    }

    async fn rotate(&self, r: &RotationRequest) -> Result<RotationOutcome, Error> {
        let mut state = self.lock();
        let Some(family) = state.families.get(&r.family_id) else {
            return Ok(RotationOutcome::Refused(decide::Decision::Unknown));
        };
        let token = state
            .tokens
            .get(&r.presented_hash)
            .filter(|(family_id, _)| *family_id == r.family_id)
            .map(|&(_, generation)| TokenRecord { generation });
        let decision = decide::decide(
            family,
            &r.presented_hash,
            token,
            r.fingerprint.as_ref(),
            r.now,
            r.grace,
        );
        let Some(next) = decide::apply(
            family,
            decision,
            &r.new_hash,
            r.new_claims.as_deref(),
            r.now,
        ) else {
            return Ok(RotationOutcome::Refused(decision));
        };
        if matches!(
            decision,
            decide::Decision::Rotate | decide::Decision::GraceReplace
        ) {
            if state.tokens.contains_key(&r.new_hash) {
                return Err(Error::new(
                    ErrorKind::Store,
                    "new token hash exists already",
                ));
            }
            state
                .tokens
                .insert(r.new_hash, (r.family_id.clone(), next.generation));
            state.families.insert(r.family_id.clone(), next.clone());
            return Ok(RotationOutcome::Rotated(Box::new(next)));
        }
        state.families.insert(r.family_id.clone(), next);
        Ok(RotationOutcome::Refused(decision))
    }

    async fn revoke_family(&self, family_id: &str, now: NumericDate) -> Result<bool, Error> {
        let mut state = self.lock();
        Ok(match state.families.get_mut(family_id) {
            Some(f) if f.revoked_at.is_none() => {
                f.revoked_at = Some(now);
                true
            }
            _ => false,
        })
    }

    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, Error> {
        let mut state = self.lock();
        let ids: Vec<String> = state
            .subjects
            .get(subject)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let mut count = 0;
        for id in ids {
            if let Some(f) = state.families.get_mut(&id)
                && f.revoked_at.is_none()
            {
                f.revoked_at = Some(now);
                count += 1;
            }
        }
        Ok(count)
    }

    async fn deny_jti(&self, jti: &str, until: NumericDate) -> Result<(), Error> {
        let mut state = self.lock();
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

    async fn purge_expired(&self, now: NumericDate) -> Result<u64, Error> {
        let mut state = self.lock();
        let dead: Vec<String> = state
            .families
            .values()
            .filter(|f| decide::effective_now(f, now) >= f.usable_until())
            .map(|f| f.family_id.clone())
            .collect();
        let mut removed = 0u64;
        for id in &dead {
            if let Some(f) = state.families.remove(id) {
                if let Some(set) = state.subjects.get_mut(&f.subject) {
                    set.remove(id);
                    if set.is_empty() {
                        state.subjects.remove(&f.subject);
                    }
                }
                removed += 1;
            }
        }
        let dead: HashSet<&String> = dead.iter().collect();
        state
            .tokens
            .retain(|_, (family_id, _)| !dead.contains(family_id));
        let before = state.denylist.len();
        state.denylist.retain(|_, until| now < *until);
        removed += (before - state.denylist.len()) as u64;
        Ok(removed)
    }
}
