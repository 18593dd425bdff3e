//! Where refresh-token families live: one trait shaped around atomic operations, its
//! request and outcome types, and its backends (one file each), opened by URL with
//! [`open`].
//!
//! The trait has no get/put: rotation is one compare-and-swap the backend performs its own
//! way (a mutex, an immediate transaction, a Lua script), so that N concurrent rotations
//! of one token anywhere yield exactly one winner.
//!
//! # Writing a store
//! A backend keeps, per family, one [`FamilyRecord`] (constant size: no token or token
//! hash is ever stored), a subject index for [`Store::revoke_subject`], and a denylist of
//! access-token ids. For a rotation it must, atomically:
//! 1. load the family (absent: [`Refusal::Unknown`]) and check the presented token with
//!    [`PresentedToken::is_minted_by`] (false: [`Refusal::Unknown`], nothing changes);
//! 2. run [`decide`](crate::refresh::family::decide) and persist what
//!    [`apply`](crate::refresh::family::apply) returns;
//! 3. answer with the [`RotationOutcome`].
//!
//! The backends that run Rust in their atomic step do 2 and 3 with one call of
//! `resolve_rotation` (crate-internal). The conformance suite (`tests/store_conformance.rs`) is one macro
//! that every backend instantiates.

use std::future::Future;
use std::time::Duration;

use crate::error::Error;
use crate::numeric_date::NumericDate;
use crate::refresh::family::{self, Decision, FamilyRecord, Logout, Refusal};
use crate::refresh::token::{PresentedToken, TokenHash};

pub mod memory;
mod open;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use memory::MemoryStore;
pub use open::{AnyStore, open, redact_url};
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, RedisStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{DEFAULT_POOL_SIZE, Durability, SqliteStore};

/// How long past its `exp` a denylisted access token's entry is kept. Online
/// verification refuses any token this far past its `exp`, whatever leeway the caller
/// allows, so a denylisted token can never outlive its entry (see
/// [`Sessions::verify_access`](crate::refresh::Sessions::verify_access)).
pub const DENYLIST_RETENTION: Duration = Duration::from_secs(10 * 60);

/// One rotation attempt, as handed to a store.
#[derive(Debug, Clone)]
pub struct RotationRequest {
    /// The presented token, parsed (its tag is checked by the store).
    pub presented: PresentedToken,
    /// The hash of the presented client fingerprint, if any.
    pub fingerprint: Option<TokenHash>,
    /// New access claims (a JSON object) for a privilege change, if any.
    pub new_claims: Option<String>,
    /// The time of the attempt.
    pub now: NumericDate,
    /// The grace window for the immediately previous token.
    pub grace: Duration,
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
    /// [`Store`](crate::ErrorKind::Store) when the backend fails.
    fn create_family(
        &self,
        family: &FamilyRecord,
        now: NumericDate,
    ) -> impl Future<Output = Result<Created, Error>> + Send;

    /// Checks, decides and applies one rotation atomically (see the module docs).
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store) when the backend fails; then nothing changed.
    fn rotate(
        &self,
        request: &RotationRequest,
    ) -> impl Future<Output = Result<RotationOutcome, Error>> + Send;

    /// Logs out with a refresh token: revokes its family only if the family minted it
    /// (see [`decide_logout`](crate::refresh::family::decide_logout)).
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store) when the backend fails; then nothing changed.
    fn logout(&self, request: &LogoutRequest)
    -> impl Future<Output = Result<Logout, Error>> + Send;

    /// Revokes a family by id (an operator's action: the id is public, so never expose
    /// this to the holder of an access token). Returns whether it existed and was live.
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store) when the backend fails.
    fn revoke_family(
        &self,
        family_id: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Revokes every family of `subject`; returns how many were live. A family whose
    /// creation returned before this call returns is revoked.
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store) when the backend fails.
    fn revoke_subject(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Denylists an access token's `jti`; the entry answers until `exp` plus
    /// [`DENYLIST_RETENTION`].
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store) when the backend fails.
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
    /// [`Store`](crate::ErrorKind::Store) when the backend fails.
    fn is_jti_denied(
        &self,
        jti: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// The stored family, if any.
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store) when the backend fails.
    fn family(
        &self,
        family_id: &str,
    ) -> impl Future<Output = Result<Option<FamilyRecord>, Error>> + Send;

    /// Deletes families past their lifetime and denylist entries past their retention;
    /// returns how many families and denylist entries went.
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store) when the backend fails.
    fn purge_expired(&self, now: NumericDate) -> impl Future<Output = Result<u64, Error>> + Send;
}

/// The end of a denylist entry for a token expiring at `exp`.
pub(crate) fn deny_until(exp: NumericDate) -> NumericDate {
    exp.saturating_add(DENYLIST_RETENTION)
}

/// What a rotation decided: the answer, and the family as the store must write it.
pub(crate) struct Resolved {
    pub(crate) outcome: RotationOutcome,
    /// A family revoked by the refusal (reuse, fingerprint mismatch), to write.
    revoked: Option<FamilyRecord>,
}

impl Resolved {
    /// The family to write, if anything changed: the rotated one (held once, in the
    /// answer) or the revoked one.
    pub(crate) fn to_write(&self) -> Option<&FamilyRecord> {
        match &self.outcome {
            RotationOutcome::Rotated(next) => Some(next),
            _ => self.revoked.as_ref(),
        }
    }
}

/// Steps 1 to 3 of a rotation on a loaded family (or `None`).
pub(crate) fn resolve_rotation(family: Option<&FamilyRecord>, r: &RotationRequest) -> Resolved {
    let resolved = |outcome, revoked| Resolved { outcome, revoked };
    let refused = |refusal| resolved(RotationOutcome::Refused(refusal), None);
    if !r.presented.is_minted_by(family.map(|f| &f.secret)) {
        return refused(Refusal::Unknown);
    }
    let Some(family) = family else {
        return refused(Refusal::Unknown);
    };
    let decision = family::decide(
        family,
        r.presented.generation(),
        r.fingerprint.as_ref(),
        r.now,
        r.grace,
        r.new_claims.is_some(),
    );
    let next = family::apply(family, decision, r.new_claims.as_deref(), r.now);
    match (decision, next) {
        (Decision::Rotate, Some(next)) => resolved(RotationOutcome::Rotated(Box::new(next)), None),
        // Only after 2^64 rotations: nothing more can be minted.
        (Decision::Rotate, None) => refused(Refusal::Unknown),
        (Decision::Grace, _) => resolved(RotationOutcome::Grace(Box::new(family.clone())), None),
        (Decision::Refuse(refusal), next) => resolved(RotationOutcome::Refused(refusal), next),
    }
}

/// A logout on a loaded family (or `None`): whether to mark it revoked, and the answer.
pub(crate) fn resolve_logout(family: Option<&FamilyRecord>, r: &LogoutRequest) -> (bool, Logout) {
    if !r.presented.is_minted_by(family.map(|f| &f.secret)) {
        return (false, Logout::Unknown);
    }
    let Some(family) = family else {
        return (false, Logout::Unknown);
    };
    let outcome = family::decide_logout(family, r.presented.generation(), r.now, r.grace);
    (matches!(outcome, Logout::Revoked | Logout::Reused), outcome)
}

/// A store error wrapping its cause (used by the backends that talk to a server or file).
#[cfg(any(feature = "sqlite", feature = "redis"))]
pub(crate) fn store_error(
    what: &str,
    cause: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    // One line: a tool prints the detail as its one error line, and some causes span
    // several.
    let detail = format!("{what}: {cause}").replace('\n', "; ");
    Error::new(crate::ErrorKind::Store, detail).with_source(cause)
}
