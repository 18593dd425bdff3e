//! Where refresh-token families live: the backends of the [`Store`] trait (one file or
//! folder each), opened by URL with [`open`]. The trait and its request and outcome types
//! are defined in the session model (`src/model/store.rs`) and re-exported here.
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
    Created, DENYLIST_RETENTION, LogoutRequest, MAX_LISTED, OnlineQuery, OnlineState, PURGE_MARGIN,
    RotationOutcome, RotationRequest, Store, Verdict, listed, purge_horizon,
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
