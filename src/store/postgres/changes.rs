//! How processes sharing one database learn of each other's revocations, to keep their
//! online-check caches current: every function that ends a family or denylists a `jti`
//! runs `NOTIFY tok_changes` in its own transaction (delivered when, and only if, it
//! commits), and each store LISTENs on a connection of its own.
//!
//! NOTIFY reaches only connected listeners, and a LISTEN connection can stay up while it no
//! longer hears the writes (a black-holed socket; a failover that sent the pool to the
//! promoted standby while the LISTEN connection stays on the old primary, which lives on).
//! So the connection is trusted only while it is *proven*: the follower sends a
//! heartbeat every [`PostgresOptions::heartbeat`](super::PostgresOptions::heartbeat), a
//! `NOTIFY` on a channel of this store's own sent through the pool (the path every
//! revocation takes), and the cache serves only while those come back on the LISTEN
//! connection. Until the first one arrives, as soon as the connection ends, and when none
//! has arrived for three intervals, the cache stops serving (and drops everything); the
//! follower then listens anew (on whichever server the URL now leads to) and serves
//! again, from nothing, once a heartbeat is back. A server delivers notifications in
//! commit order, so a heartbeat's arrival means every revocation it committed before has
//! arrived too.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Connection, NoTls};

use crate::model::cache::{Change, OnlineCache};
use crate::store::postgres::tls::Connector;

/// How long connecting and LISTEN may take.
const HEALTH: Duration = Duration::from_secs(1);

/// The longest pause between attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Heartbeat intervals that may pass without one arriving before the connection is taken
/// for lost (a margin for a busy scheduler).
const MISSED_BEATS: u32 = 3;

/// The channel the schema's `tok_announce` notifies.
pub(super) const CHANNEL: &str = "tok_changes";

/// Where and how often a follower proves its LISTEN connection.
pub(super) struct Heartbeat {
    /// This store's own channel (`tok_beat_RANDOM`): no other process listens on it.
    pub channel: String,
    /// How often a heartbeat is sent.
    pub every: Duration,
    /// The store's pool, which heartbeats are sent through.
    pub pool: Pool,
}

/// Listens for `cache` until the cache is dropped. Sends on `listening` once the first
/// LISTEN connection is proven (its first heartbeat arrived).
pub(super) async fn follow(
    config: tokio_postgres::Config,
    connector: Connector,
    beat: Heartbeat,
    cache: Weak<OnlineCache>,
    listening: tokio::sync::oneshot::Sender<()>,
) {
    // Whatever ends this task (a runtime shutting down drops it mid-await), the cache
    // must not go on serving without it.
    let _deaf_when_gone = DeafWhenGone(cache.clone());
    let mut listening = Some(listening);
    let mut backoff = Duration::from_millis(20);
    let deadline = beat.every * MISSED_BEATS;
    loop {
        if cache.strong_count() == 0 {
            return;
        }
        let Some((_client, connection)) = listen(&config, &connector, &beat.channel, &cache).await
        else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        };
        backoff = Duration::from_millis(20);
        let since = Instant::now();
        let mut serving = false;
        let mut ticker = tokio::time::interval(beat.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = connection.beats.notified() => {}
                _ = ticker.tick() => {}
            }
            if cache.strong_count() == 0 {
                connection.driver.abort();
                return;
            }
            if connection.driver.is_finished() {
                break;
            }
            let last = *connection
                .last_beat
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.unwrap_or(since).elapsed() > deadline {
                break;
            }
            if last.is_some() && !serving {
                // Proven. Serving starts only if the connection is still up: the driver
                // marks it down and the cache deaf under the same lock.
                let up = connection.up.lock().unwrap_or_else(|p| p.into_inner());
                match cache.upgrade() {
                    Some(cache) if *up => cache.set_serving(true),
                    Some(_) => break,
                    None => return,
                }
                serving = true;
                if let Some(tx) = listening.take() {
                    let _ = tx.send(());
                }
            }
            if last.is_none_or(|at| at.elapsed() >= beat.every / 2) {
                send(&beat);
            }
        }
        connection.driver.abort();
        match cache.upgrade() {
            Some(cache) => {
                tracing::warn!(target: "tok::store", "the PostgreSQL LISTEN connection stopped hearing this store's writes; online checks read the store until it is proven again");
                metrics::counter!("tok_change_feed_losses_total", "backend" => "postgres")
                    .increment(1);
                cache.set_serving(false);
            }
            None => return,
        }
    }
}

/// Sends one heartbeat through the pool, in a task of its own: a slow server must not
/// delay the follower's clock (the pool's timeouts bound the task).
fn send(beat: &Heartbeat) {
    let (pool, channel) = (beat.pool.clone(), beat.channel.clone());
    tokio::spawn(async move {
        if let Ok(client) = pool.get().await {
            let _ = client
                .execute("SELECT pg_notify($1, '')", &[&channel])
                .await;
        }
    });
}

/// A listening connection: its driver task and whether it is still up.
struct Listening {
    driver: tokio::task::JoinHandle<()>,
    up: Arc<Mutex<bool>>,
    /// When the last heartbeat arrived.
    last_beat: Arc<Mutex<Option<Instant>>>,
    /// Woken on each heartbeat.
    beats: Arc<Notify>,
}

/// What the driver task shares with the follower.
#[derive(Clone)]
struct Shared {
    cache: Weak<OnlineCache>,
    up: Arc<Mutex<bool>>,
    beat_channel: String,
    last_beat: Arc<Mutex<Option<Instant>>>,
    beats: Arc<Notify>,
}

/// Connects, starts the task that reads notifications into `cache`, and LISTENs.
async fn listen(
    config: &tokio_postgres::Config,
    connector: &Connector,
    beat_channel: &str,
    cache: &Weak<OnlineCache>,
) -> Option<(tokio_postgres::Client, Listening)> {
    let shared = Shared {
        cache: cache.clone(),
        up: Arc::new(Mutex::new(true)),
        beat_channel: beat_channel.to_owned(),
        last_beat: Arc::default(),
        beats: Arc::default(),
    };
    let (client, driver) = match connector {
        Connector::Plain => {
            let (client, connection) = tokio::time::timeout(HEALTH, config.connect(NoTls))
                .await
                .ok()?
                .ok()?;
            (client, tokio::spawn(drive(connection, shared.clone())))
        }
        #[cfg(feature = "postgres-tls")]
        Connector::Tls(tls) => {
            let (client, connection) = tokio::time::timeout(HEALTH, config.connect(tls.clone()))
                .await
                .ok()?
                .ok()?;
            (client, tokio::spawn(drive(connection, shared.clone())))
        }
    };
    // The heartbeat channel is random base64url: quoted, its case and `-` are kept.
    let statement = format!("LISTEN {CHANNEL}; LISTEN \"{beat_channel}\"");
    let listened = tokio::time::timeout(HEALTH, client.batch_execute(&statement)).await;
    if !matches!(listened, Ok(Ok(()))) {
        driver.abort();
        return None;
    }
    let listening = Listening {
        driver,
        up: shared.up,
        last_beat: shared.last_beat,
        beats: shared.beats,
    };
    Some((client, listening))
}

/// Reads `connection`'s notifications into `cache` until it ends; then marks it down and
/// the cache deaf, under one lock.
async fn drive<S, T>(mut connection: Connection<S, T>, shared: Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(Ok(message)) = messages.next().await {
        if let AsyncMessage::Notification(n) = message {
            let Some(cache) = shared.cache.upgrade() else {
                return;
            };
            if n.channel() == shared.beat_channel {
                *shared.last_beat.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                shared.beats.notify_one();
            } else {
                cache.invalidate(&Change::from_message(n.payload()));
            }
        }
    }
    // The connection ended: no message can arrive any more.
    let mut up = shared.up.lock().unwrap_or_else(|p| p.into_inner());
    *up = false;
    if let Some(cache) = shared.cache.upgrade() {
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
