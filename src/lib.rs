//! # tok
//!
//! Strict, fast HMAC-SHA256 signed tokens (JWT, RFC 7519, in RFC 7515 compact form), with
//! the server-side half plain JWT libraries leave out: rotating refresh tokens with reuse
//! detection, revocation that takes effect at once, and stores every server behind a load
//! balancer shares.
//!
//! ```
//! use std::time::Duration;
//! use tok::{Claims, HmacKey, NumericDate, Validation};
//!
//! let key = HmacKey::generate()?;
//! let now = NumericDate::now();
//! let token = tok::sign(&key, &Claims::default()
//!     .with_subject("user-42")
//!     .with_issuer("https://auth.example")
//!     .expires_after(now, Duration::from_secs(900)))?;
//!
//! let validation = Validation::new().with_issuer("https://auth.example");
//! let verified = tok::verify::<()>(&key, &token, &validation)?;
//! assert_eq!(verified.claims.sub.as_deref(), Some("user-42"));
//! # Ok::<(), tok::Error>(())
//! ```
//!
//! # Where to go next
//!
//! - Signing and verifying: [`sign`], [`verify`], [`Validation`] (strict by default:
//!   `exp` required, `exp == now` already expired, every loosening a named call), keys
//!   ([`HmacKey`], [`KeySet`]: rotation by `kid`), errors ([`Error`], whose
//!   [`ErrorKind`] has a stable code).
//! - Sessions (feature `refresh`): [`refresh::Sessions`] issues, rotates and revokes
//!   sessions and checks access tokens online; [`store`] opens the store they live in by
//!   URL; [`layer::Cached`] answers online checks from memory, kept current.
//! - Web services: [`web`] (feature `axum`: extractors, a session router, hardened
//!   cookies) and [`tower`] (feature `tower`: a bearer layer for tonic or any tower
//!   service).
//! - The guides in the repository's `docs/` folder: sessions and their guarantees, web
//!   and cookies, the HTTP reference, stores and operations, the security model,
//!   performance.
//!
//! # Feature flags
//!
//! None by default: the core needs no runtime, no store and no clap.
//!
//! | feature | adds |
//! |---|---|
//! | `refresh` | sessions: rotation, revocation, the [`Store`](store::Store) trait, the memory store, the online-check cache |
//! | `sqlite` | the embedded SQLite store |
//! | `redis` | the Redis store (one node, Sentinel, Cluster) |
//! | `postgres` | the PostgreSQL store; `postgres-tls` adds TLS on rustls |
//! | `axum` | the web layer |
//! | `tower` | the tower bearer layer |
//! | `cli` | the `tok` command-line tool, with every store |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

// Internal surface the CLI, fuzz targets and tests reach; not for applications.
#[doc(hidden)]
pub mod base64url;
#[cfg(any(feature = "axum", feature = "tower"))]
mod bearer;
mod claims;
mod error;
mod header;
pub mod insecure;
mod json;
mod jws;
mod key;
mod keyset;
#[cfg(feature = "refresh")]
pub mod layer;
mod mac;
#[cfg(feature = "refresh")]
mod model;
mod numeric_date;
#[doc(hidden)]
pub mod random;
#[cfg(feature = "refresh")]
pub mod refresh;
#[cfg(feature = "refresh")]
pub mod store;
#[cfg(feature = "tower")]
pub mod tower;
mod validation;
#[cfg(feature = "axum")]
pub mod web;

pub use claims::{Audience, ClaimString, Claims, LOGIN_CLAIMS, NoCustomClaims, REGISTERED};
pub use error::{Error, ErrorKind};
pub use header::{ALGORITHM, DEFAULT_TYPE, Header};
pub use json::from_json_strict;
pub use jws::{Verified, sign, sign_with_type, verify, verify_at};
pub use key::{GENERATED_KEY_BYTES, HmacKey, MIN_KEY_BYTES};
pub use keyset::{KeySet, VerifyingKeys};
pub use numeric_date::NumericDate;
pub use validation::{DEFAULT_MAX_TOKEN_LEN, DEFAULT_NOT_BEFORE_LEEWAY, Validation};

/// README.md's Rust snippets, compiled and run as doctests (with every feature, since
/// they show sessions, stores and the web layer), so that README cannot drift from the
/// code; the guides' below.
#[cfg(all(doctest, feature = "axum", feature = "cli"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The guides' Rust snippets (`docs/`), as doctests, like README's.
#[cfg(all(doctest, feature = "axum", feature = "cli"))]
#[doc = include_str!("../docs/tokens.md")]
#[doc = include_str!("../docs/sessions.md")]
#[doc = include_str!("../docs/web.md")]
pub struct GuideDoctests;
