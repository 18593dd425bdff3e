//! The contract between sessions and a store: the [`Store`] trait, shaped around atomic
//! operations, and the request and outcome types it takes and gives. No I/O here.
//!
//! The trait has no get/put: rotation is one compare-and-swap the backend performs its own
//! way (a mutex, an immediate transaction, a Lua script), so that N concurrent rotations
//! of one token anywhere yield exactly one winner.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::error::Error;
use crate::model::change::{ChangeListener, Feed};
// The online check's query and answer are part of the trait's contract.
use crate::model::family::{FamilyRecord, Logout, Refusal};
pub use crate::model::online::{OnlineQuery, OnlineState, Verdict};
use crate::model::token::{PresentedToken, TokenHash};
use crate::numeric_date::NumericDate;

/// What [`Store::sessions_of`] answers from the families a backend found for `subject`:
/// the live ones of that subject, oldest first, at most [`MAX_LISTED`]. One rule for
/// every backend.
pub fn listed(
    families: impl IntoIterator<Item = FamilyRecord>,
    subject: &str,
    now: NumericDate,
) -> Vec<FamilyRecord> {
    let mut live: Vec<FamilyRecord> = families
        .into_iter()
        .filter(|f| f.subject == subject && f.is_live(now))
        .collect();
    live.sort_by_key(|f| f.created_at);
    live.truncate(MAX_LISTED);
    live
}

/// Live families by the id of the refresh key they use ([`FamilySecret::key_id`]): what
/// [`Store::families_by_key`] answers.
///
/// [`FamilySecret::key_id`]: crate::model::token::FamilySecret
pub type FamiliesByKey = std::collections::BTreeMap<String, u64>;

/// What [`Store::families_by_key`] answers from the families a backend read: the live
/// ones at `now`, counted by refresh key. One rule for every backend.
pub fn count_by_key<'a>(
    families: impl IntoIterator<Item = &'a FamilyRecord>,
    now: NumericDate,
) -> FamiliesByKey {
    let mut counts = FamiliesByKey::new();
    for family in families.into_iter().filter(|f| f.is_live(now)) {
        *counts.entry(family.secret.key_id.clone()).or_default() += 1;
    }
    counts
}

/// The most sessions [`Store::sessions_of`] lists for one subject: a devices page shows
/// far fewer, and a subject with more is listed oldest first up to this bound.
pub const MAX_LISTED: usize = 1000;

/// How long past its `exp` a denylisted access token's entry is kept. Online
/// verification refuses any token this far past its `exp`, whatever leeway the caller
/// allows, so a denylisted token can never outlive its entry (see
/// [`Sessions::verify_access`](crate::refresh::Sessions::verify_access)).
pub const DENYLIST_RETENTION: Duration = Duration::from_secs(10 * 60);

/// How long before the purging host's clock a family or a denylist entry must have ended
/// for a purge to remove it. A purge trusts one host's clock; another host whose clock is
/// behind (by up to this much) may still need what the purging host sees as ended: a
/// denylist entry that keeps a revoked token refused, a family whose session is still
/// live there. Keeping the dead an hour longer costs a little storage.
pub const PURGE_MARGIN: Duration = Duration::from_secs(60 * 60);

/// The instant a purge at `now` applies the lifetime and retention rules at: `now` less
/// [`PURGE_MARGIN`]. Every backend's [`Store::purge_expired`] goes through this.
///
/// ```
/// use tok::store::{purge_horizon, PURGE_MARGIN};
/// let now = tok::NumericDate::from_secs(1_800_000_000)?;
/// assert_eq!(purge_horizon(now), now.saturating_sub(PURGE_MARGIN));
/// # Ok::<(), tok::Error>(())
/// ```
pub fn purge_horizon(now: NumericDate) -> NumericDate {
    now.saturating_sub(PURGE_MARGIN)
}

/// One rotation attempt, as handed to a store.
#[derive(Debug, Clone)]
pub struct RotationRequest {
    /// The presented token, parsed (its tag is checked by the store).
    pub presented: PresentedToken,
    /// The hash of the presented client fingerprint, if any.
    pub fingerprint: Option<TokenHash>,
    /// New access claims (a JSON object) for a privilege change, if any.
    pub new_claims: Option<String>,
    /// A new login ([`Login::to_stored`](crate::refresh::login::Login::to_stored)) for a
    /// reauthentication, if any: it rotates as a privilege change does.
    pub new_login: Option<String>,
    /// The time of the attempt.
    pub now: NumericDate,
    /// The grace window for the immediately previous token.
    pub grace: Duration,
    /// The public id of the key set's signing refresh key: a rotation moves the family
    /// to it when the family's key is another (a routine key rotation).
    pub signing_key_id: String,
}

/// What a store did with a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationOutcome {
    /// The rotation won; the family as stored after it (boxed: it is large and the
    /// refusals are not). The new token is the one of its generation.
    Rotated(Box<FamilyRecord>),
    /// The previous token inside its grace window: nothing changed, and the live token
    /// (of the family's generation) is handed out again.
    Grace(Box<FamilyRecord>),
    /// No new pair, for this reason (the family is now revoked when it
    /// [`revokes`](Refusal::revokes)).
    Refused(Refusal),
}

impl RotationRequest {
    /// Whether the rotation changes what access tokens grant (new claims or a new login):
    /// such a rotation is never answered from the grace window and outdates earlier
    /// access tokens.
    pub fn changes_access(&self) -> bool {
        self.new_claims.is_some() || self.new_login.is_some()
    }
}

/// A logout with a refresh token, as handed to a store.
#[derive(Debug, Clone)]
pub struct LogoutRequest {
    /// The presented token, parsed (its tag is checked by the store).
    pub presented: PresentedToken,
    /// The time of the logout.
    pub now: NumericDate,
    /// The grace window: the previous token inside it logs out like the live one.
    pub grace: Duration,
}

/// What [`Store::create_family`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Created {
    /// The family is stored.
    Stored,
    /// A family with that id exists already; nothing was written (draw a new id).
    IdTaken,
}

/// A backend for refresh-token families, access-token denylists and their expiry.
///
/// Every method is one atomic step (or, where a backend needs two round trips, a first
/// read of data that never changes followed by one atomic step). All times come from the
/// caller, so one injected clock governs every backend.
pub trait Store: Send + Sync {
    /// Stores a new family. Ids never collide silently: an existing id is
    /// [`Created::IdTaken`], never overwritten.
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn create_family(
        &self,
        family: &FamilyRecord,
        now: NumericDate,
    ) -> impl Future<Output = Result<Created, Error>> + Send;

    /// Checks, decides and applies one rotation atomically (see the module docs).
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails; then nothing changed.
    fn rotate(
        &self,
        request: &RotationRequest,
    ) -> impl Future<Output = Result<RotationOutcome, Error>> + Send;

    /// Logs out with a refresh token: revokes its family only if the family minted it
    /// (see [`decide_logout`](crate::refresh::family::decide_logout)).
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails; then nothing changed.
    fn logout(&self, request: &LogoutRequest)
    -> impl Future<Output = Result<Logout, Error>> + Send;

    /// Revokes a family by id (an operator's action: the id is public, so never expose
    /// this to the holder of an access token). Returns whether it existed and was live.
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn revoke_family(
        &self,
        family_id: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Revokes every family of `subject`; returns how many were live. A family whose
    /// creation returned before this call returns is revoked.
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn revoke_subject(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Denylists an access token's `jti`; the entry answers until `exp` plus
    /// [`DENYLIST_RETENTION`].
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn deny_jti(
        &self,
        jti: &str,
        exp: NumericDate,
        now: NumericDate,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Whether `jti` is denylisted at `now` (an entry counts until its token's `exp`
    /// plus [`DENYLIST_RETENTION`]).
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn is_jti_denied(
        &self,
        jti: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// The stored family, if any.
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn family(
        &self,
        family_id: &str,
    ) -> impl Future<Output = Result<Option<FamilyRecord>, Error>> + Send;

    /// Deletes families past their lifetime and denylist entries past their retention as
    /// of [`purge_horizon`]`(now)` (an hour before `now`, so that a purging clock ahead of
    /// others' removes nothing they still need); returns how many families and denylist
    /// entries went.
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn purge_expired(&self, now: NumericDate) -> impl Future<Output = Result<u64, Error>> + Send;

    /// The live families of `subject` at `now`, oldest first, at most [`MAX_LISTED`]
    /// (a devices page; an operator's view). The default answers
    /// [`Config`](crate::error::ErrorKind::Config): a store lists only if it keeps a
    /// subject index it can read.
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<Vec<FamilyRecord>, Error>> + Send {
        let _ = (subject, now);
        async {
            Err(Error::new(
                crate::error::ErrorKind::Config,
                "this store cannot list a subject's sessions",
            ))
        }
    }

    /// How many live families use each refresh key at `now` (see [`FamiliesByKey`]):
    /// what an operator reads before removing a key from the set (see
    /// [`Sessions::key_usage`](crate::refresh::Sessions::key_usage)). It reads every
    /// family: an operator's call, not a request's. The default answers
    /// [`Config`](crate::error::ErrorKind::Config): a store counts only if it can read
    /// every family.
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn families_by_key(
        &self,
        now: NumericDate,
    ) -> impl Future<Output = Result<FamiliesByKey, Error>> + Send {
        let _ = now;
        async {
            Err(Error::new(
                crate::error::ErrorKind::Config,
                "this store cannot count its sessions by key",
            ))
        }
    }

    /// Ends family `family_id` if, and only if, it belongs to `subject`: a user ending one
    /// of their own sessions from a devices page. Returns whether a live family ended;
    /// another subject's id changes nothing. The default reads the family and revokes it
    /// by id, which is safe because a family's subject never changes.
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn end_session(
        &self,
        subject: &str,
        family_id: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        async move {
            match self.family(family_id).await? {
                Some(family) if family.subject == subject => {
                    self.revoke_family(family_id, now).await
                }
                _ => Ok(false),
            }
        }
    }

    /// What an online check needs to know of a token: whether its `jti` is denylisted
    /// and its session family (`sid`). A backend that can answers in one round trip; the
    /// default asks [`is_jti_denied`](Self::is_jti_denied) and [`family`](Self::family).
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> impl Future<Output = Result<OnlineState, Error>> + Send {
        async move {
            let jti_denied = match jti {
                Some(jti) => self.is_jti_denied(jti, now).await?,
                None => false,
            };
            let family = match sid {
                Some(sid) => self.family(sid).await?,
                None => None,
            };
            Ok(OnlineState { jti_denied, family })
        }
    }

    /// Whether the backend removes ended families and denylist entries by itself (key
    /// expiry), so that [`purge_expired`](Self::purge_expired) has nothing it must do: a
    /// capability a purge job asks before it runs. Default `false`: purge regularly.
    fn expires_by_itself(&self) -> bool {
        false
    }

    /// The backend's name for metrics (`tok_store_operation_seconds{backend}`): `memory`,
    /// `sqlite`, `redis`, `postgres`, or, by default, `custom`. A fixed word, never a URL.
    fn backend(&self) -> &'static str {
        "custom"
    }

    /// The verdict of an online check when it is known without reading the store: a
    /// layer that remembers answers (see [`Cached`](crate::layer::Cached)) answers here,
    /// synchronously, on the hot path; the default knows nothing.
    fn remembered(&self, query: &OnlineQuery<'_>) -> Option<Verdict> {
        let _ = query;
        None
    }

    /// The verdict of an online check read from the store: by default from one
    /// [`online_state`](Self::online_state) read (a layer that remembers answers keeps
    /// what it read).
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the backend fails.
    fn online_check(
        &self,
        query: &OnlineQuery<'_>,
    ) -> impl Future<Output = Result<Verdict, Error>> + Send {
        async move {
            let state = self.online_state(query.sid, query.jti, query.now).await?;
            Ok(state.verdict(query.sid, query.minted_at, query.now))
        }
    }

    /// Starts following the writes of other processes (and other handles) that end a
    /// family or denylist a `jti`, telling each to `listener` until it is dropped, and
    /// marking it hearing while the feed is proven. Returns once the feed is proven or
    /// the backend's own bound has passed (the follower then keeps trying). The default,
    /// [`Feed::Unavailable`], is right for any store other processes write to without a
    /// feed.
    ///
    /// # Errors
    /// [`Store`](crate::error::ErrorKind::Store) when the feed cannot be started.
    fn follow_changes(
        &self,
        listener: Weak<dyn ChangeListener>,
    ) -> impl Future<Output = Result<Feed, Error>> + Send {
        let _ = listener;
        async { Ok(Feed::Unavailable) }
    }
}

/// The end of a denylist entry for a token expiring at `exp`.
pub(crate) fn deny_until(exp: NumericDate) -> NumericDate {
    exp.saturating_add(DENYLIST_RETENTION)
}

/// A shared store is a store: `Arc<S>` forwards every call, so one store can serve several
/// [`Sessions`](crate::refresh::Sessions) (or a `Sessions` and a background purge task).
impl<S: Store + ?Sized> Store for Arc<S> {
    fn create_family(
        &self,
        family: &FamilyRecord,
        now: NumericDate,
    ) -> impl Future<Output = Result<Created, Error>> + Send {
        (**self).create_family(family, now)
    }

    fn rotate(
        &self,
        request: &RotationRequest,
    ) -> impl Future<Output = Result<RotationOutcome, Error>> + Send {
        (**self).rotate(request)
    }

    fn logout(
        &self,
        request: &LogoutRequest,
    ) -> impl Future<Output = Result<Logout, Error>> + Send {
        (**self).logout(request)
    }

    fn revoke_family(
        &self,
        family_id: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).revoke_family(family_id, now)
    }

    fn revoke_subject(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        (**self).revoke_subject(subject, now)
    }

    fn deny_jti(
        &self,
        jti: &str,
        exp: NumericDate,
        now: NumericDate,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).deny_jti(jti, exp, now)
    }

    fn is_jti_denied(
        &self,
        jti: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).is_jti_denied(jti, now)
    }

    fn family(
        &self,
        family_id: &str,
    ) -> impl Future<Output = Result<Option<FamilyRecord>, Error>> + Send {
        (**self).family(family_id)
    }

    fn purge_expired(&self, now: NumericDate) -> impl Future<Output = Result<u64, Error>> + Send {
        (**self).purge_expired(now)
    }

    fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> impl Future<Output = Result<OnlineState, Error>> + Send {
        (**self).online_state(sid, jti, now)
    }

    fn remembered(&self, query: &OnlineQuery<'_>) -> Option<Verdict> {
        (**self).remembered(query)
    }

    fn online_check(
        &self,
        query: &OnlineQuery<'_>,
    ) -> impl Future<Output = Result<Verdict, Error>> + Send {
        (**self).online_check(query)
    }

    fn follow_changes(
        &self,
        listener: Weak<dyn ChangeListener>,
    ) -> impl Future<Output = Result<Feed, Error>> + Send {
        (**self).follow_changes(listener)
    }

    fn backend(&self) -> &'static str {
        (**self).backend()
    }

    fn expires_by_itself(&self) -> bool {
        (**self).expires_by_itself()
    }

    fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<Vec<FamilyRecord>, Error>> + Send {
        (**self).sessions_of(subject, now)
    }

    fn end_session(
        &self,
        subject: &str,
        family_id: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).end_session(subject, family_id, now)
    }

    fn families_by_key(
        &self,
        now: NumericDate,
    ) -> impl Future<Output = Result<FamiliesByKey, Error>> + Send {
        (**self).families_by_key(now)
    }
}
