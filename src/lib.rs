//! # tok
//!
//! Strict, fast HMAC-SHA256 signed tokens (JWT, RFC 7519, in RFC 7515 compact form).
//!
//! - One algorithm, HS256, fixed by the key and checked before any MAC work: `alg` is
//!   never taken from the token.
//! - Strict parsing: canonical base64url only, exactly three segments, no duplicate JSON
//!   members, `crit` refused, NumericDates that are numbers within range.
//! - Strict validation by default ([`Validation`]): `exp` required and `exp == now`
//!   already expired, audience checked per RFC 7519 §4.1.3, every loosening named.
//! - Keys ([`HmacKey`], [`KeySet`]) checked at construction (≥ 256 bits), zeroized,
//!   redacted in `Debug`, with JWK import/export and rotation by `kid`.
//! - One error type ([`Error`]) whose [`ErrorKind`] has a stable code per kind.
//! - With feature `refresh`: rotating refresh tokens with reuse detection, revocation and
//!   shared stores ([`refresh`], [`store`]; `sqlite` adds the SQLite backend).
//!
//! Where things live, from the bottom up (each layer imports only those below it):
//! - the JWT core, in this folder's files: encoding, keys, header, claims, validation,
//!   sign/verify, errors;
//! - `model/`: the session model with no I/O — the refresh-token format, the family record
//!   and every rule a store applies (a new rule goes here), the `Store` trait, and the
//!   online-check cache stores keep current;
//! - `store/`: the backends (a new store goes here, a folder once it has more than one
//!   concern) and [`store::open`], which picks one by URL;
//! - `refresh/`: [`refresh::Sessions`] and the online check, what an application calls;
//! - `bearer/`: the one path a request's bearer token takes (credential, verification,
//!   refusal), shared by `web/` and `tower/`;
//! - `web/` (feature `axum`): extractors, the session router and its flows (a new route
//!   goes here); `tower/` (feature `tower`): the bearer layer for any tower service, gRPC
//!   included; `bin/cli/`: the `tok` command, one file per command.
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

pub use claims::{Audience, ClaimString, Claims, NoCustomClaims, REGISTERED};
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
/// code.
#[cfg(all(doctest, feature = "axum", feature = "cli"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
