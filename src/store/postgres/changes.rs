//! How processes sharing one database learn of each other's revocations, to keep their
//! online-check caches current: every function that ends a family or denylists a `jti`
//! runs `NOTIFY tok_changes` in its own transaction (delivered when, and only if, it
//! commits), and each store LISTENs on a connection of its own.
//!
//! NOTIFY reaches only connected listeners, so the cache never answers while this could
//! have missed a message: until LISTEN is confirmed, as soon as the connection ends, and
//! when a health ping goes unanswered, the cache stops serving (and drops everything); it
//! serves again, from nothing, once listening anew.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::{AsyncMessage, Connection, NoTls};

use crate::model::cache::{Change, OnlineCache};
use crate::store::postgres::tls::Connector;

/// How long the connection may stay quiet before a ping checks it is alive, and how long
/// connecting, LISTEN and that ping may take.
const HEALTH: Duration = Duration::from_secs(1);

/// The longest pause between attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The channel the schema's `tok_announce` notifies.
pub(super) const CHANNEL: &str = "tok_changes";

/// Listens for `cache` until the cache is dropped. Sends on `listening` once LISTEN is
/// first confirmed.
pub(super) async fn follow(
    config: tokio_postgres::Config,
    connector: Connector,
    cache: Weak<OnlineCache>,
    listening: tokio::sync::oneshot::Sender<()>,
) {
    // Whatever ends this task (a runtime shutting down drops it mid-await), the cache
    // must not go on serving without it.
    let _deaf_when_gone = DeafWhenGone(cache.clone());
    let mut listening = Some(listening);
    let mut backoff = Duration::from_millis(20);
    loop {
        if cache.strong_count() == 0 {
            return;
        }
        let Some((client, connection)) = listen(&config, &connector, &cache).await else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        };
        backoff = Duration::from_millis(20);
        // Serving starts only if the connection is still up: the driver marks it down
        // and the cache deaf under the same lock.
        {
            let up = connection.up.lock().unwrap_or_else(|p| p.into_inner());
            match cache.upgrade() {
                Some(cache) if *up => cache.set_serving(true),
                Some(_) => continue,
                None => return,
            }
        }
        if let Some(tx) = listening.take() {
            let _ = tx.send(());
        }
        loop {
            tokio::time::sleep(HEALTH).await;
            if cache.strong_count() == 0 {
                connection.driver.abort();
                return;
            }
            if connection.driver.is_finished() {
                break;
            }
            let pong = tokio::time::timeout(HEALTH, client.simple_query("")).await;
            if !matches!(pong, Ok(Ok(_))) {
                break;
            }
        }
        connection.driver.abort();
        match cache.upgrade() {
            Some(cache) => {
                tracing::warn!(target: "tok::store", "lost the PostgreSQL LISTEN connection; online checks read the store until it is back");
                metrics::counter!("tok_change_feed_losses_total", "backend" => "postgres")
                    .increment(1);
                cache.set_serving(false);
            }
            None => return,
        }
    }
}

/// A listening connection: its driver task and whether it is still up.
struct Listening {
    driver: tokio::task::JoinHandle<()>,
    up: Arc<Mutex<bool>>,
}

/// Connects, starts the task that reads notifications into `cache`, and LISTENs.
async fn listen(
    config: &tokio_postgres::Config,
    connector: &Connector,
    cache: &Weak<OnlineCache>,
) -> Option<(tokio_postgres::Client, Listening)> {
    let up = Arc::new(Mutex::new(true));
    let (client, driver) = match connector {
        Connector::Plain => {
            let (client, connection) = tokio::time::timeout(HEALTH, config.connect(NoTls))
                .await
                .ok()?
                .ok()?;
            (
                client,
                tokio::spawn(drive(connection, cache.clone(), Arc::clone(&up))),
            )
        }
        #[cfg(feature = "postgres-tls")]
        Connector::Tls(tls) => {
            let (client, connection) = tokio::time::timeout(HEALTH, config.connect(tls.clone()))
                .await
                .ok()?
                .ok()?;
            (
                client,
                tokio::spawn(drive(connection, cache.clone(), Arc::clone(&up))),
            )
        }
    };
    let listened =
        tokio::time::timeout(HEALTH, client.batch_execute(&format!("LISTEN {CHANNEL}"))).await;
    if !matches!(listened, Ok(Ok(()))) {
        driver.abort();
        return None;
    }
    Some((client, Listening { driver, up }))
}

/// Reads `connection`'s notifications into `cache` until it ends; then marks it down and
/// the cache deaf, under one lock.
async fn drive<S, T>(
    mut connection: Connection<S, T>,
    cache: Weak<OnlineCache>,
    driver_up: Arc<Mutex<bool>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(Ok(message)) = messages.next().await {
        if let AsyncMessage::Notification(n) = message {
            let Some(cache) = cache.upgrade() else {
                return;
            };
            cache.invalidate(&Change::from_message(n.payload()));
        }
    }
    // The connection ended: no message can arrive any more.
    let mut up = driver_up.lock().unwrap_or_else(|p| p.into_inner());
    *up = false;
    if let Some(cache) = cache.upgrade() {
        cache.set_serving(false);
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
