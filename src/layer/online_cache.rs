//! A bounded, in-process cache of online-check answers, kept current by the layer that
//! owns it ([`Cached`](super::Cached)): what makes revocable tokens cost almost nothing
//! per request.
//!
//! An online check asks two questions: is this `jti` denylisted, and is this session
//! (`sid`) live. Both answers change only by a few writes: a family ends (logout, an
//! operator's revoke, reuse, a fingerprint mismatch), all of a subject's families end, a
//! `jti` is denylisted. The layer [invalidates](OnlineCache::invalidate) the cache on each
//! such write made through it before the write returns, and the store's change feed on
//! each such write of another process as soon as it reports it. Rotations need no
//! invalidation: they only move a family's end later, and a cached answer expires at the
//! end it saw.
//!
//! Two rules keep the cache from ever serving what the store would refuse:
//! - **No stale fill.** An answer read from the store is cached only if no invalidation
//!   happened between the moment before the read and the moment after the insert (each
//!   invalidation bumps a counter first; a fill that sees it moved takes its entry out
//!   again). Until the fill has made that check, its entry is *pending*: a check reads it
//!   only while the counter still holds the value taken before the store read, so no
//!   check is ever answered from an entry whose read an invalidation overtook, not even
//!   in the instant between the insert and the fill's own check.
//! - **No answer while deaf.** When the change feed is lost (a dropped connection, a
//!   replaced file), the feed marks the cache not [serving](OnlineCache::set_serving):
//!   everything is dropped and every check goes to the store until the feed is back.
//!
//! Memory is bounded by the capacity given (per kind of entry), with S3-FIFO eviction;
//! entries never outlive what they describe (a live family's entry ends where the family
//! would, a `jti` entry where its denylist entry would).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use quick_cache::sync::{Cache, EntryAction};

use crate::model::change::{Change, ChangeListener, SubjectDigest, subject_digest};
use crate::model::family::FamilyRecord;
use crate::model::store::{OnlineState, Verdict};
use crate::numeric_date::NumericDate;

/// The default capacity of a store's cache: about this many session families, and as
/// many `jti`s (a few MiB at most).
pub const DEFAULT_CACHE_CAPACITY: usize = 65_536;

/// What the cache knows of a session family.
#[derive(Clone)]
struct FamilyEntry {
    /// For dropping a subject's entries at once (a digest: a fixed size whatever the
    /// subject's length, and what change messages carry).
    subject: SubjectDigest,
    /// Live before this instant; `None`: ended for good (revoked, expired or absent:
    /// none of these can come back).
    live_until: Option<NumericDate>,
    /// Tokens minted before this generation carry claims that no longer hold.
    claims_generation: u64,
    /// Whether the fill that wrote it may still be overtaken (see [`Fill`]).
    fill: Fill,
}

/// What the cache knows of a `jti`, until `until` (its denylist entry's end).
#[derive(Clone, Copy)]
struct JtiEntry {
    denied: bool,
    until: NumericDate,
    /// Whether the fill that wrote it may still be overtaken (see [`Fill`]).
    fill: Fill,
}

/// The fill an entry came from: the counter value taken before its store read, and
/// whether the fill has since found the counter unmoved after inserting (settled). A
/// pending entry is read only while the counter still holds that value: an invalidation
/// between the read and now may have run before the insert, and so missed the entry.
#[derive(Clone, Copy)]
struct Fill {
    ticket: u64,
    /// Which fill wrote the entry: fills that took the same ticket must not settle each
    /// other's entries (one may have read the store before an invalidation, one after).
    id: u64,
    settled: bool,
}

impl Fill {
    /// Whether an entry of this fill may answer a check, given the counter `now`.
    fn trusted(self, changes_now: u64) -> bool {
        self.settled || self.ticket == changes_now
    }
}

/// A snapshot of the invalidation counter, taken before a store read (see the module
/// docs: no stale fill).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

/// A bounded cache of online-check answers (see the module docs). One per
/// [`Cached`](super::Cached) layer; the layer's clones share it.
pub struct OnlineCache {
    families: Cache<String, FamilyEntry>,
    jtis: Cache<String, JtiEntry>,
    /// Bumped before every invalidation takes effect.
    changes: AtomicU64,
    /// Numbers each fill (see [`Fill::id`]).
    fills: AtomicU64,
    /// Whether the store's change feed is connected.
    serving: AtomicBool,
}

impl std::fmt::Debug for OnlineCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Entries name sessions and subjects: counts only.
        f.debug_struct("OnlineCache")
            .field("families", &self.families.len())
            .field("jtis", &self.jtis.len())
            .field("serving", &self.is_serving())
            .finish()
    }
}

/// Whether a family's stored state makes it live, and until when: the instant before
/// which [`FamilyRecord::is_live`] holds, or `None` if it never will again.
fn live_until(family: &FamilyRecord) -> Option<NumericDate> {
    let end = family.usable_until();
    // `is_live(now)` is `max(now, last_used) < end` with no revocation: `now < end`
    // once `last_used < end`, never otherwise.
    (family.revoked_at.is_none() && family.last_used_at < end).then_some(end)
}

impl OnlineCache {
    /// A cache of at most about `capacity` families and as many `jti`s, serving from
    /// the start (a layer whose store's feed must be proven first calls
    /// [`set_serving(false)`](Self::set_serving) before using it).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            families: Cache::new(capacity),
            jtis: Cache::new(capacity),
            changes: AtomicU64::new(0),
            fills: AtomicU64::new(0),
            serving: AtomicBool::new(true),
        }
    }

    /// Applies a change: the entries it concerns are dropped before this returns.
    pub fn invalidate(&self, change: &Change) {
        // The counter moves first, so a fill that read the store before this change
        // and inserts after it sees the move and takes its entry out.
        self.changes.fetch_add(1, Ordering::SeqCst);
        match change {
            Change::Family(id) => {
                self.families.remove(id.as_str());
            }
            Change::Subject(subject) => {
                let digest = subject_digest(subject);
                self.families.retain(|_, entry| entry.subject != digest);
            }
            Change::SubjectDigest(digest) => {
                self.families.retain(|_, entry| entry.subject != *digest);
            }
            Change::Jti(jti) => {
                self.jtis.remove(jti.as_str());
            }
            Change::Everything => {
                self.families.clear();
                self.jtis.clear();
            }
        }
    }

    /// Marks the store's change feed connected (`true`) or lost (`false`). Either way
    /// every entry is dropped: answers cached before a loss may have missed changes, and
    /// answers filled while deaf are not trusted after.
    pub fn set_serving(&self, serving: bool) {
        if !serving {
            self.serving.store(false, Ordering::SeqCst);
        }
        self.invalidate(&Change::Everything);
        if serving {
            self.serving.store(true, Ordering::SeqCst);
        }
    }

    /// Whether the cache answers checks (its store's change feed is connected).
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }

    /// How many families and `jti`s it holds.
    pub fn len(&self) -> (usize, usize) {
        (self.families.len(), self.jtis.len())
    }

    /// The cached verdict for a token, if both of its questions are answered here.
    pub(crate) fn verdict(
        &self,
        sid: Option<&str>,
        minted_at: u64,
        jti: Option<&str>,
        now: NumericDate,
    ) -> Option<Verdict> {
        if !self.is_serving() {
            return None;
        }
        // An entry is read before the counter: a pending entry is then trusted only if
        // no invalidation began since its store read (see `Fill`).
        if let Some(jti) = jti {
            let entry = self.jtis.get(jti).filter(|e| now < e.until)?;
            if !entry.fill.trusted(self.changes.load(Ordering::SeqCst)) {
                return None;
            }
            if entry.denied {
                return Some(Verdict::Denied);
            }
        }
        if let Some(sid) = sid {
            let entry = self.families.get(sid)?;
            if !entry.fill.trusted(self.changes.load(Ordering::SeqCst)) {
                return None;
            }
            match entry.live_until {
                None => return Some(Verdict::Ended),
                Some(_) if minted_at < entry.claims_generation => {
                    return Some(Verdict::Outdated);
                }
                Some(end) if now < end => {}
                // Past the end it saw: a rotation may have moved it; ask the store.
                Some(_) => return None,
            }
        }
        Some(Verdict::Accepted)
    }

    /// A snapshot of the invalidation counter, to take before reading the store.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.changes.load(Ordering::SeqCst))
    }

    /// Caches what the store answered for a token expiring at `deny_until` (its denylist
    /// entry's end), unless an invalidation happened since `ticket`.
    pub(crate) fn fill(
        &self,
        ticket: Ticket,
        sid: Option<&str>,
        jti: Option<&str>,
        deny_until: NumericDate,
        state: &OnlineState,
    ) {
        if let Some(fill) = self.insert_pending(ticket, sid, jti, deny_until, state) {
            // Unit tests widen the window between insert and check, so the stress test
            // meets the interleaving it guards against often, not once in a million.
            #[cfg(test)]
            std::thread::yield_now();
            self.settle(fill, sid, jti);
        }
    }

    /// The first half of [`fill`](Self::fill): the entries, inserted pending (read only
    /// while the counter holds `ticket`). Returns the fill, to settle, or `None` when
    /// nothing was inserted (the cache is deaf).
    fn insert_pending(
        &self,
        ticket: Ticket,
        sid: Option<&str>,
        jti: Option<&str>,
        deny_until: NumericDate,
        state: &OnlineState,
    ) -> Option<Fill> {
        if !self.is_serving() {
            return None;
        }
        let fill = Fill {
            ticket: ticket.0,
            id: self.fills.fetch_add(1, Ordering::Relaxed),
            settled: false,
        };
        if let Some(jti) = jti {
            let entry = JtiEntry {
                denied: state.jti_denied,
                until: deny_until,
                fill,
            };
            self.jtis.insert(jti.to_owned(), entry);
        }
        if let Some(sid) = sid {
            let entry = FamilyEntry {
                subject: subject_digest(state.family.as_ref().map_or("", |f| f.subject.as_str())),
                live_until: state.family.as_ref().and_then(live_until),
                claims_generation: state.family.as_ref().map_or(0, |f| f.claims_generation),
                fill,
            };
            self.families.insert(sid.to_owned(), entry);
        }
        Some(fill)
    }

    /// The second half of [`fill`](Self::fill): inserted first, checked after. An
    /// invalidation between the store read and here has moved the counter and may have
    /// run before the insert: the entries go. Otherwise they are settled in place, if
    /// still this fill's: any later invalidation moves the counter after the insert, so
    /// it removes them itself. Settling takes the shard's write lock, so it cannot
    /// interleave with a removal of the same entry.
    fn settle(&self, fill: Fill, sid: Option<&str>, jti: Option<&str>) {
        if self.changes.load(Ordering::SeqCst) != fill.ticket || !self.is_serving() {
            if let Some(jti) = jti {
                self.jtis.remove(jti);
            }
            if let Some(sid) = sid {
                self.families.remove(sid);
            }
            return;
        }
        // A key gone meanwhile (an invalidation, an eviction) leaves nothing to settle;
        // another fill's entry is that fill's to settle. An entry left pending is only
        // read less (while the counter holds), never wrongly.
        let settle = |entry: &mut Fill| {
            if entry.id == fill.id {
                entry.settled = true;
            }
            EntryAction::Retain(())
        };
        if let Some(jti) = jti {
            let _ = self
                .jtis
                .entry(jti, Some(Duration::ZERO), |_, e| settle(&mut e.fill));
        }
        if let Some(sid) = sid {
            let _ = self
                .families
                .entry(sid, Some(Duration::ZERO), |_, e| settle(&mut e.fill));
        }
    }
}

impl ChangeListener for OnlineCache {
    fn changed(&self, change: &Change) {
        self.invalidate(change);
    }

    fn set_hearing(&self, hearing: bool) {
        self.set_serving(hearing);
    }

    fn is_hearing(&self) -> bool {
        self.is_serving()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::token::FamilySecret;

    fn at(s: u64) -> NumericDate {
        NumericDate::from_secs(s).unwrap()
    }

    fn family(id: &str, subject: &str) -> FamilyRecord {
        FamilyRecord {
            family_id: id.into(),
            subject: subject.into(),
            claims: "{}".into(),
            created_at: at(1000),
            expires_at: at(5000),
            last_used_at: at(1000),
            idle_timeout: Duration::from_secs(2000),
            generation: 0,
            secret: FamilySecret {
                key_id: "k".into(),
                nonce: [0; 32],
                moved: None,
            },
            previous_rotated_at: None,
            fingerprint: None,
            claims_generation: 0,
            label: String::new(),
            login: String::new(),
            revoked_at: None,
        }
    }

    fn live(id: &str, subject: &str) -> OnlineState {
        OnlineState {
            jti_denied: false,
            family: Some(family(id, subject)),
        }
    }

    fn filled(cache: &OnlineCache, sid: &str, jti: &str, state: &OnlineState) {
        let ticket = cache.ticket();
        cache.fill(ticket, Some(sid), Some(jti), at(4000), state);
    }

    #[test]
    fn answers_until_the_family_would_end() {
        let cache = OnlineCache::new(100);
        assert_eq!(cache.verdict(Some("f"), 0, Some("j"), at(1500)), None);
        filled(&cache, "f", "j", &live("f", "alice"));
        assert_eq!(
            cache.verdict(Some("f"), 0, Some("j"), at(1500)),
            Some(Verdict::Accepted)
        );
        // Idle end at 3000: from then on the store is asked (a rotation may have moved it).
        assert_eq!(
            cache.verdict(Some("f"), 0, Some("j"), at(2999)),
            Some(Verdict::Accepted)
        );
        assert_eq!(cache.verdict(Some("f"), 0, Some("j"), at(3000)), None);
        // The jti's entry ends with its denylist entry.
        assert_eq!(
            cache.verdict(None, 0, Some("j"), at(3999)),
            Some(Verdict::Accepted)
        );
        assert_eq!(cache.verdict(None, 0, Some("j"), at(4000)), None);
        // Another token of the session: its jti is not known yet.
        assert_eq!(cache.verdict(Some("f"), 0, Some("other"), at(1500)), None);
        assert_eq!(
            cache.verdict(Some("f"), 0, None, at(1500)),
            Some(Verdict::Accepted)
        );
        assert_eq!(
            cache.verdict(None, 0, None, at(1500)),
            Some(Verdict::Accepted)
        );
    }

    #[test]
    fn ended_and_denied_answers_are_kept() {
        let cache = OnlineCache::new(100);
        let mut revoked = family("r", "alice");
        revoked.revoked_at = Some(at(1200));
        let gone = OnlineState {
            jti_denied: false,
            family: Some(revoked),
        };
        filled(&cache, "r", "j1", &gone);
        assert_eq!(
            cache.verdict(Some("r"), 0, Some("j1"), at(1300)),
            Some(Verdict::Ended)
        );
        let absent = OnlineState {
            jti_denied: false,
            family: None,
        };
        filled(&cache, "x", "j2", &absent);
        assert_eq!(
            cache.verdict(Some("x"), 0, Some("j2"), at(1300)),
            Some(Verdict::Ended)
        );
        let denied = OnlineState {
            jti_denied: true,
            family: Some(family("f", "alice")),
        };
        filled(&cache, "f", "j3", &denied);
        assert_eq!(
            cache.verdict(Some("f"), 0, Some("j3"), at(1300)),
            Some(Verdict::Denied)
        );
        // A family whose last use is at its end is not live whatever the clock says.
        let mut stale = family("s", "alice");
        stale.last_used_at = at(5000);
        assert_eq!(live_until(&stale), None);
        assert_eq!(live_until(&family("f", "a")), Some(at(3000)));
    }

    #[test]
    fn invalidations_drop_what_they_name() {
        let cache = OnlineCache::new(100);
        filled(&cache, "a1", "j1", &live("a1", "alice"));
        filled(&cache, "a2", "j2", &live("a2", "alice"));
        filled(&cache, "b1", "j3", &live("b1", "bob"));
        let now = at(1500);
        cache.invalidate(&Change::Family("a1".into()));
        assert_eq!(cache.verdict(Some("a1"), 0, Some("j1"), now), None);
        assert!(cache.verdict(Some("a2"), 0, Some("j2"), now).is_some());
        cache.invalidate(&Change::Subject("alice".into()));
        assert_eq!(cache.verdict(Some("a2"), 0, Some("j2"), now), None);
        assert!(cache.verdict(Some("b1"), 0, Some("j3"), now).is_some());
        cache.invalidate(&Change::Jti("j3".into()));
        assert_eq!(cache.verdict(Some("b1"), 0, Some("j3"), now), None);
        assert_eq!(
            cache.verdict(Some("b1"), 0, None, now),
            Some(Verdict::Accepted)
        );
        cache.invalidate(&Change::Everything);
        assert_eq!(cache.len(), (0, 0));
    }

    /// An answer read before an invalidation is never cached after it.
    #[test]
    fn a_fill_older_than_an_invalidation_is_dropped() {
        let cache = OnlineCache::new(100);
        let ticket = cache.ticket();
        // The store said "live"; then the family was revoked and the change arrived;
        // then the fill comes in.
        cache.invalidate(&Change::Family("f".into()));
        cache.fill(ticket, Some("f"), Some("j"), at(4000), &live("f", "alice"));
        assert_eq!(cache.verdict(Some("f"), 0, Some("j"), at(1500)), None);
        assert_eq!(cache.len(), (0, 0));
        // Any invalidation counts, not only one naming this family.
        let ticket = cache.ticket();
        cache.invalidate(&Change::Jti("other".into()));
        cache.fill(ticket, Some("f"), Some("j"), at(4000), &live("f", "alice"));
        assert_eq!(cache.len(), (0, 0));
        // A fresh ticket fills.
        filled(&cache, "f", "j", &live("f", "alice"));
        assert_eq!(cache.len(), (1, 1));
    }

    /// The instant between a fill's insert and its own check: an invalidation that ran
    /// in between (after the store read, before the insert, so it removed nothing) is
    /// seen by every check at once, not only by the fill's check after.
    #[test]
    fn a_pending_fill_overtaken_by_an_invalidation_answers_nothing() {
        let cache = OnlineCache::new(100);
        let ticket = cache.ticket();
        cache.invalidate(&Change::Family("f".into()));
        let fill = cache
            .insert_pending(ticket, Some("f"), Some("j"), at(4000), &live("f", "alice"))
            .unwrap();
        assert_eq!(cache.verdict(Some("f"), 0, None, at(1500)), None);
        assert_eq!(cache.verdict(None, 0, Some("j"), at(1500)), None);
        cache.settle(fill, Some("f"), Some("j"));
        assert_eq!(cache.len(), (0, 0));
        // Not overtaken: a pending entry answers while the counter holds; once settled,
        // an unrelated invalidation leaves it answering.
        let ticket = cache.ticket();
        let fill = cache
            .insert_pending(ticket, Some("f"), Some("j"), at(4000), &live("f", "alice"))
            .unwrap();
        assert_eq!(
            cache.verdict(Some("f"), 0, Some("j"), at(1500)),
            Some(Verdict::Accepted)
        );
        cache.settle(fill, Some("f"), Some("j"));
        cache.invalidate(&Change::Jti("other".into()));
        assert_eq!(
            cache.verdict(Some("f"), 0, Some("j"), at(1500)),
            Some(Verdict::Accepted)
        );
        // An unrelated invalidation while pending: not trusted until settled, and the
        // settle then drops it (it cannot tell which keys the invalidation named).
        let ticket = cache.ticket();
        let fill = cache
            .insert_pending(ticket, Some("g"), None, at(4000), &live("g", "bob"))
            .unwrap();
        cache.invalidate(&Change::Jti("other".into()));
        assert_eq!(cache.verdict(Some("g"), 0, None, at(1500)), None);
        cache.settle(fill, Some("g"), None);
        assert_eq!(cache.verdict(Some("g"), 0, None, at(1500)), None);
    }

    /// A fill overtaken by an invalidation can still insert after a newer fill of the
    /// same key: the newer fill's settle must not settle the older fill's entry.
    #[test]
    fn a_settle_settles_only_its_own_fill() {
        let cache = OnlineCache::new(100);
        let state = live("f", "alice");
        // Two fills take the same ticket; the first reads the store before a revocation
        // lands (its write, not yet its invalidation), the second after. The second
        // inserts and settles; the first inserts over it, then the invalidation runs
        // (and the first's settle will find the counter moved).
        let ticket = cache.ticket();
        let second = cache
            .insert_pending(ticket, Some("f"), None, at(4000), &state)
            .unwrap();
        let first = cache
            .insert_pending(ticket, Some("f"), None, at(4000), &state)
            .unwrap();
        cache.settle(second, Some("f"), None);
        cache.invalidate(&Change::Jti("elsewhere".into()));
        assert_eq!(
            cache.verdict(Some("f"), 0, None, at(1500)),
            None,
            "the first fill's entry is not the second's to settle"
        );
        cache.settle(first, Some("f"), None);
        assert_eq!(cache.len(), (0, 0));
    }

    /// Many threads: one revokes families one after another, others fill and check. No
    /// check that begins after a revocation's invalidation returned is answered
    /// "accepted" for that family.
    #[test]
    fn no_check_after_an_invalidation_accepts_under_contention() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicUsize;
        let cache = Arc::new(OnlineCache::new(1000));
        // The store: the id of the newest family; every older one is revoked. Family 0
        // never lives: it stands for "nothing revoked yet", so a reader that starts
        // before the writer checks a family no fill ever saw live.
        let newest = Arc::new(AtomicUsize::new(1));
        // The newest family whose revocation's invalidation has returned.
        let invalidated = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        for _ in 0..3 {
            let (cache, newest, invalidated, stop) = (
                cache.clone(),
                newest.clone(),
                invalidated.clone(),
                stop.clone(),
            );
            readers.push(std::thread::spawn(move || {
                let mut violations = 0;
                while !stop.load(Ordering::SeqCst) {
                    let target = invalidated.load(Ordering::SeqCst);
                    let sid = target.to_string();
                    // A check that begins now must see `target` revoked.
                    if cache.verdict(Some(&sid), 0, None, at(1500)) == Some(Verdict::Accepted) {
                        violations += 1;
                    }
                    // A fill for the newest family, read from the store as it is.
                    let n = newest.load(Ordering::SeqCst);
                    let ticket = cache.ticket();
                    let state = if newest.load(Ordering::SeqCst) == n {
                        live(&n.to_string(), "alice")
                    } else {
                        OnlineState {
                            jti_denied: false,
                            family: None,
                        }
                    };
                    cache.fill(ticket, Some(&n.to_string()), None, at(4000), &state);
                }
                violations
            }));
        }
        // The readers run alone first, as they may under load: the oracle must hold
        // before the first revocation too.
        std::thread::sleep(Duration::from_millis(50));
        let start = std::time::Instant::now();
        let mut n = 1;
        while start.elapsed() < Duration::from_millis(500) {
            n += 1;
            newest.store(n, Ordering::SeqCst); // family n - 1 is revoked in the store
            cache.invalidate(&Change::Family((n - 1).to_string()));
            invalidated.store(n - 1, Ordering::SeqCst);
            // Let the readers fill and check family n before it is revoked in turn.
            std::thread::yield_now();
        }
        stop.store(true, Ordering::SeqCst);
        let violations: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert_eq!(violations, 0);
    }

    #[test]
    fn nothing_is_served_or_filled_while_deaf() {
        let cache = OnlineCache::new(100);
        filled(&cache, "f", "j", &live("f", "alice"));
        cache.set_serving(false);
        assert!(!cache.is_serving());
        assert_eq!(cache.len(), (0, 0), "a lost feed drops everything");
        assert_eq!(cache.verdict(Some("f"), 0, Some("j"), at(1500)), None);
        filled(&cache, "f", "j", &live("f", "alice"));
        assert_eq!(cache.len(), (0, 0));
        // A fill begun while deaf and finished after the feed is back is not kept.
        let ticket = cache.ticket();
        cache.set_serving(true);
        cache.fill(ticket, Some("f"), Some("j"), at(4000), &live("f", "alice"));
        assert_eq!(cache.len(), (0, 0));
        filled(&cache, "f", "j", &live("f", "alice"));
        assert_eq!(
            cache.verdict(Some("f"), 0, Some("j"), at(1500)),
            Some(Verdict::Accepted)
        );
        assert!(format!("{cache:?}").contains("serving: true"));
        assert!(!format!("{cache:?}").contains("alice"));
    }

    /// After a privilege change, tokens minted before it are outdated; those minted at or
    /// after it are not.
    #[test]
    fn tokens_older_than_the_claims_are_outdated() {
        let cache = OnlineCache::new(10);
        let mut changed = family("f", "alice");
        changed.generation = 4;
        changed.claims_generation = 3;
        let state = OnlineState {
            jti_denied: false,
            family: Some(changed),
        };
        assert_eq!(state.verdict(Some("f"), 2, at(1500)), Verdict::Outdated);
        assert_eq!(state.verdict(Some("f"), 3, at(1500)), Verdict::Accepted);
        filled(&cache, "f", "j", &state);
        assert_eq!(
            cache.verdict(Some("f"), 2, Some("j"), at(1500)),
            Some(Verdict::Outdated)
        );
        assert_eq!(
            cache.verdict(Some("f"), 4, Some("j"), at(1500)),
            Some(Verdict::Accepted)
        );
    }

    #[test]
    fn bounded() {
        let cache = OnlineCache::new(64);
        for i in 0..10_000 {
            filled(&cache, &format!("f{i}"), &format!("j{i}"), &live("x", "s"));
        }
        let (families, jtis) = cache.len();
        assert!(families <= 128 && jtis <= 128, "{families} {jtis}");
    }

    #[test]
    fn a_listener_forgets_what_a_change_names() {
        let cache = OnlineCache::new(10);
        filled(&cache, "f", "j", &live("f", "alice"));
        let listener: &dyn ChangeListener = &cache;
        listener.changed(&Change::Family("f".into()));
        assert_eq!(cache.verdict(Some("f"), 0, None, at(1500)), None);
        filled(&cache, "f", "j", &live("f", "alice"));
        listener.set_hearing(false);
        assert!(!listener.is_hearing());
        assert_eq!(cache.verdict(Some("f"), 0, None, at(1500)), None);
        listener.set_hearing(true);
        assert!(listener.is_hearing());
        let state = live("f", "a");
        assert_eq!(state.verdict(Some("f"), 0, at(1500)), Verdict::Accepted);
        assert_eq!(state.verdict(Some("f"), 0, at(3000)), Verdict::Ended);
        assert_eq!(
            OnlineState {
                jti_denied: false,
                family: None
            }
            .verdict(Some("f"), 0, at(1)),
            Verdict::Ended
        );
        assert_eq!(
            OnlineState {
                jti_denied: false,
                family: None
            }
            .verdict(None, 0, at(1)),
            Verdict::Accepted
        );
    }
}
