//! Where sessions live: the backends of the [`Store`] trait, opened by URL.
//!
//! | URL | backend | feature |
//! |---|---|---|
//! | `memory:` | [`MemoryStore`]: one process, for tests | `refresh` |
//! | `sqlite:PATH` | [`SqliteStore`]: the processes of one host | `sqlite` |
//! | `redis://…`, `redis+sentinel://…`, `redis+cluster://…` | [`RedisStore`] | `redis` |
//! | `postgres://…` | [`PostgresStore`] | `postgres` |
//!
//! Most applications open one by URL and put it in the cache layer, which answers
//! online checks from memory and keeps them current through the store's change feed:
//!
//! ```no_run
//! # async fn run() -> Result<(), tok::Error> {
//! use tok::refresh::{RefreshPolicy, Sessions};
//! let store = tok::layer::Cached::open("sqlite:/var/lib/app/tok.db").await?;
//! let keys = tok::KeySet::new(tok::HmacKey::generate()?);
//! let sessions = Sessions::new(store, keys, RefreshPolicy::default());
//! # Ok(()) }
//! ```
//!
//! [`open`] returns an [`AnyStore`] without the layer; [`open_shared`] refuses `memory:`
//! (a store other processes cannot reach), as the CLI does. Each backend's module says
//! what its URL takes (timeouts, pool sizes, waiting for replicas, TLS).
//!
//! # Writing a store
//! A backend keeps, per family, one [`FamilyRecord`](crate::refresh::family::FamilyRecord) (constant size: no token or token
//! hash is ever stored), a subject index for [`Store::revoke_subject`], and a denylist of
//! access-token ids. For a rotation it must, atomically:
//! 1. load the family (absent: [`Refusal::Unknown`](crate::refresh::family::Refusal)) and
//!    check the presented token with
//!    [`PresentedToken::is_minted_by`](crate::refresh::token::PresentedToken::is_minted_by);
//! 2. run [`decide`](crate::refresh::family::decide) and persist what
//!    [`apply`](crate::refresh::family::apply) returns;
//! 3. answer with the [`RotationOutcome`].
//!
//! A backend that runs Rust in its atomic step does all three with one call of
//! [`resolve_rotation`] (and logouts with
//! [`resolve_logout`]); one that cannot (a Lua
//! script, SQL) mirrors those functions and names them. Failures are
//! [`Error::store`](crate::Error::store). The conformance suite
//! (`tests/store_conformance.rs`) is one macro that every backend instantiates.

#[cfg(any(feature = "redis", feature = "postgres"))]
mod feed;
pub mod memory;
mod open;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod url;

pub use crate::model::change::{Change, ChangeListener, Feed, SubjectDigest, subject_digest};
pub use crate::model::resolve::{Resolved, resolve_logout, resolve_rotation};
pub use crate::model::store::{
    Created, DENYLIST_RETENTION, FamiliesByKey, LogoutRequest, MAX_LISTED, OnlineQuery,
    OnlineState, PURGE_MARGIN, RotationOutcome, RotationRequest, Store, Verdict, count_by_key,
    listed, purge_horizon,
};
pub use memory::MemoryStore;
pub use open::{AnyStore, open, open_shared};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, RedisStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{DEFAULT_POOL_SIZE, Durability, SqliteStore};
#[doc(hidden)]
pub use url::redact_url;
