//! What the Redis and PostgreSQL change-feed followers share: how fast they retry, the
//! guard that makes a cache deaf when its follower ends, and the instruments an operator
//! alerts on.
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `tok_change_feed_hearing` | gauge | `backend`, `store` | 1 while the store's feed is proven (its online cache answers), 0 while deaf |
//! | `tok_change_feed_heartbeat_seconds` | histogram | `backend`, `store` | each heartbeat's round trip (Redis: published on the command connection, back on the subscription; PostgreSQL: the same-server proof) |
//! | `tok_change_feed_losses_total` | counter | `backend`, `store` | deaf episodes: a proven feed lost |
//!
//! `store` names the store without credentials: the Redis key prefix, or PostgreSQL's
//! `host:port/database`.

use std::sync::Weak;
use std::time::Duration;

use crate::model::cache::OnlineCache;

/// The longest pause between attempts to follow a feed again.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The first pause after a failed attempt.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(20);

/// The instruments of one store's feed.
#[derive(Clone)]
pub(super) struct FeedMetrics {
    backend: &'static str,
    store: String,
}

impl FeedMetrics {
    pub(super) fn new(backend: &'static str, store: impl Into<String>) -> Self {
        Self {
            backend,
            store: store.into(),
        }
    }

    /// The feed is proven (`true`) or deaf.
    pub(super) fn hearing(&self, hearing: bool) {
        metrics::gauge!("tok_change_feed_hearing", "backend" => self.backend, "store" => self.store.clone())
            .set(if hearing { 1.0 } else { 0.0 });
    }

    /// One heartbeat came back after `round_trip`.
    pub(super) fn heartbeat(&self, round_trip: Duration) {
        metrics::histogram!("tok_change_feed_heartbeat_seconds", "backend" => self.backend, "store" => self.store.clone())
            .record(round_trip.as_secs_f64());
    }

    /// A proven feed was lost: the cache is deaf until the feed is proven again.
    pub(super) fn lost(&self) {
        metrics::counter!("tok_change_feed_losses_total", "backend" => self.backend, "store" => self.store.clone())
            .increment(1);
        self.hearing(false);
    }
}

/// Stops the cache serving (and says so) when the follower ends, however it ends (a
/// runtime shutting down drops the task mid-await).
pub(super) struct DeafWhenGone(pub Weak<OnlineCache>, pub FeedMetrics);

impl Drop for DeafWhenGone {
    fn drop(&mut self) {
        if let Some(cache) = self.0.upgrade() {
            cache.set_serving(false);
        }
        self.1.hearing(false);
    }
}
