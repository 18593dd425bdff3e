//! The [`Store`] operations on Redis: each compare-and-swap one script, each read one
//! command (or one pipeline).

use redis::{FromRedisValue, Value};

use crate::error::Error;
use std::sync::Weak;

use crate::model::change::{Change, ChangeListener, Feed};
use crate::model::family::{FamilyRecord, Logout, Refusal};
use crate::model::store::{
    Created, LogoutRequest, RotationOutcome, RotationRequest, Store, deny_until, listed,
};
use crate::model::store::{FamiliesByKey, OnlineState, count_by_key};
use crate::numeric_date::NumericDate;
use crate::store::redis::codec::{
    FIELDS, Fixed, corrupt, family_from, hex, ms, redis_error, rotated_from,
};
use crate::store::redis::scripts::TTL_SLACK_MS;
use crate::store::redis::{RedisStore, TOMBSTONE_MS, changes, request_id};

impl Store for RedisStore {
    async fn create_family(&self, f: &FamilyRecord, now: NumericDate) -> Result<Created, Error> {
        let fam = self.family_key(&f.family_id);
        // The subject index first, kept as long as the family can live (its absolute
        // lifetime: rotation keeps it alive past any idle timeout), so that "logout
        // everywhere" always finds it; a revoke that finds the id before the family
        // exists leaves a tombstone that this creation then honours.
        let ttl = f.expires_at.duration_since(now).as_millis() as u64 + TTL_SLACK_MS;
        self.run_write::<i64>(
            "indexing a subject",
            self.scripts
                .track_subject
                .key(self.subject_key(&f.subject))
                .arg(&f.family_id)
                .arg(ttl),
        )
        .await?;
        let created: i64 = self
            .run_write(
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
                    .arg(request_id()?)
                    .arg(&f.label)
                    .arg(&f.login),
            )
            .await?;
        if created != 1 {
            return Ok(Created::IdTaken);
        }
        // What never changes is known already: the first rotation reads nothing more.
        self.secrets.insert(&f.family_id, Fixed::of(f));
        Ok(Created::Stored)
    }

    async fn rotate(&self, r: &RotationRequest) -> Result<RotationOutcome, Error> {
        let Some(fixed) = self.minted(&r.presented).await? else {
            return Ok(RotationOutcome::Refused(Refusal::Unknown));
        };
        let family_id = r.presented.family_id();
        self.replicas_ready("rotating a refresh token").await?;
        let reply: Vec<Value> = self
            .run_write(
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
                    .arg(request_id()?)
                    .arg(
                        fixed
                            .fingerprint
                            .as_ref()
                            .map(|h| hex(h))
                            .unwrap_or_default(),
                    )
                    .arg(ms(fixed.expires_at))
                    .arg(fixed.idle_timeout.as_millis() as u64)
                    .arg(&r.signing_key_id)
                    .arg(r.new_login.as_deref().unwrap_or_default()),
            )
            .await?;
        let mut reply = reply.into_iter();
        let mut next_string = || reply.next().and_then(|v| String::from_redis_value(v).ok());
        // A family moved to another key: remembered with its new secret.
        let remembered = |record: FamilyRecord| {
            if record.secret != fixed.secret {
                let mut moved = fixed.clone();
                moved.secret = record.secret.clone();
                self.secrets.insert(family_id, moved);
            }
            Box::new(record)
        };
        match next_string().as_deref() {
            Some("rotated") => Ok(RotationOutcome::Rotated(remembered(rotated_from(
                family_id,
                fixed.clone(),
                reply.collect(),
            )?))),
            Some("grace") => Ok(RotationOutcome::Grace(remembered(rotated_from(
                family_id,
                fixed.clone(),
                reply.collect(),
            )?))),
            Some("refused") => Ok(RotationOutcome::Refused(match next_string().as_deref() {
                Some("unknown") => Refusal::Unknown,
                Some("revoked") => Refusal::Revoked,
                Some("expired") => Refusal::Expired,
                Some("fingerprint") => Refusal::FingerprintMismatch,
                Some("reuse") => Refusal::Reused,
                _ => return Err(corrupt("a refusal reason")),
            })),
            _ => Err(corrupt("the rotation reply")),
        }
    }

    async fn logout(&self, r: &LogoutRequest) -> Result<Logout, Error> {
        if self.minted(&r.presented).await?.is_none() {
            return Ok(Logout::Unknown);
        }
        let reply: String = self
            .run_revoking(
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
            .await?;
        match reply.as_str() {
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
        Ok(count)
    }

    async fn deny_jti(&self, jti: &str, exp: NumericDate, now: NumericDate) -> Result<(), Error> {
        let until = deny_until(exp);
        self.run_revoking::<i64>(
            "denylisting a jti",
            self.scripts
                .deny
                .key(self.deny_key(jti))
                .arg(ms(until))
                .arg(ms(now.min(until)))
                .arg(&self.channel)
                .arg(changes::message(&Change::Jti(jti.to_owned()))),
        )
        .await
        .map(drop)
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

    fn backend(&self) -> &'static str {
        "redis"
    }

    /// On Redis Cluster only: families and denylist entries expire by their TTLs, and
    /// `purge_expired` cannot scan the nodes (it answers 0). A single node also expires
    /// by TTL, but its purge also removes what has ended before its TTL.
    fn expires_by_itself(&self) -> bool {
        self.conn.is_cluster()
    }

    async fn follow_changes(&self, listener: Weak<dyn ChangeListener>) -> Result<Feed, Error> {
        self.follow(listener).await
    }

    /// The subject index's families (one HMGET each, sent 128 at a
    /// time). Every one is read to find the oldest live ones: memory and time grow with
    /// the subject's sessions, which the subject index bounds by their lifetime.
    async fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> Result<Vec<FamilyRecord>, Error> {
        let ids: Vec<String> = self
            .query(
                "reading a subject's sessions",
                redis::cmd("SMEMBERS").arg(self.subject_key(subject)),
            )
            .await?;
        Ok(listed(self.read_families(&ids).await?, subject, now))
    }

    /// Every family, found by SCAN and read 128 at a time (single node and Sentinel; on
    /// Redis Cluster SCAN reaches one node, so this answers an error there).
    async fn families_by_key(&self, now: NumericDate) -> Result<FamiliesByKey, Error> {
        if self.conn.is_cluster() {
            return Err(Error::new(
                crate::error::ErrorKind::Config,
                "counting sessions per key is not supported on Redis Cluster (SCAN reaches \
                 one node)",
            ));
        }
        let keys = self.scan(&format!("{}:{{*}}:f", self.prefix)).await?;
        let ids: Vec<&str> = keys
            .iter()
            .filter_map(|key| key.split('{').nth(1).and_then(|r| r.split('}').next()))
            .collect();
        Ok(count_by_key(&self.read_families(&ids).await?, now))
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
        let (until, values): (Option<u64>, Vec<Value>) = match (deny, family) {
            (None, None) => (None, Vec::new()),
            (Some(deny), None) => (self.query(what, &deny).await?, Vec::new()),
            (None, Some(family)) => (None, self.query(what, &family).await?),
            (Some(deny), Some(family)) if !self.conn.is_cluster() => {
                let mut pipe = redis::pipe();
                pipe.add_command(deny).add_command(family);
                self.conn
                    .pipeline(&pipe)
                    .await
                    .map_err(|e| redis_error(what, e))?
            }
            (Some(deny), Some(family)) => {
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
        let now = crate::model::store::purge_horizon(now);
        if self.conn.is_cluster() {
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

/// How many family reads one listing sends at once.
const LIST_READS_IN_FLIGHT: usize = 128;

impl RedisStore {
    /// The families of `ids` that exist, read [`LIST_READS_IN_FLIGHT`] at a time: a
    /// subject with thousands of sessions (or a count of every family) must not put
    /// thousands of requests on one connection at once.
    async fn read_families(&self, ids: &[impl AsRef<str>]) -> Result<Vec<FamilyRecord>, Error> {
        let mut found = Vec::new();
        for chunk in ids.chunks(LIST_READS_IN_FLIGHT) {
            let read =
                futures_util::future::join_all(chunk.iter().map(|id| self.family(id.as_ref())))
                    .await;
            for family in read {
                found.extend(family?);
            }
        }
        Ok(found)
    }
}
