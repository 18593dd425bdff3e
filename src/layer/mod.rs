//! What wraps a store without being one: layers written once for every backend, in the
//! way of tower's `Layer` and tower-sessions' `CachingSessionStore`. A backend implements
//! its atomic steps and its change feed; everything else a store call needs on its way
//! lives here.
//!
//! - [`Cached`]: answers online checks from memory, kept current by the invalidation rule
//!   (applied once, from the operation and its outcome) and by the store's change feed;
//! - `Timed` (inside [`Sessions`](crate::refresh::Sessions)): times every store call a
//!   session flow makes, by backend and operation.

mod cached;
mod online_cache;
pub(crate) mod timed;

pub use cached::Cached;
pub use online_cache::{DEFAULT_CACHE_CAPACITY, OnlineCache};
