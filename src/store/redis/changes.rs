//! How processes sharing one Redis learn of each other's revocations, to keep their
//! online-check caches current: every script that ends a family or denylists a `jti`
//! publishes a message on the channel `PREFIX:changes` in the same atomic step, and each
//! store follows that channel on a connection of its own.
//!
//! Pub/Sub delivers only to connected subscribers, so the follower never lets a cache
//! answer while it could have missed a message: until the subscription is confirmed,
//! whenever the connection drops, and when a health ping goes unanswered, the cache stops
//! serving (and drops everything); it serves again, from nothing, once subscribed anew.
//! On Redis Cluster, messages published on any node reach subscribers of every node; the
//! follower subscribes on the first seed node that answers.

use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;

use crate::model::cache::{Change, OnlineCache};

/// How long the subscription may stay quiet before a ping checks it is alive, and how
/// long that ping may take.
const HEALTH: Duration = Duration::from_secs(1);

/// The longest pause between attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The message announcing `change` (the model's one format, shared with PostgreSQL).
pub(super) fn message(change: &Change) -> String {
    change.to_message()
}

/// Follows `channel` on the first of `nodes` that answers, for `cache`, until the cache
/// is dropped. Sends on `subscribed` once the first subscription is confirmed.
pub(super) async fn follow(
    nodes: Vec<redis::Client>,
    channel: String,
    cache: Weak<OnlineCache>,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    // Whatever ends this task (a runtime shutting down drops it mid-await), the cache
    // must not go on serving without it.
    let _deaf_when_gone = DeafWhenGone(cache.clone());
    let mut subscribed = Some(subscribed);
    let mut backoff = Duration::from_millis(20);
    loop {
        if cache.strong_count() == 0 {
            return;
        }
        let Some((mut sink, mut stream)) = subscribe(&nodes, &channel).await else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        };
        backoff = Duration::from_millis(20);
        match cache.upgrade() {
            Some(cache) => cache.set_serving(true),
            None => return,
        }
        if let Some(tx) = subscribed.take() {
            let _ = tx.send(());
        }
        loop {
            match tokio::time::timeout(HEALTH, stream.next()).await {
                Ok(Some(msg)) => {
                    let Some(cache) = cache.upgrade() else {
                        return;
                    };
                    match msg.get_payload::<String>() {
                        Ok(text) => cache.invalidate(&Change::from_message(&text)),
                        Err(_) => cache.invalidate(&Change::Everything),
                    }
                }
                // The connection is gone.
                Ok(None) => break,
                Err(_) => {
                    if cache.strong_count() == 0 {
                        return;
                    }
                    let pong = tokio::time::timeout(HEALTH, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        match cache.upgrade() {
            Some(cache) => {
                tracing::warn!(target: "tok::store", "lost the Redis change subscription; online checks read the store until it is back");
                metrics::counter!("tok_change_feed_losses_total", "backend" => "redis")
                    .increment(1);
                cache.set_serving(false);
            }
            None => return,
        }
    }
}

/// Stops the cache serving when the follower ends.
struct DeafWhenGone(Weak<OnlineCache>);

impl Drop for DeafWhenGone {
    fn drop(&mut self) {
        if let Some(cache) = self.0.upgrade() {
            cache.set_serving(false);
        }
    }
}

async fn subscribe(
    nodes: &[redis::Client],
    channel: &str,
) -> Option<(redis::aio::PubSubSink, redis::aio::PubSubStream)> {
    for node in nodes {
        let attempt = async {
            let mut pubsub = node.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(pubsub.split())
        };
        if let Ok(Ok(split)) = tokio::time::timeout(HEALTH, attempt).await {
            return Some(split);
        }
    }
    None
}
