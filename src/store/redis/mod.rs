//! The shared store: Redis (single node or Redis Cluster), so that every server behind a
//! load balancer agrees on who is logged in.
//!
//! Every compare-and-swap is one Lua script (sent as EVALSHA, reloaded on NOSCRIPT), so two
//! servers rotating one token get exactly one winner. All keys of a family share the hash
//! tag `{family id}` and so one cluster slot. Key names carry no secret: no refresh token or token
//! hash is stored at all (tokens are derived, see [`crate::refresh::token`]), subjects and
//! `jti`s appear only hashed. Family keys expire with the
//! family, denylist entries with their token.
//!
//! Keys, for prefix `tok` (configurable, so several apps can share one Redis):
//! - `tok:{FAMILY}:f` — hash: the family record (subject, claims, times, generation, key
//!   id, nonce, fingerprint hash, revocation), of constant size however often it rotates;
//! - `tok:s:SHA256(subject)` — set of the subject's family ids (for logout everywhere);
//! - `tok:d:SHA256(jti)` — the denylisted token's `exp` in milliseconds;
//! - channel `tok:changes` — what each revocation announces to other processes' online
//!   caches: `f:FAMILY` or `j:JTI` (see `changes`).

mod changes;
mod codec;
mod conn;
mod options;
mod scripts;
mod sentinel;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, ScriptInvocation};

use crate::error::{Error, ErrorKind};
use crate::model::change::Change;
use crate::model::secrets::SecretCache;
use crate::model::token::{self, PresentedToken};
use crate::numeric_date::NumericDate;
use codec::{FIXED, Fixed, connect_error, fixed_from, hex, ms, redis_error};
use conn::Conn;
use options::parse_options;
pub use options::{DEFAULT_HEARTBEAT, DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisOptions};
use scripts::{Scripts, scripts};

/// Families and denylist in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: String,
    scripts: &'static Scripts,
    secrets: Arc<SecretCache<Fixed>>,
    /// The channel revocations are announced on.
    channel: String,
    /// Where other processes' changes are heard, for a cache layered on this store.
    followed: changes::Source,
    /// How long opening or one call may take (and so how long a feed may take to be
    /// proven before `follow_changes` answers).
    timeout: Duration,
    /// How often the feed's heartbeat is published.
    heartbeat: Duration,
    /// Where writes that must reach replicas before they are confirmed go.
    acks: Option<Acks>,
}

/// Writes confirmed only once replicas acknowledged them (see
/// [`RedisOptions::wait_replicas`]), on a connection of their own: `WAIT` holds the
/// connection it is sent on, and must not hold everyone's requests behind a slow replica.
#[derive(Clone)]
struct Acks {
    conn: Conn,
    replicas: u32,
    timeout_ms: u64,
    every_write: bool,
    /// Set when a write was not acknowledged in time, cleared when the replicas
    /// acknowledge again (see [`RedisStore::replicas_ready`]).
    missing: Arc<std::sync::atomic::AtomicBool>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("mode", &self.conn.mode())
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// How long a tombstone left by `revoke_subject` for a family not created yet is kept:
/// far longer than the two round trips between indexing a family and creating it.
const TOMBSTONE_MS: u64 = 600_000;

/// A random id for one script call, so that the same call sent again after a lost reply
/// is recognised as a repeat (see `rotate.lua`, `create.lua`).
fn request_id() -> Result<String, Error> {
    crate::random::token(16)
}

impl RedisStore {
    /// Connects to the Redis a URL names: `redis://[user:pass@]host:port[/db]` for one
    /// node, `redis+cluster://host:port,host:port,...` for Redis Cluster,
    /// `redis+sentinel://[user:pass@]host:port,host:port,.../MASTER_NAME[/db]` for the
    /// primary that Redis Sentinel names (the sentinels' addresses; the credentials and
    /// database are the data nodes', the sentinels are asked without a password), followed
    /// through failovers. The query parameters `prefix=NAME`, `timeout_ms=N`,
    /// `heartbeat_ms=N`, `wait_replicas=N` and `wait_on_every_write=true|false` override
    /// [`RedisOptions`].
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// let store = tok::store::RedisStore::open("redis://127.0.0.1:6379/0?prefix=myapp&timeout_ms=500").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) for a bad URL or an unreachable server.
    pub async fn open(url: &str) -> Result<Self, Error> {
        let (base, options) = parse_options(url)?;
        Self::open_with(&base, options).await
    }

    /// Connects with explicit options (the URL's own query parameters are not read).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_with(url: &str, options: RedisOptions) -> Result<Self, Error> {
        let (conn, followed) = connect(url, &options).await?;
        let acks = match options.wait_replicas {
            0 => None,
            _ if conn.is_cluster() => {
                return Err(Error::new(
                    ErrorKind::Store,
                    "wait_replicas is not supported on Redis Cluster",
                ));
            }
            replicas => Some(Acks {
                // `WAIT` may take the whole timeout; the reply gets as long again.
                conn: connect(
                    url,
                    &RedisOptions {
                        timeout: options.timeout * 2,
                        ..options.clone()
                    },
                )
                .await?
                .0,
                replicas,
                timeout_ms: options.timeout.as_millis() as u64,
                every_write: options.wait_on_every_write,
                missing: Arc::default(),
            }),
        };
        let channel = format!("{}:changes", options.prefix);
        Ok(Self {
            conn,
            prefix: options.prefix,
            scripts: scripts(),
            secrets: Default::default(),
            channel,
            followed,
            timeout: options.timeout,
            heartbeat: options.heartbeat,
            acks,
        })
    }

    /// This store's change feed: the announcement channel, on a subscription of its own,
    /// proven by heartbeats (see `changes`).
    fn feed(&self) -> Result<changes::RedisFeed, Error> {
        Ok(changes::RedisFeed {
            source: self.followed.clone(),
            channel: self.channel.clone(),
            beat: changes::Heartbeat {
                channel: format!("{}:beat:{}", self.prefix, crate::random::token(12)?),
                every: self.heartbeat,
                conn: self.conn.clone(),
            },
        })
    }

    /// Follows this store's change feed for `listener` (see
    /// [`Store::follow_changes`](crate::store::Store::follow_changes)).
    async fn follow(
        &self,
        listener: crate::store::feed::Listener,
    ) -> Result<crate::model::change::Feed, Error> {
        let metrics = crate::store::feed::FeedMetrics::new("redis", self.prefix.clone());
        Ok(crate::store::feed::start(self.feed()?, listener, metrics, self.timeout).await)
    }

    fn announce(&self, family_id: &str) -> String {
        changes::message(&Change::Family(family_id.to_owned()))
    }

    fn family_key(&self, family_id: &str) -> String {
        format!("{}:{{{family_id}}}:f", self.prefix)
    }

    fn subject_key(&self, subject: &str) -> String {
        format!(
            "{}:s:{}",
            self.prefix,
            hex(&token::hash(subject.as_bytes()))
        )
    }

    fn deny_key(&self, jti: &str) -> String {
        format!("{}:d:{}", self.prefix, hex(&token::hash(jti.as_bytes())))
    }

    async fn run<T: FromRedisValue>(
        &self,
        what: &str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, Error> {
        self.conn
            .invoke(invocation)
            .await
            .map_err(|e| redis_error(what, e))
    }

    /// Runs a revoking script: confirmed only once the replicas asked for have it.
    async fn run_revoking<T: FromRedisValue>(
        &self,
        what: &str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, Error> {
        match &self.acks {
            Some(acks) => acks.run(what, invocation).await,
            None => self.run(what, invocation).await,
        }
    }

    /// Before a rotation that will wait for replicas: refused, and not applied, while the
    /// last wait found too few replicas and too few are online now. A rotation applied and
    /// then not confirmed leaves its client holding the previous token, which only the
    /// grace window answers; a replica outage longer than that window would end every
    /// session that kept retrying as reuse. Asked only after a failed wait, so it costs
    /// nothing while the replicas keep up.
    async fn replicas_ready(&self, what: &str) -> Result<(), Error> {
        use std::sync::atomic::Ordering;
        let Some(acks) = &self.acks else {
            return Ok(());
        };
        if !acks.every_write || !acks.missing.load(Ordering::Acquire) {
            return Ok(());
        }
        // The probe: do the replicas acknowledge this connection's last write now?
        // A healthy replica on a local network acknowledges in a millisecond or two.
        let mut wait = redis::cmd("WAIT");
        wait.arg(acks.replicas).arg(acks.timeout_ms.min(100));
        let acknowledged: i64 = acks
            .conn
            .query(&wait)
            .await
            .map_err(|e| redis_error(what, e))?;
        if acknowledged < i64::from(acks.replicas) {
            return Err(Error::new(
                ErrorKind::Store,
                format!(
                    "{what}: {acknowledged} of {} replicas acknowledge writes, so it could \
                     not be confirmed; not applied",
                    acks.replicas
                ),
            ));
        }
        acks.missing.store(false, Ordering::Release);
        Ok(())
    }

    /// Runs a script that logs in or rotates: through the replicas too when
    /// [`RedisOptions::wait_on_every_write`] asks.
    async fn run_write<T: FromRedisValue>(
        &self,
        what: &str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, Error> {
        match &self.acks {
            Some(acks) if acks.every_write => acks.run(what, invocation).await,
            _ => self.run(what, invocation).await,
        }
    }

    async fn query<T: FromRedisValue>(&self, what: &str, cmd: &redis::Cmd) -> Result<T, Error> {
        self.conn.query(cmd).await.map_err(|e| redis_error(what, e))
    }

    /// Deletes every key under this store's prefix (tests and teardown only). Returns how
    /// many went.
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store).
    #[doc(hidden)]
    pub async fn clear(&self) -> Result<u64, Error> {
        let keys = self.scan(&format!("{}:*", self.prefix)).await?;
        let mut n = 0;
        for key in keys {
            n += self
                .query::<u64>("clearing", redis::cmd("DEL").arg(&key))
                .await?;
        }
        Ok(n)
    }

    async fn scan(&self, pattern: &str) -> Result<Vec<String>, Error> {
        let Some(c) = self.conn.node() else {
            return Err(Error::new(
                ErrorKind::Store,
                "scanning is not supported on Redis Cluster (keys expire by TTL)",
            ));
        };
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c.clone())
                .await
                .map_err(|e| redis_error("scanning", e))?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

impl RedisStore {
    /// What of a family never changes (its secret among it), in one HMGET; `None` when
    /// no family has that id.
    async fn read_fixed(&self, family_id: &str) -> Result<Option<Fixed>, Error> {
        let values: Vec<Option<String>> = self
            .query(
                "reading a family",
                redis::cmd("HMGET")
                    .arg(self.family_key(family_id))
                    .arg(&FIXED[..]),
            )
            .await?;
        fixed_from(values)
    }

    /// What never changes of the family that minted `presented` (remembered, or read);
    /// `None` when no family of this store minted it.
    async fn minted(&self, presented: &PresentedToken) -> Result<Option<Fixed>, Error> {
        let read = self.read_fixed(presented.family_id());
        self.secrets.minted(presented, read).await
    }

    async fn revoke_with_tombstone(
        &self,
        family_id: &str,
        now: NumericDate,
        tombstone_ms: u64,
    ) -> Result<bool, Error> {
        let n: i64 = self
            .run_revoking(
                "revoking a family",
                self.scripts
                    .revoke
                    .key(self.family_key(family_id))
                    .arg(ms(now))
                    .arg(tombstone_ms)
                    .arg(&self.channel)
                    .arg(self.announce(family_id)),
            )
            .await?;
        Ok(n == 1)
    }
}

impl Acks {
    async fn run<T: FromRedisValue>(
        &self,
        what: &str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, Error> {
        let (answer, acknowledged) = self
            .conn
            .invoke_acknowledged(invocation, self.replicas, self.timeout_ms)
            .await
            .map_err(|e| redis_error(what, e))?;
        if acknowledged < i64::from(self.replicas) {
            self.missing
                .store(true, std::sync::atomic::Ordering::Release);
            return Err(Error::new(
                ErrorKind::Store,
                format!(
                    "{what}: done on the primary, but {acknowledged} of {} replicas \
                     acknowledged it within {} ms, so it is not confirmed (a failover now \
                     could undo it)",
                    self.replicas, self.timeout_ms
                ),
            ));
        }
        self.missing
            .store(false, std::sync::atomic::Ordering::Release);
        Ok(answer)
    }
}

/// Connects to what `url` names; also returns the clients the change feed subscribes
/// through.
async fn connect(url: &str, options: &RedisOptions) -> Result<(Conn, changes::Source), Error> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.timeout))
        .set_response_timeout(Some(options.timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    if let Some(nodes) = url.strip_prefix("redis+cluster://") {
        let nodes = options::cluster_nodes(nodes);
        let followed = nodes
            .iter()
            .filter_map(|n| redis::Client::open(n.as_str()).ok())
            .collect();
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(options.timeout)
            .response_timeout(options.timeout)
            .retries(2)
            .build()
            .map_err(|e| redis_error("Redis Cluster URL", e))?;
        let conn = client
            .get_async_connection()
            .await
            .map_err(|e| connect_error(url, e))?;
        return Ok((Conn::Cluster(conn), changes::Source::Nodes(followed)));
    }
    if let Some(rest) = url.strip_prefix("redis+sentinel://") {
        let named = sentinel::parse(rest)?;
        let primary = sentinel::Primary::open(&named, config, options.timeout).await?;
        return Ok((
            Conn::Sentinel(primary.clone()),
            changes::Source::Sentinel(primary),
        ));
    }
    let client = redis::Client::open(url).map_err(|e| redis_error("Redis URL", e))?;
    let conn = ConnectionManager::new_with_config(client.clone(), config)
        .await
        .map_err(|e| connect_error(url, e))?;
    Ok((Conn::Single(conn), changes::Source::Nodes(vec![client])))
}
