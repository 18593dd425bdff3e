//! Choosing a backend at run time: [`open`] reads a store URL, [`AnyStore`] dispatches.
//! This sits on top of the backends; nothing in them imports it.

use crate::error::{Error, ErrorKind};
use std::sync::Weak;

use crate::model::change::{ChangeListener, Feed};
use crate::model::family::{FamilyRecord, Logout};
use crate::model::store::{
    Created, FamiliesByKey, LogoutRequest, OnlineState, RotationOutcome, RotationRequest, Store,
};
use crate::numeric_date::NumericDate;
use crate::store::memory::MemoryStore;
use crate::store::url::redact_url;

#[cfg(feature = "postgres")]
use crate::store::postgres::PostgresStore;
#[cfg(feature = "redis")]
use crate::store::redis::RedisStore;
#[cfg(feature = "sqlite")]
use crate::store::sqlite::SqliteStore;

/// Any backend tok ships, chosen by URL with [`open`].
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// `memory:`
    Memory(MemoryStore),
    /// `sqlite:PATH`
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    /// `redis://…`, `rediss://…`, `redis+cluster://…`, `redis+sentinel://…`
    #[cfg(feature = "redis")]
    Redis(RedisStore),
    /// `postgres://…`, `postgresql://…`
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
}

/// Opens the store a URL names: `memory:`, `sqlite:PATH` (feature `sqlite`),
/// `redis://HOST:PORT`, `redis+cluster://HOST:PORT,...`,
/// `redis+sentinel://HOST:PORT,.../MASTER_NAME` (feature `redis`; see
/// [`RedisStore::open`](crate::store::RedisStore) for `prefix=`, `timeout_ms=` and more),
/// `postgres://USER@HOST/DB` (feature `postgres`; see
/// [`PostgresStore::open`](crate::store::PostgresStore::open) for `pool_size=` and
/// `timeout_ms=`).
/// Scheme names are matched without regard to case.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tok::Error> {
/// let store = tok::store::open("memory:").await?;
/// let err = tok::store::open("mysql://u:pw@db/x").await.unwrap_err();
/// assert_eq!(err.kind(), tok::ErrorKind::Config);
/// assert!(!err.detail().contains("pw"));
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Config`](ErrorKind::Config) for an unknown scheme or a backend this build lacks;
/// [`Store`](ErrorKind::Store) for a backend that cannot be opened.
pub async fn open(url: &str) -> Result<AnyStore, Error> {
    open_any(url, true).await
}

/// Opens a store that other processes reach too: as [`open`], except that `memory:` is
/// an unknown URL. What a tool of many short processes (the `tok` CLI) or a fleet behind
/// a load balancer opens: sessions in one process's memory would be unknown to the next.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tok::Error> {
/// let err = tok::store::open_shared("memory:").await.unwrap_err();
/// assert_eq!(err.kind(), tok::ErrorKind::Config);
/// assert!(!err.detail().contains("expected memory"), "{err}");
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`open`].
pub async fn open_shared(url: &str) -> Result<AnyStore, Error> {
    open_any(url, false).await
}

async fn open_any(url: &str, memory: bool) -> Result<AnyStore, Error> {
    let lower = url
        .get(..url.find(':').map_or(0, |i| i + 1))
        .map(str::to_ascii_lowercase);
    let scheme = lower.as_deref().unwrap_or("");
    match scheme {
        "memory:" if memory && url.len() == "memory:".len() => {
            Ok(AnyStore::Memory(MemoryStore::new()))
        }
        "sqlite:" => {
            #[cfg(feature = "sqlite")]
            return Ok(AnyStore::Sqlite(
                SqliteStore::open(&url["sqlite:".len()..]).await?,
            ));
            #[cfg(not(feature = "sqlite"))]
            return Err(Error::new(
                ErrorKind::Config,
                "tok was built without the sqlite feature",
            ));
        }
        "redis:" | "rediss:" | "redis+cluster:" | "redis+sentinel:" => {
            #[cfg(feature = "redis")]
            return Ok(AnyStore::Redis(RedisStore::open(url).await?));
            #[cfg(not(feature = "redis"))]
            return Err(Error::new(
                ErrorKind::Config,
                "tok was built without the redis feature",
            ));
        }
        "postgres:" | "postgresql:" => {
            #[cfg(feature = "postgres")]
            return Ok(AnyStore::Postgres(PostgresStore::open(url).await?));
            #[cfg(not(feature = "postgres"))]
            return Err(Error::new(
                ErrorKind::Config,
                "tok was built without the postgres feature",
            ));
        }
        _ => Err(Error::new(
            ErrorKind::Config,
            format!(
                "unknown store URL {:?}: expected {}sqlite:PATH, redis://HOST:PORT \
                 or postgres://USER@HOST/DATABASE",
                redact_url(url),
                if memory { "memory:, " } else { "" }
            ),
        )),
    }
}

macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($store) => $call.await,
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite($store) => $call.await,
            #[cfg(feature = "redis")]
            AnyStore::Redis($store) => $call.await,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($store) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn create_family(
        &self,
        family: &FamilyRecord,
        now: NumericDate,
    ) -> Result<Created, Error> {
        dispatch!(self, s => s.create_family(family, now))
    }
    async fn rotate(&self, request: &RotationRequest) -> Result<RotationOutcome, Error> {
        dispatch!(self, s => s.rotate(request))
    }
    async fn logout(&self, request: &LogoutRequest) -> Result<Logout, Error> {
        dispatch!(self, s => s.logout(request))
    }
    async fn revoke_family(&self, family_id: &str, now: NumericDate) -> Result<bool, Error> {
        dispatch!(self, s => s.revoke_family(family_id, now))
    }
    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, Error> {
        dispatch!(self, s => s.revoke_subject(subject, now))
    }
    async fn deny_jti(&self, jti: &str, exp: NumericDate, now: NumericDate) -> Result<(), Error> {
        dispatch!(self, s => s.deny_jti(jti, exp, now))
    }
    async fn is_jti_denied(&self, jti: &str, now: NumericDate) -> Result<bool, Error> {
        dispatch!(self, s => s.is_jti_denied(jti, now))
    }
    async fn family(&self, family_id: &str) -> Result<Option<FamilyRecord>, Error> {
        dispatch!(self, s => s.family(family_id))
    }
    async fn purge_expired(&self, now: NumericDate) -> Result<u64, Error> {
        dispatch!(self, s => s.purge_expired(now))
    }
    async fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> Result<OnlineState, Error> {
        dispatch!(self, s => s.online_state(sid, jti, now))
    }
    async fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> Result<Vec<FamilyRecord>, Error> {
        dispatch!(self, s => s.sessions_of(subject, now))
    }
    async fn families_by_key(&self, now: NumericDate) -> Result<FamiliesByKey, Error> {
        dispatch!(self, s => s.families_by_key(now))
    }
    async fn end_session(
        &self,
        subject: &str,
        family_id: &str,
        now: NumericDate,
    ) -> Result<bool, Error> {
        dispatch!(self, s => s.end_session(subject, family_id, now))
    }
    async fn follow_changes(&self, listener: Weak<dyn ChangeListener>) -> Result<Feed, Error> {
        dispatch!(self, s => s.follow_changes(listener))
    }
    fn backend(&self) -> &'static str {
        match self {
            AnyStore::Memory(s) => s.backend(),
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(s) => s.backend(),
            #[cfg(feature = "redis")]
            AnyStore::Redis(s) => s.backend(),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(s) => s.backend(),
        }
    }
    fn expires_by_itself(&self) -> bool {
        match self {
            AnyStore::Memory(s) => s.expires_by_itself(),
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(s) => s.expires_by_itself(),
            #[cfg(feature = "redis")]
            AnyStore::Redis(s) => s.expires_by_itself(),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(s) => s.expires_by_itself(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The opener's answers for every scheme, in whatever features this build has: a
    /// scheme whose backend is missing is a configuration error that names the feature.
    #[tokio::test]
    async fn schemes_and_missing_backends() {
        assert!(matches!(open("memory:").await, Ok(AnyStore::Memory(_))));
        for url in [
            "memory:x",
            "mysql://h/db",
            "",
            "sqlite",
            "redis",
            "postgres",
        ] {
            let err = open(url).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
        }
        #[cfg(not(feature = "sqlite"))]
        {
            let err = open("sqlite:/tmp/x.db").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.detail().contains("sqlite feature"), "{err}");
        }
        #[cfg(not(feature = "redis"))]
        for url in ["redis://u:pw@h:1", "REDIS+CLUSTER://h:1,h:2"] {
            let err = open(url).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.detail().contains("redis feature"), "{err}");
            assert!(!err.detail().contains("pw"));
        }
        #[cfg(not(feature = "postgres"))]
        for url in ["postgres://u:pw@h/db", "POSTGRESQL://h/db"] {
            let err = open(url).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.detail().contains("postgres feature"), "{err}");
        }
        #[cfg(feature = "sqlite")]
        assert_eq!(
            open("sqlite::memory:").await.unwrap_err().kind(),
            ErrorKind::Config
        );
    }

    /// Every `Store` method of `AnyStore` reaches the backend it wraps, for each backend
    /// this build has that needs no server.
    #[tokio::test]
    async fn any_store_dispatches_every_method() {
        use crate::refresh::{RefreshPolicy, Sessions};
        use crate::{HmacKey, KeySet, NumericDate};
        let dir = tempfile::tempdir().unwrap();
        let mut urls = vec!["memory:".to_owned()];
        if cfg!(feature = "sqlite") {
            urls.push(format!("sqlite:{}", dir.path().join("any.db").display()));
        }
        for url in urls {
            let store = open(&url).await.unwrap();
            match (&store, url.as_str()) {
                (AnyStore::Memory(_), "memory:") => {}
                #[cfg(feature = "sqlite")]
                (AnyStore::Sqlite(_), u) if u.starts_with("sqlite:") => {}
                _ => panic!("{url} opened the wrong backend"),
            }
            let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap());
            let s = Sessions::new(store, keys, RefreshPolicy::default());
            let a = s
                .issue("alice", &serde_json::json!({}), None)
                .await
                .unwrap();
            let b = s
                .issue("alice", &serde_json::json!({}), None)
                .await
                .unwrap();
            let c = s.issue("bob", &serde_json::json!({}), None).await.unwrap();
            let a = s.rotate(&a.refresh_token, None).await.unwrap();
            let store = s.store();
            assert_eq!(
                store
                    .family(&a.session_id)
                    .await
                    .unwrap()
                    .unwrap()
                    .generation,
                1
            );
            assert!(store.family("nope").await.unwrap().is_none());
            assert!(s.revoke_session(&c.session_id).await.unwrap());
            assert!(!s.revoke_session(&c.session_id).await.unwrap());
            assert_eq!(s.revoke_subject("alice").await.unwrap(), 2);
            assert!(!s.revoke_refresh(&b.refresh_token).await.unwrap());
            let now = NumericDate::from_secs(1_800_000_000).unwrap();
            let exp = NumericDate::from_secs(1_800_000_100).unwrap();
            store.deny_jti("j", exp, now).await.unwrap();
            assert!(store.is_jti_denied("j", now).await.unwrap());
            assert!(!store.is_jti_denied("k", now).await.unwrap());
            let far = NumericDate::from_secs(1_900_000_000).unwrap();
            assert_eq!(
                store.purge_expired(far).await.unwrap(),
                4,
                "{url}: 3 families, 1 jti"
            );
            assert_eq!(store.purge_expired(far).await.unwrap(), 0);
        }
        #[cfg(feature = "redis")]
        assert_eq!(
            open("redis://127.0.0.1:1?timeout_ms=100")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::Store,
            "a redis URL reaches the Redis backend (which cannot connect), not a config error"
        );
        #[cfg(feature = "postgres")]
        {
            let err = open("postgresql://u:pw@127.0.0.1:1/db?timeout_ms=200")
                .await
                .unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Store,
                "a postgres URL reaches the PostgreSQL backend (which cannot connect): {err}"
            );
            assert!(!err.detail().contains("pw"), "{err}");
        }
    }
}
