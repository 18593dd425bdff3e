//! How processes sharing one Redis learn of each other's revocations, to keep their
//! online-check caches current: every script that ends a family or denylists a `jti`
//! publishes a message on the channel `PREFIX:changes` in the same atomic step, and each
//! store follows that channel on a connection of its own.
//!
//! Pub/Sub delivers only to connected subscribers, and a subscription can go on answering
//! while it no longer hears the writes (a black-holed socket, or a failover that moved
//! the command connection to the promoted replica while the subscription stays on the
//! old primary, which lives on). So a subscription is trusted only while it is *proven*:
//! the follower publishes a heartbeat every [`RedisOptions::heartbeat`] through the store's
//! command connection (the path every revocation takes) on a channel of this store's own,
//! and the cache serves only while those heartbeats come back on the subscription. Until
//! the first one arrives, whenever the connection drops, and when none has arrived for
//! three intervals (a margin for a busy scheduler), the cache stops serving (and drops everything); the follower then
//! subscribes anew (through the same address, so it reaches wherever the command
//! connection now goes) and serves again, from nothing, once a heartbeat is back. Redis
//! delivers one server's messages to a subscriber in order, so a heartbeat's arrival means
//! every revocation published before it on that server has arrived too.
//!
//! On Redis Cluster, messages published on any node reach subscribers of every node; the
//! follower subscribes on the first seed node that answers.
//!
//! [`RedisOptions::heartbeat`]: super::RedisOptions::heartbeat

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::Conn;
use super::sentinel::Primary;
use crate::model::change::Change;
use crate::store::feed::{Heard, Link, Listener, Proven};

/// How long subscribing to one node may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How many heartbeat intervals may pass without one arriving before the subscription is
/// taken for lost: a write published just after the last heartbeat that came back is
/// missed for at most about this many intervals, plus one.
const MISSED_BEATS: u32 = 3;

/// The message announcing `change` (the model's one format, shared with PostgreSQL).
pub(super) fn message(change: &Change) -> String {
    change.to_message()
}

/// Where and how often a follower proves its subscription.
pub(super) struct Heartbeat {
    /// This store's own channel (`PREFIX:beat:RANDOM`): no other process receives it.
    pub channel: String,
    /// How often a heartbeat is published.
    pub every: Duration,
    /// The store's command connection, which heartbeats are published through.
    pub conn: Conn,
}

/// A store's feed: where it subscribes, to which channel, and how it proves it.
pub(super) struct RedisFeed {
    /// Where to subscribe.
    pub source: Source,
    /// The channel every process's writes are announced on.
    pub channel: String,
    /// How the subscription is proven.
    pub beat: Heartbeat,
}

/// Where the follower subscribes.
#[derive(Clone)]
pub(super) enum Source {
    /// The first of these that answers (one node, or Redis Cluster's seeds).
    Nodes(Vec<redis::Client>),
    /// The primary Redis Sentinel names at the time of subscribing.
    Sentinel(Arc<Primary>),
}

impl Source {
    fn clients(&self) -> Vec<redis::Client> {
        match self {
            Source::Nodes(nodes) => nodes.clone(),
            Source::Sentinel(primary) => vec![primary.client()],
        }
    }

    /// None of the clients could be subscribed through.
    fn unreachable(&self) {
        if let Source::Sentinel(primary) = self {
            primary.suspect();
        }
    }
}

impl Link for RedisFeed {
    type Conn = (redis::aio::PubSubSink, redis::aio::PubSubStream);

    const LOST: &'static str = "the Redis change subscription stopped hearing this store's writes; online checks read the store until it is proven again";

    async fn open(&self, _: &Listener) -> Option<Self::Conn> {
        subscribe(&self.source.clients(), &[&self.channel, &self.beat.channel]).await
    }

    fn unreachable(&self) {
        self.source.unreachable();
    }

    async fn hear(
        &self,
        (sink, stream): Self::Conn,
        listener: &Listener,
        proven: &mut Proven,
    ) -> Heard {
        let heard = hear(stream, &self.beat, listener, proven).await;
        drop(sink);
        heard
    }
}

/// Tells the listener what arrives on one subscription, publishing heartbeats and
/// proving the feed only while they come back; returns when the subscription is lost.
async fn hear(
    mut stream: redis::aio::PubSubStream,
    beat: &Heartbeat,
    listener: &Listener,
    proven: &mut Proven,
) -> Heard {
    let deadline = beat.every * MISSED_BEATS;
    let mut ticker = tokio::time::interval(beat.every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let since = Instant::now();
    let mut last_beat: Option<Instant> = None;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else {
                    return Heard::Lost;
                };
                let Some(listener) = listener.upgrade() else {
                    return Heard::Gone;
                };
                if msg.get_channel_name() == beat.channel {
                    // The payload is when the heartbeat left, in microseconds since
                    // this subscription began (one sent for an earlier subscription
                    // and late is not counted).
                    let sent = msg.get_payload::<String>().ok().and_then(|p| p.parse::<u64>().ok());
                    if let Some(round_trip) = sent.and_then(|s| since.elapsed().checked_sub(Duration::from_micros(s))) {
                        proven.heartbeat(round_trip);
                    }
                    if last_beat.is_none() {
                        // Proven: from now on the listener may answer.
                        proven.now(&*listener);
                    }
                    last_beat = Some(Instant::now());
                    continue;
                }
                match msg.get_payload::<String>() {
                    Ok(text) => listener.changed(&Change::from_message(&text)),
                    Err(_) => listener.changed(&Change::Everything),
                }
            }
            _ = ticker.tick() => {
                if listener.strong_count() == 0 {
                    return Heard::Gone;
                }
                if last_beat.unwrap_or(since).elapsed() > deadline {
                    return Heard::Lost;
                }
                publish(beat, since.elapsed());
            }
        }
    }
}

/// Publishes one heartbeat through the command connection, in a task of its own: a slow
/// reply must not delay the follower's clock (the connection's own response timeout
/// bounds the task).
fn publish(beat: &Heartbeat, at: Duration) {
    let mut cmd = redis::cmd("PUBLISH");
    cmd.arg(&beat.channel).arg(at.as_micros() as u64);
    let conn = beat.conn.clone();
    tokio::spawn(async move {
        let _: redis::RedisResult<i64> = conn.query(&cmd).await;
    });
}

async fn subscribe(
    nodes: &[redis::Client],
    channels: &[&str],
) -> Option<(redis::aio::PubSubSink, redis::aio::PubSubStream)> {
    for node in nodes {
        let attempt = async {
            let mut pubsub = node.get_async_pubsub().await?;
            pubsub.subscribe(channels).await?;
            Ok::<_, redis::RedisError>(pubsub.split())
        };
        if let Ok(Ok(split)) = tokio::time::timeout(SUBSCRIBE_TIMEOUT, attempt).await {
            return Some(split);
        }
    }
    None
}
