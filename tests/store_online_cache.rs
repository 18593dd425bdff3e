//! Online checks served from memory, kept current by the store: a cached check reads
//! nothing; every revocation is refused by the instance that made it before the call
//! returns, and by every other instance on the same store within a bound; a lost change
//! feed never lets a revoked session through. Real SQLite files and real Redis servers
//! (single node and Cluster); a second store instance on the same file or server stands
//! for another process (the web load-balancer tests use real separate processes).
#![cfg(all(feature = "sqlite", feature = "redis"))]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::observed::Observed;
use common::redis_server::RedisServer;
use serde_json::{Map, Value};
use tok::layer::Cached;
use tok::refresh::{RefreshPolicy, Sessions, TokenPair};
use tok::store::{AnyStore, Store};
use tok::{ErrorKind, HmacKey, KeySet, Validation};

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap())
}

/// How long another instance may take, at most, to see a revocation: generous, so a
/// slow machine passes and a broken invalidation path (which never delivers) fails.
const BOUND: Duration = Duration::from_secs(5);

/// How long a restarted Redis (or a re-formed cluster) may take to take writes again.
const COMEBACK: Duration = Duration::from_secs(30);

async fn check<S: Store>(s: &Sessions<S>, pair: &TokenPair) -> Result<(), ErrorKind> {
    s.verify_access::<Map<String, Value>>(&pair.access_token, &Validation::new())
        .await
        .map(|_| ())
        .map_err(|e| e.kind())
}

/// Each store URL, opened twice: two instances that share nothing but the store.
struct Shared {
    url: String,
    _dir: Option<tempfile::TempDir>,
    _servers: Vec<RedisServer>,
}

impl Shared {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("tok.db").display());
        Self {
            url,
            _dir: Some(dir),
            _servers: Vec::new(),
        }
    }

    fn redis() -> Self {
        let server = RedisServer::start();
        Self {
            url: server.url(),
            _dir: None,
            _servers: vec![server],
        }
    }

    fn cluster() -> Self {
        let (nodes, url) = common::redis_server::start_cluster();
        Self {
            url,
            _dir: None,
            _servers: nodes,
        }
    }

    #[cfg(feature = "postgres")]
    fn postgres() -> Self {
        Self {
            url: common::postgres_server::database(),
            _dir: None,
            _servers: Vec::new(),
        }
    }

    async fn open(&self) -> AnyStore {
        tok::store::open(&self.url).await.unwrap()
    }

    /// The store, cached: another process's view.
    async fn cached(&self) -> Cached<AnyStore> {
        Cached::new(self.open().await).await.unwrap()
    }

    /// The store, observed, then cached: which checks reach the store is counted.
    async fn observed(&self) -> Cached<Observed<AnyStore>> {
        Cached::new(Observed::new(self.open().await)).await.unwrap()
    }
}

/// A cached check reads nothing; a revocation through the same store is refused at
/// once; without the cache every check reads the store.
async fn cached_checks_read_nothing(store: AnyStore, cached: bool) {
    let observed = Observed::new(store);
    let layer = if cached {
        Cached::new(observed).await.unwrap()
    } else {
        Cached::pass_through(observed)
    };
    assert_eq!(layer.cache().is_serving(), cached);
    let s = Sessions::new(layer, keys(), RefreshPolicy::default());
    let pair = s.issue("alice", &Map::new(), None).await.unwrap();
    for _ in 0..5 {
        assert_eq!(check(&s, &pair).await, Ok(()));
    }
    let reads = s.store().inner().reads.load(Ordering::SeqCst);
    if cached {
        assert_eq!(
            reads, 1,
            "one read fills the cache; the other checks read nothing"
        );
    } else {
        assert_eq!(reads, 5);
    }
    // Each revocation, made here, is refused before the call returns.
    s.revoke_access(&pair.access_token, &Validation::new())
        .await
        .unwrap();
    assert_eq!(check(&s, &pair).await, Err(ErrorKind::Revoked));
    let other = s.issue("alice", &Map::new(), None).await.unwrap();
    assert_eq!(check(&s, &other).await, Ok(()));
    assert!(s.revoke_refresh(&other.refresh_token).await.unwrap());
    assert_eq!(check(&s, &other).await, Err(ErrorKind::Revoked));
    let third = s.issue("alice", &Map::new(), None).await.unwrap();
    assert_eq!(check(&s, &third).await, Ok(()));
    assert_eq!(
        s.revoke_subject("alice").await.unwrap(),
        2,
        "the first session lost only its access token"
    );
    assert_eq!(check(&s, &third).await, Err(ErrorKind::Revoked));
    let fourth = s.issue("bob", &Map::new(), None).await.unwrap();
    let next = s.rotate(&fourth.refresh_token, None).await.unwrap();
    assert_eq!(check(&s, &next).await, Ok(()));
    // Reuse of the retired token revokes the family: refused at once.
    assert_eq!(
        s.rotate(&fourth.refresh_token, None)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::RefreshReused
    );
    assert_eq!(check(&s, &next).await, Err(ErrorKind::Revoked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_checks_on_every_backend_and_without_cache() {
    let sqlite = Shared::sqlite();
    let redis = Shared::redis();
    for store in [
        tok::store::open("memory:").await.unwrap(),
        sqlite.open().await,
        redis.open().await,
    ] {
        cached_checks_read_nothing(store, true).await;
    }
    #[cfg(feature = "postgres")]
    {
        let postgres = Shared::postgres();
        cached_checks_read_nothing(postgres.open().await, true).await;
        cached_checks_read_nothing(postgres.open().await, false).await;
    }
    for store in [
        tok::store::open("memory:").await.unwrap(),
        sqlite.open().await,
        redis.open().await,
    ] {
        cached_checks_read_nothing(store, false).await;
    }
}

/// Waits until `s` refuses `pair`; panics past [`BOUND`].
async fn refused_within<S: Store>(s: &Sessions<S>, pair: &TokenPair, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        match check(s, pair).await {
            Err(ErrorKind::Revoked) => return start.elapsed(),
            Ok(()) => {}
            Err(other) => panic!("{what}: {other:?}"),
        }
        assert!(
            start.elapsed() < BOUND,
            "{what}: still accepted after {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Every kind of revocation made through one instance reaches another instance's cache.
async fn revocations_reach_other_instances(shared: &Shared) {
    let here = Sessions::new(shared.cached().await, keys(), RefreshPolicy::default());
    let there = Sessions::new(shared.cached().await, keys(), RefreshPolicy::default());
    // Only Redis Cluster says a purge job has nothing to do there (its purge cannot scan).
    assert_eq!(
        here.store().expires_by_itself(),
        shared.url.starts_with("redis+cluster://")
    );
    let fresh = || async { here.issue("carol", &Map::new(), None).await.unwrap() };
    let warm = |pair: TokenPair| {
        let there = &there;
        async move {
            // Cached "live" there, twice over.
            assert_eq!(check(there, &pair).await, Ok(()));
            assert_eq!(check(there, &pair).await, Ok(()));
            pair
        }
    };

    let a = warm(fresh().await).await;
    here.revoke_access(&a.access_token, &Validation::new())
        .await
        .unwrap();
    refused_within(&there, &a, "a denylisted jti").await;

    let b = warm(fresh().await).await;
    here.revoke_refresh(&b.refresh_token).await.unwrap();
    refused_within(&there, &b, "a logout").await;

    let c = warm(fresh().await).await;
    here.revoke_session(&c.session_id).await.unwrap();
    refused_within(&there, &c, "an operator's revoke").await;

    let d = warm(fresh().await).await;
    let d1 = here.rotate(&d.refresh_token, None).await.unwrap();
    let d1 = warm(d1).await;
    assert_eq!(
        here.rotate(&d.refresh_token, None)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::RefreshReused
    );
    refused_within(&there, &d1, "reuse detection").await;

    let g = warm(fresh().await).await;
    here.rotate_with_claims(&g.refresh_token, None, &serde_json::json!({"role": "user"}))
        .await
        .unwrap();
    refused_within(&there, &g, "a privilege change").await;

    let e = warm(fresh().await).await;
    let f = warm(fresh().await).await;
    here.revoke_subject("carol").await.unwrap();
    refused_within(&there, &e, "logout everywhere").await;
    refused_within(&there, &f, "logout everywhere").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_another_instance_on_sqlite() {
    revocations_reach_other_instances(&Shared::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_another_instance_on_redis() {
    revocations_reach_other_instances(&Shared::redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_another_instance_on_redis_cluster() {
    revocations_reach_other_instances(&Shared::cluster()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_another_instance_on_postgres() {
    revocations_reach_other_instances(&Shared::postgres()).await;
}

/// Logging out everywhere a subject of 10 KiB (longer than a PostgreSQL NOTIFY carries)
/// reaches the other instance as that subject only: its cached entries for other
/// subjects stay, so one long subject cannot flush every process's cache.
async fn a_long_subject_flushes_nothing_else(shared: &Shared) {
    let here = Sessions::new(shared.cached().await, keys(), RefreshPolicy::default());
    let there = Sessions::new(shared.observed().await, keys(), RefreshPolicy::default());
    let long = "s".repeat(10 * 1024);
    let victim = here.issue(&long, &Map::new(), None).await.unwrap();
    let bystander = here.issue("bob", &Map::new(), None).await.unwrap();
    // The victim's access token is longer than a verifier takes by default.
    let roomy = Validation::new().with_max_token_len(64 * 1024);
    let check = |pair: &TokenPair| {
        let (there, roomy, token) = (&there, &roomy, pair.access_token.clone());
        async move {
            there
                .verify_access::<Map<String, Value>>(&token, roomy)
                .await
                .map(|_| ())
                .map_err(|e| e.kind())
        }
    };
    for pair in [&victim, &bystander, &victim, &bystander] {
        assert_eq!(check(pair).await, Ok(()));
    }
    let reads = there.store().inner().reads.load(Ordering::SeqCst);
    assert_eq!(reads, 2, "one read each fills the cache");
    assert_eq!(here.revoke_subject(&long).await.unwrap(), 1);
    let start = Instant::now();
    while check(&victim).await == Ok(()) {
        assert!(
            start.elapsed() < BOUND,
            "the long subject's logout never arrived"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(check(&victim).await, Err(ErrorKind::Revoked));
    let after = there.store().inner().reads.load(Ordering::SeqCst);
    assert_eq!(check(&bystander).await, Ok(()));
    assert_eq!(
        there.store().inner().reads.load(Ordering::SeqCst),
        after,
        "bob's cached entry stayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_subject_flushes_nothing_else_on_every_backend() {
    a_long_subject_flushes_nothing_else(&Shared::sqlite()).await;
    a_long_subject_flushes_nothing_else(&Shared::redis()).await;
    #[cfg(feature = "postgres")]
    a_long_subject_flushes_nothing_else(&Shared::postgres()).await;
}

/// Redis is killed and restarted between a revocation and the next check, many times:
/// the message announcing the revocation may be lost with the connection, but the other
/// instance never accepts the revoked session (it answers from the store, or fails).
async fn a_lost_feed_never_serves_a_revocation(mut kill_and_restart: impl FnMut(), url: &str) {
    let here = Sessions::new(
        Cached::new(
            tok::store::open(&format!("{url}?timeout_ms=500"))
                .await
                .unwrap(),
        )
        .await
        .unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    let there = Sessions::new(
        Cached::new(
            tok::store::open(&format!("{url}?timeout_ms=500"))
                .await
                .unwrap(),
        )
        .await
        .unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    for round in 0..3 {
        let start = Instant::now();
        let pair = loop {
            if let Ok(pair) = here.issue("dave", &Map::new(), None).await {
                break pair;
            }
            assert!(
                start.elapsed() < COMEBACK,
                "round {round}: no login possible"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Cached "live" on the other instance (once its subscription is back).
        let start = Instant::now();
        while !there.store().cache().is_serving() {
            assert!(
                start.elapsed() < COMEBACK,
                "round {round}: never subscribed again"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(check(&there, &pair).await, Ok(()), "round {round}");
        kill_and_restart();
        // Revoked as soon as the store takes writes again: the other instance may not
        // have subscribed again yet, so the announcement can be lost.
        let start = Instant::now();
        while here.revoke_session(&pair.session_id).await.is_err() {
            assert!(
                start.elapsed() < COMEBACK,
                "round {round}: the store never came back"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for _ in 0..20 {
            match check(&there, &pair).await {
                Err(ErrorKind::Revoked | ErrorKind::Store) => {}
                other => panic!("round {round}: a revoked session was answered {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_restarts_never_serve_a_revocation() {
    let (mut nodes, url) = common::redis_server::start_cluster();
    let restart = || {
        for node in nodes.iter_mut() {
            node.kill();
            node.restart();
        }
    };
    a_lost_feed_never_serves_a_revocation(restart, &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarts_never_serve_a_revocation() {
    let mut server = RedisServer::start();
    let url = server.url();
    let restart = || {
        server.kill();
        server.restart();
    };
    a_lost_feed_never_serves_a_revocation(restart, &url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarts_never_serve_a_revocation() {
    let mut server = common::postgres_server::PostgresServer::start(&[]);
    let url = server.url("postgres");
    let restart = || {
        server.kill();
        server.restart();
    };
    a_lost_feed_never_serves_a_revocation(restart, &url).await;
}

/// The SQLite change log: another instance learns of a revocation even when the log was
/// trimmed past it (it drops everything), and a file replaced under the store stops its
/// cache for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cache_stops_when_the_file_is_replaced() {
    let shared = Shared::sqlite();
    let there = Sessions::new(shared.cached().await, keys(), RefreshPolicy::default());
    let pair = there.issue("erin", &Map::new(), None).await.unwrap();
    assert_eq!(check(&there, &pair).await, Ok(()));
    let cache = there.store().cache();
    assert!(cache.is_serving());
    let path = shared.url.strip_prefix("sqlite:").unwrap();
    let copy = format!("{path}.copy");
    std::fs::copy(path, &copy).unwrap();
    std::fs::rename(&copy, path).unwrap();
    let start = Instant::now();
    while cache.is_serving() {
        assert!(
            start.elapsed() < BOUND,
            "the cache kept serving a replaced file"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
