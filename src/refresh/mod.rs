//! Sessions: short-lived access tokens plus rotating refresh tokens whose families live in
//! a shared store.
//!
//! One word for users: a **session** is one login on one device (a row of the devices
//! page). It is stored as a refresh-token **family** (the chain of refresh tokens it has
//! minted), and its id, [`TokenPair::session_id`], is the family's id and the access
//! token's `sid`. Application code says session ([`Sessions::revoke_session`],
//! [`RefreshPolicy::with_session_lifetime`], [`SessionInfo`]); "family" is the storage
//! word that store code and the rules in [`family`] use.
//!
//! Follows RFC 9700 §2.2.2 and §4.14 and RFC 6749 §6, §10.4: every refresh rotates the
//! token; presenting a retired token revokes the whole family (a stolen token dies with the
//! legitimate one); sessions have an absolute and an idle lifetime; a session may be bound
//! to a client fingerprint; sessions can be ended one by one (with a refresh token the
//! session minted, or by id), per subject, and per access token (`jti`).
//!
//! The parts, each using only those listed after it:
//! - [`Sessions`] (with [`RefreshPolicy`] and [`TokenPair`]): what an application calls;
//! - [`crate::store`]: the [`Store`](crate::store::Store) trait and its backends;
//! - [`family`]: the family record and the pure rules every backend applies;
//! - [`login`]: what a family records of its user's login (when, how, remembered or
//!   not), for recent-login checks and remember-me;
//! - [`token`]: the refresh-token format, derived from a key and a per-family nonce, so
//!   that a family's storage stays constant however often it rotates.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tok::Error> {
//! use tok::refresh::{RefreshPolicy, Sessions};
//! use tok::store::MemoryStore;
//!
//! let keys = tok::KeySet::new(tok::HmacKey::generate()?);
//! let sessions = Sessions::new(MemoryStore::new(), keys, RefreshPolicy::default());
//! let first = sessions.issue("user-42", &serde_json::json!({"role": "user"}), None).await?;
//! let second = sessions.rotate(&first.refresh_token, None).await?;
//! // The first refresh token is now retired: presenting it again revokes the family.
//! let err = sessions.rotate(&first.refresh_token, None).await.unwrap_err();
//! assert_eq!(err.kind(), tok::ErrorKind::RefreshReused);
//! let err = sessions.rotate(&second.refresh_token, None).await.unwrap_err();
//! assert_eq!(err.kind(), tok::ErrorKind::Revoked);
//! # Ok(())
//! # }
//! ```

// `Sessions`' methods are documented in the order of these modules (each holds an
// `impl Sessions` block): what every application calls first, then online checks,
// revocation, and a devices page.
mod sessions;

mod online;

mod revoke;

mod devices;

mod key_usage;

mod key_file;
pub(crate) mod live_keys;

mod claims;
mod login_details;
mod metrics;
mod pair;
mod policy;
mod reauthenticate;
mod refusal;

pub use crate::model::{family, login, token};
pub use online::{GENERATION_CLAIM, SESSION_CLAIM, check_online, minted_at, session_id};

pub use devices::SessionInfo;
pub use key_file::{KEY_FILE_POLL, KeyFile, Watching};
pub use key_usage::{KeyCount, KeyUsage};
pub use live_keys::{LiveKeys, SessionKeys};
pub use login_details::LoginDetails;
pub use pair::TokenPair;
pub use policy::{MAX_GRACE, RefreshPolicy};
pub use sessions::{Clock, Fingerprint, Sessions};
