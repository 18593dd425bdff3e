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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::{AsyncMessage, Connection, NoTls};

use crate::model::change::Change;
use crate::store::feed::{Heard, Link, Listener, Proven};
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

/// Where and how often a store's feed listens and is proven.
pub(super) struct Plan {
    /// The store's client configuration (its LISTEN connection reaches the same servers).
    pub config: tokio_postgres::Config,
    /// The store's TLS connector.
    pub connector: Connector,
    /// How often the proof runs.
    pub every: Duration,
}

/// A store's feed: its plan and the pool whose server the LISTEN connection must be on.
pub(super) struct PgFeed {
    /// Where and how often.
    pub plan: Arc<Plan>,
    /// The store's pool.
    pub pool: Pool,
}

impl Link for PgFeed {
    type Conn = (tokio_postgres::Client, Listening);

    const LOST: &'static str = "the PostgreSQL LISTEN connection is lost or no longer on the server the pool writes to; online checks read the store until it is proven again";

    async fn open(&self, listener: &Listener) -> Option<Self::Conn> {
        listen(&self.plan.config, &self.plan.connector, listener).await
    }

    async fn hear(
        &self,
        (client, connection): Self::Conn,
        listener: &Listener,
        proven: &mut Proven,
    ) -> Heard {
        let mut serving = false;
        let mut ticker = tokio::time::interval(self.plan.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let heard = loop {
            ticker.tick().await;
            if listener.strong_count() == 0 {
                break Heard::Gone;
            }
            if connection.driver.is_finished() || !self.proven(&client, proven).await {
                break Heard::Lost;
            }
            if !serving {
                // Proven only if the connection is still up: the driver marks it down and
                // the listener deaf under the same lock.
                let up = connection.up.lock().unwrap_or_else(|p| p.into_inner());
                match listener.upgrade() {
                    Some(listener) if *up => proven.now(&*listener),
                    Some(_) => break Heard::Lost,
                    None => break Heard::Gone,
                }
                serving = true;
            }
        };
        connection.driver.abort();
        heard
    }
}

impl PgFeed {
    /// Whether the LISTEN connection answers, within the proof's time, from the server the
    /// pool writes to.
    async fn proven(&self, client: &tokio_postgres::Client, proven: &Proven) -> bool {
        let start = std::time::Instant::now();
        let proof = async {
            let listener: String = client.query_one(WHICH_SERVER, &[]).await.ok()?.get(0);
            let pooled = self.pool.get().await.ok()?;
            let writer: String = pooled.query_one(WHICH_SERVER, &[]).await.ok()?.get(0);
            Some(listener == writer)
        };
        let answered = matches!(
            tokio::time::timeout(self.plan.every * PROOF_INTERVALS, proof).await,
            Ok(Some(true))
        );
        if answered {
            proven.heartbeat(start.elapsed());
        }
        answered
    }
}

/// A listening connection: its driver task and whether it is still up.
pub(super) struct Listening {
    driver: tokio::task::JoinHandle<()>,
    up: Arc<Mutex<bool>>,
}

/// Connects, starts the task that tells `listener` the notifications, and LISTENs.
async fn listen(
    config: &tokio_postgres::Config,
    connector: &Connector,
    listener: &Listener,
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
                tokio::spawn(drive(connection, listener.clone(), Arc::clone(&up))),
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
                tokio::spawn(drive(connection, listener.clone(), Arc::clone(&up))),
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

/// Tells `listener` `connection`'s notifications until it ends; then marks it down and
/// the listener deaf, under one lock.
async fn drive<S, T>(
    mut connection: Connection<S, T>,
    listener: Listener,
    driver_up: Arc<Mutex<bool>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(Ok(message)) = messages.next().await {
        if let AsyncMessage::Notification(n) = message {
            let Some(listener) = listener.upgrade() else {
                return;
            };
            listener.changed(&Change::from_message(n.payload()));
        }
    }
    // The connection ended: no message can arrive any more.
    let mut up = driver_up.lock().unwrap_or_else(|p| p.into_inner());
    *up = false;
    if let Some(listener) = listener.upgrade() {
        listener.set_hearing(false);
    }
}
