//! Where refresh-token families live: one trait shaped around atomic operations, and its
//! backends (one file each), selected at run time by URL.
//!
//! The trait has no get/put: rotation is one compare-and-swap the backend performs its own
//! way (a mutex, an immediate transaction, a Lua script), so that N concurrent rotations
//! of one token anywhere yield exactly one winner.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::numeric_date::NumericDate;
use crate::refresh::decide::{Decision, FamilyRecord};
use crate::refresh::token::TokenHash;

pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, RedisStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{DEFAULT_POOL_SIZE, Durability, SqliteStore};

/// One rotation attempt, as handed to a store.
#[derive(Debug, Clone)]
pub struct RotationRequest {
    /// The family named by the presented token.
    pub family_id: String,
    /// The hash of the presented token's secret.
    pub presented_hash: TokenHash,
    /// The hash of the presented client fingerprint, if any.
    pub fingerprint: Option<TokenHash>,
    /// The hash of the successor's secret, stored if the rotation wins.
    pub new_hash: TokenHash,
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
    /// refusals are not).
    Rotated(Box<FamilyRecord>),
    /// The rotation was refused for this reason. For [`Decision::Reuse`] and
    /// [`Decision::FingerprintMismatch`] the family is now revoked.
    Refused(Decision),
}

/// A backend for refresh-token families, access-token denylists and their expiry.
///
/// Every method is one atomic step. Stores keep only hashes of refresh secrets.
pub trait Store: Send + Sync {
    /// Stores a new family and its first token (generation 0, hash `current_hash`).
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) when the backend fails or the family id exists
    /// already (ids never collide silently).
    fn create_family(
        &self,
        family: &FamilyRecord,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Decides and applies one rotation atomically (see [`crate::refresh::decide`]).
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) when the backend fails; then nothing changed.
    fn rotate(
        &self,
        request: &RotationRequest,
    ) -> impl Future<Output = Result<RotationOutcome, Error>> + Send;

    /// Revokes a family; returns whether it existed and was live.
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) when the backend fails.
    fn revoke_family(
        &self,
        family_id: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Revokes every family of `subject`; returns how many were live.
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) when the backend fails.
    fn revoke_subject(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Denylists an access token's `jti` until `until` (its `exp`).
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) when the backend fails.
    fn deny_jti(
        &self,
        jti: &str,
        until: NumericDate,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Whether `jti` is denylisted at `now` (expired entries never count).
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) when the backend fails.
    fn is_jti_denied(
        &self,
        jti: &str,
        now: NumericDate,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// The stored family, if any.
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) when the backend fails.
    fn family(
        &self,
        family_id: &str,
    ) -> impl Future<Output = Result<Option<FamilyRecord>, Error>> + Send;

    /// Deletes families past their lifetime (with their token hashes) and expired
    /// denylist entries; returns how many families and denylist entries went.
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) when the backend fails.
    fn purge_expired(&self, now: NumericDate) -> impl Future<Output = Result<u64, Error>> + Send;
}

/// A store error wrapping its cause (used by the backends that talk to a server or file).
#[cfg(any(feature = "sqlite", feature = "redis"))]
pub(crate) fn store_error(
    what: &str,
    cause: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::new(ErrorKind::Store, format!("{what}: {cause}")).with_source(cause)
}

/// Any backend tok ships, chosen by URL with [`open`].
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// `memory:`
    Memory(MemoryStore),
    /// `sqlite:PATH`
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    /// `redis://…`, `rediss://…`, `redis+cluster://…`
    #[cfg(feature = "redis")]
    Redis(RedisStore),
}

/// Opens the store a URL names: `memory:`, `sqlite:PATH` (feature `sqlite`),
/// `redis://HOST:PORT`, `redis+cluster://HOST:PORT,...` (feature `redis`; see
/// [`RedisStore::open`](crate::store::RedisStore) for `prefix=` and `timeout_ms=`).
///
/// # Errors
/// [`Store`](ErrorKind::Store) for an unknown scheme, a backend this build lacks, or a
/// backend that cannot be opened.
pub async fn open(url: &str) -> Result<AnyStore, Error> {
    if url == "memory:" {
        return Ok(AnyStore::Memory(MemoryStore::new()));
    }
    if let Some(path) = url.strip_prefix("sqlite:") {
        #[cfg(feature = "sqlite")]
        return Ok(AnyStore::Sqlite(SqliteStore::open(path).await?));
        #[cfg(not(feature = "sqlite"))]
        return Err(Error::new(
            ErrorKind::Store,
            format!("tok was built without the sqlite feature ({path})"),
        ));
    }
    if ["redis://", "rediss://", "redis+cluster://"]
        .iter()
        .any(|s| url.starts_with(s))
    {
        #[cfg(feature = "redis")]
        return Ok(AnyStore::Redis(RedisStore::open(url).await?));
        #[cfg(not(feature = "redis"))]
        return Err(Error::new(
            ErrorKind::Store,
            "tok was built without the redis feature",
        ));
    }
    Err(Error::new(
        ErrorKind::Store,
        format!("unknown store URL {url:?}: expected memory:, sqlite:PATH or redis://HOST:PORT"),
    ))
}

macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($store) => $call.await,
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite($store) => $call.await,
            #[cfg(feature = "redis")]
            AnyStore::Redis($store) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn create_family(&self, family: &FamilyRecord) -> Result<(), Error> {
        dispatch!(self, s => s.create_family(family))
    }
    async fn rotate(&self, request: &RotationRequest) -> Result<RotationOutcome, Error> {
        dispatch!(self, s => s.rotate(request))
    }
    async fn revoke_family(&self, family_id: &str, now: NumericDate) -> Result<bool, Error> {
        dispatch!(self, s => s.revoke_family(family_id, now))
    }
    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, Error> {
        dispatch!(self, s => s.revoke_subject(subject, now))
    }
    async fn deny_jti(&self, jti: &str, until: NumericDate) -> Result<(), Error> {
        dispatch!(self, s => s.deny_jti(jti, until))
    }
    async fn is_jti_denied(&self, jti: &str, now: NumericDate) -> Result<bool, Error> {
        dispatch!(self, s => s.is_jti_denied(jti, now))
    }
    async fn family(&self, family_id: &str) -> Result<Option<FamilyRecord>, Error> {
        dispatch!(self, s => s.family(family_id))
    }
    async fn purge_expired(&self, now: NumericDate) -> Result<u64, Error> {
        dispatch!(self, s => s.purge_expired(now))
    }
}
