//! The session model: what a store keeps per session and the rules that decide every
//! presented refresh token, with no I/O. Everything above (store backends, `Sessions`,
//! the web layer, the CLI) imports from here; nothing here imports from above.
//!
//! - [`token`]: the refresh-token format, derived from a key and a per-family nonce;
//! - [`family`]: the family record and every rule a store applies (rotation, grace,
//!   lifetimes, logout), written once;
//! - [`login`]: what a family records of its user's login (recent login, remember-me);
//! - [`store`]: the [`Store`](store::Store) trait, with its requests and outcomes;
//! - [`online`]: what an online check asks a store and what it answers;
//! - [`resolve`]: a whole rotation or logout as a store's atomic step runs it;
//! - [`change`]: what a store's writes change for online checks, and its change feed;
//! - [`secrets`]: family secrets remembered by stores that check tags before their
//!   server-side step.
//!
//! The public paths are `tok::refresh::{family, login, token}` and `tok::store` (the trait and
//! `resolve_*`).

pub mod change;
pub mod family;
pub mod login;
pub mod online;
pub mod resolve;
#[cfg(any(feature = "redis", feature = "postgres"))]
pub mod secrets;
pub mod store;
pub mod token;
