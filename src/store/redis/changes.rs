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

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::Conn;
use super::sentinel::Primary;
use crate::model::cache::{Change, OnlineCache};
use crate::store::feed::{DeafWhenGone, FIRST_BACKOFF, FeedMetrics, MAX_BACKOFF};

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
    /// The feed's instruments.
    pub metrics: FeedMetrics,
}

/// Where the follower subscribes.
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

/// Follows `channel` on the first of `nodes` that answers, for `cache`, until the cache
/// is dropped. Sends on `subscribed` once the first subscription is proven (its first
/// heartbeat arrived).
pub(super) async fn follow(
    nodes: Source,
    channel: String,
    beat: Heartbeat,
    cache: Weak<OnlineCache>,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    // Whatever ends this task (a runtime shutting down drops it mid-await), the cache
    // must not go on serving without it.
    let _deaf_when_gone = DeafWhenGone(cache.clone(), beat.metrics.clone());
    let mut subscribed = Some(subscribed);
    let mut backoff = FIRST_BACKOFF;
    loop {
        if cache.strong_count() == 0 {
            return;
        }
        let Some((sink, stream)) = subscribe(&nodes.clients(), &[&channel, &beat.channel]).await
        else {
            nodes.unreachable();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        };
        backoff = FIRST_BACKOFF;
        let heard = hear(stream, &beat, &cache, &mut subscribed).await;
        drop(sink);
        let Some(cache) = cache.upgrade() else {
            return;
        };
        // A deaf episode is counted when a proven feed is lost, not for each failed
        // attempt during an outage.
        if heard == Heard::Lost && cache.is_serving() {
            tracing::warn!(target: "tok::store", "the Redis change subscription stopped hearing this store's writes; online checks read the store until it is proven again");
            beat.metrics.lost();
        }
        cache.set_serving(false);
        beat.metrics.hearing(false);
    }
}

/// Why [`hear`] returned.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    /// The cache is gone: the follower ends.
    Gone,
    /// The subscription closed, or stopped bringing heartbeats back.
    Lost,
}

/// Applies what arrives on one subscription to the cache, publishing heartbeats and
/// serving only while they come back; returns when the subscription is lost.
async fn hear(
    mut stream: redis::aio::PubSubStream,
    beat: &Heartbeat,
    cache: &Weak<OnlineCache>,
    subscribed: &mut Option<tokio::sync::oneshot::Sender<()>>,
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
                let Some(cache) = cache.upgrade() else {
                    return Heard::Gone;
                };
                if msg.get_channel_name() == beat.channel {
                    // The payload is when the heartbeat left, in microseconds since
                    // this subscription began.
                    // this subscription began (one sent for an earlier subscription
                    // and late is not counted).
                    let sent = msg.get_payload::<String>().ok().and_then(|p| p.parse::<u64>().ok());
                    if let Some(round_trip) = sent.and_then(|s| since.elapsed().checked_sub(Duration::from_micros(s))) {
                        beat.metrics.heartbeat(round_trip);
                    }
                    if last_beat.is_none() {
                        // Proven: from now on the cache may answer.
                        cache.set_serving(true);
                        beat.metrics.hearing(true);
                        if let Some(tx) = subscribed.take() {
                            let _ = tx.send(());
                        }
                    }
                    last_beat = Some(Instant::now());
                    continue;
                }
                match msg.get_payload::<String>() {
                    Ok(text) => cache.invalidate(&Change::from_message(&text)),
                    Err(_) => cache.invalidate(&Change::Everything),
                }
            }
            _ = ticker.tick() => {
                let Some(cache) = cache.upgrade() else {
                    return Heard::Gone;
                };
                if last_beat.unwrap_or(since).elapsed() > deadline {
                    return Heard::Lost;
                }
                drop(cache);
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
