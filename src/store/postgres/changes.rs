//! How processes sharing one database learn of each other's revocations, to keep their
//! online-check caches current: every function that ends a family or denylists a `jti`
//! runs `NOTIFY tok_changes` in its own transaction (delivered when, and only if, it
//! commits), and each store LISTENs on a connection of its own.
//!
//! NOTIFY reaches only connected listeners, and a LISTEN connection can stay up while it no
//! longer hears the writes (a black-holed socket; a failover that sent the pool to the
//! promoted standby while the LISTEN connection stays on the old primary, which lives on).
//! So the connection is trusted only while it is *proven*, every
//! [`PostgresOptions::heartbeat`](super::PostgresOptions::heartbeat): it must answer a
//! query (its socket carries messages both ways; notifications already queued for it are
//! sent before the answer), and it must be on the very server the pool writes to (the same
//! postmaster: its start time and port, asked on both). The cache serves only from the
//! first proof on and only while they keep succeeding; a proof that fails or takes longer
//! than two intervals, and the connection ending, stop it (everything is dropped) and the
//! follower listens anew, through the same address, and serves again once proven.
//!
//! Why not a NOTIFY of the store's own, sent through the pool and heard on the LISTEN
//! connection, as on Redis: PostgreSQL wakes every listening backend of the database for
//! every NOTIFY, so with 64 processes at 5 heartbeats a second the server spent 87 % of a
//! core on them (`heartbeat_cost` example); the proof above costs two trivial queries.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::{AsyncMessage, Connection, NoTls};

use crate::model::cache::{Change, OnlineCache};
use crate::store::feed::{DeafWhenGone, FIRST_BACKOFF, FeedMetrics, MAX_BACKOFF};
use crate::store::postgres::tls::Connector;

/// How long connecting and LISTEN may take.
const HEALTH: Duration = Duration::from_secs(1);

/// How many heartbeat intervals one proof may take (a margin for a busy scheduler).
const PROOF_INTERVALS: u32 = 2;

/// The server a connection is on: its postmaster's start time and its port.
const WHICH_SERVER: &str =
    "SELECT pg_postmaster_start_time()::text || '/' || coalesce(inet_server_port(), 0)::text";

/// The channel the schema's `tok_announce` notifies.
pub(super) const CHANNEL: &str = "tok_changes";

/// How often a follower proves its LISTEN connection, and the pool it compares with.
pub(super) struct Heartbeat {
    /// How often the proof runs.
    pub every: Duration,
    /// The store's pool, on whose server the LISTEN connection must be.
    pub pool: Pool,
    /// The feed's instruments.
    pub metrics: FeedMetrics,
}

/// Listens for `cache` until the cache is dropped. Sends on `listening` once the first
/// LISTEN connection is proven.
pub(super) async fn follow(
    config: tokio_postgres::Config,
    connector: Connector,
    beat: Heartbeat,
    cache: Weak<OnlineCache>,
    listening: tokio::sync::oneshot::Sender<()>,
) {
    // Whatever ends this task (a runtime shutting down drops it mid-await), the cache
    // must not go on serving without it.
    let _deaf_when_gone = DeafWhenGone(cache.clone(), beat.metrics.clone());
    let mut listening = Some(listening);
    let mut backoff = FIRST_BACKOFF;
    loop {
        if cache.strong_count() == 0 {
            return;
        }
        let Some((client, connection)) = listen(&config, &connector, &cache).await else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        };
        backoff = FIRST_BACKOFF;
        let mut serving = false;
        let mut ticker = tokio::time::interval(beat.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if cache.strong_count() == 0 {
                connection.driver.abort();
                return;
            }
            if connection.driver.is_finished() || !proven(&client, &beat).await {
                break;
            }
            if !serving {
                // Serving starts only if the connection is still up: the driver marks it
                // down and the cache deaf under the same lock.
                let up = connection.up.lock().unwrap_or_else(|p| p.into_inner());
                match cache.upgrade() {
                    Some(cache) if *up => {
                        cache.set_serving(true);
                        beat.metrics.hearing(true);
                    }
                    Some(_) => break,
                    None => return,
                }
                serving = true;
                if let Some(tx) = listening.take() {
                    let _ = tx.send(());
                }
            }
        }
        connection.driver.abort();
        match cache.upgrade() {
            Some(cache) => {
                if serving {
                    tracing::warn!(target: "tok::store", "the PostgreSQL LISTEN connection is lost or no longer on the server the pool writes to; online checks read the store until it is proven again");
                    beat.metrics.lost();
                }
                cache.set_serving(false);
                beat.metrics.hearing(false);
            }
            None => return,
        }
    }
}

/// Whether the LISTEN connection answers, within the proof's time, from the server the
/// pool writes to.
async fn proven(client: &tokio_postgres::Client, beat: &Heartbeat) -> bool {
    let start = std::time::Instant::now();
    let proof = async {
        let listener: String = client.query_one(WHICH_SERVER, &[]).await.ok()?.get(0);
        let pooled = beat.pool.get().await.ok()?;
        let writer: String = pooled.query_one(WHICH_SERVER, &[]).await.ok()?.get(0);
        Some(listener == writer)
    };
    let proven = matches!(
        tokio::time::timeout(beat.every * PROOF_INTERVALS, proof).await,
        Ok(Some(true))
    );
    if proven {
        beat.metrics.heartbeat(start.elapsed());
    }
    proven
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
