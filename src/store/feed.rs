//! One follower for every backend whose change feed is a connection (Redis Pub/Sub,
//! PostgreSQL LISTEN): it connects, hears until the connection is lost or stops being
//! proven, and connects again with backoff, for as long as its listener lives. A backend
//! says only how to connect and how to hear ([`Link`]); how fast to retry, when the
//! listener is deaf, and the instruments an operator alerts on are here, once.
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `tok_change_feed_hearing` | gauge | `backend`, `store` | 1 while the store's feed is proven (its online cache answers), 0 while deaf |
//! | `tok_change_feed_heartbeat_seconds` | histogram | `backend`, `store` | each heartbeat's round trip (Redis: published on the command connection, back on the subscription; PostgreSQL: the same-server proof) |
//! | `tok_change_feed_losses_total` | counter | `backend`, `store` | deaf episodes: a proven feed lost |
//!
//! `store` names the store without credentials: the Redis key prefix, or PostgreSQL's
//! `host:port/database`.

use std::future::Future;
use std::sync::Weak;
use std::time::Duration;

use crate::model::change::{ChangeListener, Feed};

/// The longest pause between attempts to follow a feed again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The first pause after a failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

/// The listener a follower tells; weak, so that the follower ends with it.
pub(super) type Listener = Weak<dyn ChangeListener>;

/// How one backend connects its feed and hears on it.
pub(super) trait Link: Send + Sync + 'static {
    /// One connection of the feed.
    type Conn: Send;

    /// The warning logged when a proven feed is lost.
    const LOST: &'static str;

    /// Connects and subscribes; `None` when no address answered.
    fn open(&self, listener: &Listener) -> impl Future<Output = Option<Self::Conn>> + Send;

    /// No address answered (a backend that asks where to connect asks again).
    fn unreachable(&self) {}

    /// Tells `listener` what arrives on `conn` until the connection is lost or stops
    /// being proven; calls [`Proven::now`] when it is proven.
    fn hear(
        &self,
        conn: Self::Conn,
        listener: &Listener,
        proven: &mut Proven,
    ) -> impl Future<Output = Heard> + Send;
}

/// Why [`Link::hear`] returned.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Heard {
    /// The listener is gone: the follower ends.
    Gone,
    /// The connection closed, or stopped being proven.
    Lost,
}

/// Starts following `link` for `listener`; answers once the feed is proven or after
/// `wait` (the follower keeps trying meanwhile). The follower ends when the listener is
/// dropped, or at once when the answer is.
pub(super) async fn start<L: Link>(
    link: L,
    listener: Listener,
    metrics: FeedMetrics,
    wait: Duration,
) -> Feed {
    let (ready, proven) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(follow(link, listener, metrics, ready));
    let _ = tokio::time::timeout(wait, proven).await;
    Feed::Following(Box::new(AbortOnDrop(task)))
}

/// Ends the follower with the layer that keeps it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a link calls when its connection is proven.
pub(super) struct Proven {
    metrics: FeedMetrics,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
    /// Whether the current connection was proven.
    this_link: bool,
}

impl Proven {
    /// The connection is proven: from now on `listener` may answer.
    pub(super) fn now(&mut self, listener: &dyn ChangeListener) {
        listener.set_hearing(true);
        self.metrics.hearing(true);
        self.this_link = true;
        if let Some(tx) = self.ready.take() {
            let _ = tx.send(());
        }
    }

    /// One heartbeat came back after `round_trip`.
    pub(super) fn heartbeat(&self, round_trip: Duration) {
        self.metrics.heartbeat(round_trip);
    }
}

async fn follow<L: Link>(
    link: L,
    listener: Listener,
    metrics: FeedMetrics,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    // Whatever ends this task (a runtime shutting down drops it mid-await), the listener
    // must not go on answering without it.
    let _deaf_when_gone = DeafWhenGone(listener.clone(), metrics.clone());
    let mut proven = Proven {
        metrics,
        ready: Some(ready),
        this_link: false,
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        if listener.strong_count() == 0 {
            return;
        }
        let Some(conn) = link.open(&listener).await else {
            link.unreachable();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        };
        backoff = FIRST_BACKOFF;
        proven.this_link = false;
        if link.hear(conn, &listener, &mut proven).await == Heard::Gone {
            return;
        }
        let Some(alive) = listener.upgrade() else {
            return;
        };
        // A deaf episode is counted when a proven feed is lost, not for each failed
        // attempt during an outage.
        if proven.this_link {
            tracing::warn!(target: "tok::store", "{}", L::LOST);
            proven.metrics.lost();
        }
        alive.set_hearing(false);
        proven.metrics.hearing(false);
    }
}

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
    fn hearing(&self, hearing: bool) {
        metrics::gauge!("tok_change_feed_hearing", "backend" => self.backend, "store" => self.store.clone())
            .set(if hearing { 1.0 } else { 0.0 });
    }

    /// One heartbeat came back after `round_trip`.
    fn heartbeat(&self, round_trip: Duration) {
        metrics::histogram!("tok_change_feed_heartbeat_seconds", "backend" => self.backend, "store" => self.store.clone())
            .record(round_trip.as_secs_f64());
    }

    /// A proven feed was lost: the listener is deaf until the feed is proven again.
    fn lost(&self) {
        metrics::counter!("tok_change_feed_losses_total", "backend" => self.backend, "store" => self.store.clone())
            .increment(1);
        self.hearing(false);
    }
}

/// Stops the listener answering (and says so) when the follower ends, however it ends.
struct DeafWhenGone(Listener, FeedMetrics);

impl Drop for DeafWhenGone {
    fn drop(&mut self) {
        if let Some(listener) = self.0.upgrade() {
            listener.set_hearing(false);
        }
        self.1.hearing(false);
    }
}
