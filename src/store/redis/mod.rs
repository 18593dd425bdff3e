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

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{FromRedisValue, RedisResult, ScriptInvocation, Value};

use crate::error::{Error, ErrorKind};
use crate::model::cache::{Change, DEFAULT_CACHE_CAPACITY, OnlineCache, OnlineState};
use crate::model::family::{FamilyRecord, Logout, Refusal};
use crate::model::store::{
    Created, LogoutRequest, RotationOutcome, RotationRequest, Store, deny_until,
};
use crate::model::token::{self, FamilySecret, PresentedToken};
use crate::numeric_date::NumericDate;
use codec::{
    FIELDS, FORMAT_VERSION, connect_error, corrupt, family_from, hex, ms, redis_error, unhex,
};
use options::parse_options;
pub use options::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisOptions};
use scripts::{Scripts, TTL_SLACK_MS, scripts};

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
    secrets: std::sync::Arc<std::sync::Mutex<HashMap<String, FamilySecret>>>,
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

/// How many family secrets (key id and nonce, which never change) a store remembers, so
/// that a rotation needs one round trip instead of two. Only families that exist are
/// remembered, and the map is emptied when full, so it stays bounded.
const SECRET_CACHE: usize = 65_536;

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
        tokio::spawn(changes::follow(
            followed,
            channel.clone(),
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
        if let Some(secret) = self.cached(family_id) {
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
        let mut cache = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= SECRET_CACHE {
            cache.clear();
        }
        cache.insert(family_id.to_owned(), secret.clone());
        Ok(Some(secret))
    }

    fn cached(&self, family_id: &str) -> Option<FamilySecret> {
        let cache = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(family_id).cloned()
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

impl Store for RedisStore {
    async fn create_family(&self, f: &FamilyRecord, now: NumericDate) -> Result<Created, Error> {
        let fam = self.family_key(&f.family_id);
        // The subject index first, kept as long as the family can live (its absolute
        // lifetime: rotation keeps it alive past any idle timeout), so that "logout
        // everywhere" always finds it; a revoke that finds the id before the family
        // exists leaves a tombstone that this creation then honours.
        let ttl = f.expires_at.duration_since(now).as_millis() as u64 + TTL_SLACK_MS;
        self.run::<i64>(
            "indexing a subject",
            self.scripts
                .track_subject
                .key(self.subject_key(&f.subject))
                .arg(&f.family_id)
                .arg(ttl),
        )
        .await?;
        let created: i64 = self
            .run(
                "creating a family",
                self.scripts
                    .create
                    .key(&fam)
                    .arg(&f.subject)
                    .arg(&f.claims)
                    .arg(ms(f.created_at))
                    .arg(ms(f.expires_at))
                    .arg(ms(f.last_used_at))
                    .arg(f.idle_timeout.as_millis() as u64)
                    .arg(f.generation)
                    .arg(&f.secret.key_id)
                    .arg(hex(&f.secret.nonce))
                    .arg(f.fingerprint.as_ref().map(|h| hex(h)).unwrap_or_default())
                    .arg(ms(now))
                    .arg(request_id()?),
            )
            .await?;
        Ok(if created == 1 {
            Created::Stored
        } else {
            Created::IdTaken
        })
    }

    async fn rotate(&self, r: &RotationRequest) -> Result<RotationOutcome, Error> {
        if !self.minted(&r.presented).await? {
            return Ok(RotationOutcome::Refused(Refusal::Unknown));
        }
        let family_id = r.presented.family_id();
        let reply: Vec<Value> = self
            .run(
                "rotating a refresh token",
                self.scripts
                    .rotate
                    .key(self.family_key(family_id))
                    .arg(r.presented.generation())
                    .arg(r.fingerprint.as_ref().map(|h| hex(h)).unwrap_or_default())
                    .arg(r.new_claims.as_deref().unwrap_or_default())
                    .arg(ms(r.now))
                    .arg(r.grace.as_millis() as u64)
                    .arg(&self.channel)
                    .arg(self.announce(family_id))
                    .arg(request_id()?),
            )
            .await
            .inspect_err(|_| self.tell(|| Change::Family(family_id.to_owned())))?;
        if r.new_claims.is_some() {
            // A privilege change: access tokens minted before it are outdated.
            self.tell(|| Change::Family(family_id.to_owned()));
        }
        let mut reply = reply.into_iter();
        let mut next_string = || reply.next().and_then(|v| String::from_redis_value(v).ok());
        match next_string().as_deref() {
            Some("rotated") => Ok(RotationOutcome::Rotated(Box::new(family_from(
                family_id,
                reply.collect(),
            )?))),
            Some("grace") => Ok(RotationOutcome::Grace(Box::new(family_from(
                family_id,
                reply.collect(),
            )?))),
            Some("refused") => Ok(RotationOutcome::Refused(match next_string().as_deref() {
                Some("unknown") => Refusal::Unknown,
                Some("revoked") => Refusal::Revoked,
                Some("expired") => Refusal::Expired,
                Some("fingerprint") => {
                    self.tell(|| Change::Family(family_id.to_owned()));
                    Refusal::FingerprintMismatch
                }
                Some("reuse") => {
                    self.tell(|| Change::Family(family_id.to_owned()));
                    Refusal::Reused
                }
                _ => return Err(corrupt("a refusal reason")),
            })),
            _ => Err(corrupt("the rotation reply")),
        }
    }

    async fn logout(&self, r: &LogoutRequest) -> Result<Logout, Error> {
        if !self.minted(&r.presented).await? {
            return Ok(Logout::Unknown);
        }
        let reply: Result<String, Error> = self
            .run(
                "logging out",
                self.scripts
                    .logout
                    .key(self.family_key(r.presented.family_id()))
                    .arg(r.presented.generation())
                    .arg(ms(r.now))
                    .arg(r.grace.as_millis() as u64)
                    .arg(&self.channel)
                    .arg(self.announce(r.presented.family_id())),
            )
            .await;
        self.tell(|| Change::Family(r.presented.family_id().to_owned()));
        match reply?.as_str() {
            "revoked" => Ok(Logout::Revoked),
            "ended" => Ok(Logout::AlreadyEnded),
            "reused" => Ok(Logout::Reused),
            "unknown" => Ok(Logout::Unknown),
            _ => Err(corrupt("the logout reply")),
        }
    }

    async fn revoke_family(&self, family_id: &str, now: NumericDate) -> Result<bool, Error> {
        self.revoke_with_tombstone(family_id, now, 0).await
    }

    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, Error> {
        // Each family is revoked atomically in its own slot. A family is indexed before
        // it is created: one found here but not yet created gets a tombstone, and its
        // creation stores it revoked. Logins may index new families while this runs, so
        // the index is read again after each pass until a pass finds nothing new: a
        // family whose creation returned before this returns was indexed before the
        // last read.
        let mut seen = std::collections::HashSet::new();
        let mut count = 0;
        loop {
            let ids: Vec<String> = self
                .query(
                    "reading a subject's sessions",
                    redis::cmd("SMEMBERS").arg(self.subject_key(subject)),
                )
                .await?;
            let new: Vec<String> = ids
                .into_iter()
                .filter(|id| seen.insert(id.clone()))
                .collect();
            if new.is_empty() {
                break;
            }
            let revoked = futures_util::future::join_all(
                new.iter()
                    .map(|id| self.revoke_with_tombstone(id, now, TOMBSTONE_MS)),
            )
            .await;
            for one in revoked {
                count += u64::from(one?);
            }
        }
        self.tell(|| Change::Subject(subject.to_owned()));
        Ok(count)
    }

    async fn deny_jti(&self, jti: &str, exp: NumericDate, now: NumericDate) -> Result<(), Error> {
        let until = deny_until(exp);
        let denied = self
            .run::<i64>(
                "denylisting a jti",
                self.scripts
                    .deny
                    .key(self.deny_key(jti))
                    .arg(ms(until))
                    .arg(ms(now.min(until)))
                    .arg(&self.channel)
                    .arg(changes::message(&Change::Jti(jti.to_owned()))),
            )
            .await;
        self.tell(|| Change::Jti(jti.to_owned()));
        denied.map(drop)
    }

    async fn is_jti_denied(&self, jti: &str, now: NumericDate) -> Result<bool, Error> {
        let until: Option<u64> = self
            .query(
                "reading the denylist",
                redis::cmd("GET").arg(self.deny_key(jti)),
            )
            .await?;
        Ok(until.is_some_and(|u| ms(now) < u))
    }

    async fn family(&self, family_id: &str) -> Result<Option<FamilyRecord>, Error> {
        let values: Vec<Value> = self
            .query(
                "reading a family",
                redis::cmd("HMGET")
                    .arg(self.family_key(family_id))
                    .arg(&FIELDS[..]),
            )
            .await?;
        if values.first().is_none_or(|v| matches!(v, Value::Nil)) {
            return Ok(None);
        }
        family_from(family_id, values).map(Some)
    }

    fn online_cache(&self) -> Option<&OnlineCache> {
        self.cache.as_deref()
    }

    /// The denylist entry and the family, in one round trip: one pipeline on a single
    /// node; on Redis Cluster (where the two keys live in different slots) two reads
    /// sent at once.
    async fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> Result<OnlineState, Error> {
        let deny = jti.map(|jti| {
            let mut cmd = redis::cmd("GET");
            cmd.arg(self.deny_key(jti));
            cmd
        });
        let family = sid.map(|sid| {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(self.family_key(sid)).arg(&FIELDS[..]);
            cmd
        });
        let what = "reading a session's state";
        let (until, values): (Option<u64>, Vec<Value>) = match (&self.conn, deny, family) {
            (_, None, None) => (None, Vec::new()),
            (_, Some(deny), None) => (self.query(what, &deny).await?, Vec::new()),
            (_, None, Some(family)) => (None, self.query(what, &family).await?),
            (Conn::Single(c), Some(deny), Some(family)) => {
                let mut pipe = redis::pipe();
                pipe.add_command(deny).add_command(family);
                pipe.query_async(&mut c.clone())
                    .await
                    .map_err(|e| redis_error(what, e))?
            }
            (Conn::Cluster(_), Some(deny), Some(family)) => {
                let (until, values) =
                    futures_util::future::join(self.query(what, &deny), self.query(what, &family))
                        .await;
                (until?, values?)
            }
        };
        let family = match (sid, values.first()) {
            (Some(sid), Some(first)) if !matches!(first, Value::Nil) => {
                Some(family_from(sid, values)?)
            }
            _ => None,
        };
        Ok(OnlineState {
            jti_denied: until.is_some_and(|u| ms(now) < u),
            family,
        })
    }

    /// Redis expires families and denylist entries by TTL on its own; this also removes
    /// those dead at `now` (which may be ahead of Redis's clock). Single node only: on
    /// Redis Cluster TTLs do the work and this returns 0.
    async fn purge_expired(&self, now: NumericDate) -> Result<u64, Error> {
        if matches!(self.conn, Conn::Cluster(_)) {
            return Ok(0);
        }
        let mut removed = 0u64;
        for key in self.scan(&format!("{}:{{*}}:f", self.prefix)).await? {
            let Some(family_id) = key.split('{').nth(1).and_then(|r| r.split('}').next()) else {
                continue;
            };
            removed += self
                .run::<u64>(
                    "purging a family",
                    self.scripts
                        .purge_family
                        .key(self.family_key(family_id))
                        .arg(ms(now)),
                )
                .await?;
        }
        for key in self.scan(&format!("{}:d:*", self.prefix)).await? {
            removed += self
                .run::<u64>(
                    "purging the denylist",
                    self.scripts.purge_deny.key(&key).arg(ms(now)),
                )
                .await?;
        }
        Ok(removed)
    }
}
