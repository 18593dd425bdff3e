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
mod options;
mod scripts;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{FromRedisValue, RedisResult, ScriptInvocation};

use crate::error::{Error, ErrorKind};
use crate::model::cache::{Change, DEFAULT_CACHE_CAPACITY, OnlineCache};
use crate::model::secrets::SecretCache;
use crate::model::token::{self, FamilySecret, PresentedToken};
use crate::numeric_date::NumericDate;
use codec::{FORMAT_VERSION, connect_error, corrupt, hex, ms, redis_error, unhex};
use options::parse_options;
pub use options::{DEFAULT_HEARTBEAT, DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisOptions};
use scripts::{Scripts, scripts};

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// Families and denylist in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: String,
    scripts: &'static Scripts,
    secrets: Arc<SecretCache>,
    /// The channel revocations are announced on.
    channel: String,
    /// Online-check answers, kept current by this store's writes and its subscription.
    cache: Option<Arc<OnlineCache>>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.conn {
            Conn::Single(_) => "single",
            Conn::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("mode", &mode)
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
    /// node, `redis+cluster://host:port,host:port,...` for Redis Cluster. The query
    /// parameters `prefix=NAME` and `timeout_ms=N` override [`RedisOptions`].
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
        let followed: Vec<redis::Client>;
        let conn = if let Some(nodes) = url.strip_prefix("redis+cluster://") {
            let nodes = options::cluster_nodes(nodes);
            followed = nodes
                .iter()
                .filter_map(|n| redis::Client::open(n.as_str()).ok())
                .collect();
            let client = redis::cluster::ClusterClient::builder(nodes)
                .connection_timeout(options.timeout)
                .response_timeout(options.timeout)
                .retries(2)
                .build()
                .map_err(|e| redis_error("Redis Cluster URL", e))?;
            Conn::Cluster(
                client
                    .get_async_connection()
                    .await
                    .map_err(|e| connect_error(url, e))?,
            )
        } else {
            let client = redis::Client::open(url).map_err(|e| redis_error("Redis URL", e))?;
            followed = vec![client.clone()];
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(options.timeout))
                .set_response_timeout(Some(options.timeout))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_millis(500));
            Conn::Single(
                ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|e| connect_error(url, e))?,
            )
        };
        let channel = format!("{}:changes", options.prefix);
        // Deaf until subscribed: nothing is served from memory before the first message
        // could arrive.
        let cache = Arc::new(OnlineCache::new(DEFAULT_CACHE_CAPACITY));
        cache.set_serving(false);
        let (subscribed, confirmed) = tokio::sync::oneshot::channel();
        let beat = changes::Heartbeat {
            channel: format!("{}:beat:{}", options.prefix, crate::random::token(12)?),
            every: options.heartbeat,
            conn: conn.clone(),
        };
        tokio::spawn(changes::follow(
            followed,
            channel.clone(),
            beat,
            Arc::downgrade(&cache),
            subscribed,
        ));
        // The store works without its cache meanwhile; the follower keeps trying.
        let _ = tokio::time::timeout(options.timeout, confirmed).await;
        Ok(Self {
            conn,
            prefix: options.prefix,
            scripts: scripts(),
            secrets: Default::default(),
            channel,
            cache: Some(cache),
        })
    }

    /// Without an online-check cache: every online check reads Redis (one round trip).
    pub fn without_online_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    fn tell(&self, change: impl FnOnce() -> Change) {
        OnlineCache::tell(self.cache.as_deref(), change);
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
        let result: RedisResult<T> = match &self.conn {
            Conn::Single(c) => invocation.invoke_async(&mut c.clone()).await,
            Conn::Cluster(c) => invocation.invoke_async(&mut c.clone()).await,
        };
        result.map_err(|e| redis_error(what, e))
    }

    async fn query<T: FromRedisValue>(&self, what: &str, cmd: &redis::Cmd) -> Result<T, Error> {
        let result: RedisResult<T> = match &self.conn {
            Conn::Single(c) => cmd.query_async(&mut c.clone()).await,
            Conn::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        };
        result.map_err(|e| redis_error(what, e))
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
        let Conn::Single(c) = &self.conn else {
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
    /// The key id and nonce of a family (which never change), from the cache or one
    /// HMGET; `None` when no family has that id.
    async fn secret(&self, family_id: &str) -> Result<Option<FamilySecret>, Error> {
        if let Some(secret) = self.secrets.get(family_id) {
            return Ok(Some(secret));
        }
        type Fields = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let (version, subject, kid, nonce): Fields = self
            .query(
                "reading a family",
                redis::cmd("HMGET")
                    .arg(self.family_key(family_id))
                    .arg(&["v", "sub", "kid", "nonce"]),
            )
            .await?;
        // No subject: no family (or a tombstone). A family of another format is refused
        // loudly rather than decided on or taken for unknown.
        if subject.is_none() {
            return Ok(None);
        }
        let (Some(FORMAT_VERSION), Some(kid), Some(nonce)) = (version.as_deref(), kid, nonce)
        else {
            return Err(corrupt(
                "a family written by another tok version (refresh tokens changed format; \
                 clear this prefix to start anew)",
            ));
        };
        let secret = FamilySecret {
            key_id: kid,
            nonce: unhex(&nonce).ok_or_else(|| corrupt("nonce"))?,
        };
        self.secrets.insert(family_id, secret.clone());
        Ok(Some(secret))
    }

    /// Whether the family named by `presented` minted it. The MAC is computed whether or
    /// not the family exists (see [`PresentedToken::is_minted_by`]).
    async fn minted(&self, presented: &PresentedToken) -> Result<bool, Error> {
        let secret = self.secret(presented.family_id()).await?;
        Ok(presented.is_minted_by(secret.as_ref()))
    }

    async fn revoke_with_tombstone(
        &self,
        family_id: &str,
        now: NumericDate,
        tombstone_ms: u64,
    ) -> Result<bool, Error> {
        let n: Result<i64, Error> = self
            .run(
                "revoking a family",
                self.scripts
                    .revoke
                    .key(self.family_key(family_id))
                    .arg(ms(now))
                    .arg(tombstone_ms)
                    .arg(&self.channel)
                    .arg(self.announce(family_id)),
            )
            .await;
        self.tell(|| Change::Family(family_id.to_owned()));
        Ok(n? == 1)
    }
}
