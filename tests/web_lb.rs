//! Two app servers behind a "load balancer" (a client alternating between them, request
//! by request), on one SQLite file, one Redis and one PostgreSQL database: sessions hold across them, reuse and
//! logout are seen everywhere at once, and a Redis outage logs no one out.
#![cfg(all(feature = "axum", feature = "cli"))]

mod common;

use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::web::{App, Client};

/// Waits until `url` refuses `client`'s access token: the other server learns of a
/// revocation from the store's change feed, within a bound README states; this bound is
/// generous so that only a broken feed (which never delivers) fails.
async fn refused_within(client: &mut Client, url: &str) {
    let start = Instant::now();
    loop {
        let me = client.me(url).await;
        if me.status == 401 {
            return;
        }
        assert_eq!(me.status, 200, "{me:?}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{url} still accepts a revoked session"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn across_two_servers(store: &str) {
    let a = App::start(store, &["--grace", "0s"]);
    let b = App::start(store, &["--grace", "0s"]);
    let servers = [&a.url, &b.url];
    let mut alice = Client::new();
    assert_eq!(alice.login(&a.url, "alice").await.status, 200);
    for i in 0..50 {
        let url = servers[i % 2];
        let refreshed = alice.refresh(url).await;
        assert_eq!(refreshed.status, 200, "refresh {i}: {refreshed:?}");
        assert_eq!(alice.me(servers[(i + 1) % 2]).await.status, 200, "me {i}");
    }
    // Rotated on B, the old cookie replayed on A: reuse, and the session is dead on both.
    let old = alice.clone();
    assert_eq!(alice.refresh(&b.url).await.status, 200);
    let mut thief = old;
    assert_eq!(thief.refresh(&a.url).await.error(), "refresh-reused");
    assert_eq!(alice.refresh(&b.url).await.error(), "revoked");
    refused_within(&mut alice, &b.url).await;

    // Logout everywhere on A ends the session on B (online check, within the bound).
    let mut one = Client::new();
    let mut two = Client::new();
    one.login(&a.url, "bob").await;
    two.login(&b.url, "bob").await;
    assert_eq!(two.me(&b.url).await.status, 200);
    let all = one
        .send("POST", &format!("{}/session/logout-all", a.url), &[], None)
        .await;
    assert_eq!(all.status, 200);
    refused_within(&mut two, &b.url).await;
    assert_eq!(two.refresh(&a.url).await.error(), "revoked");
}

#[tokio::test]
async fn two_servers_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("web.db").display());
    across_two_servers(&store).await;
}

#[tokio::test]
async fn two_servers_on_one_redis() {
    let redis = RedisServer::start();
    across_two_servers(&redis.url()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn two_servers_on_one_postgres() {
    across_two_servers(&common::postgres_server::database()).await;
}

/// Redis stops mid-run: refreshes and online checks answer 503 with `Retry-After`, no
/// cookie is cleared, and after Redis comes back (AOF on) the same cookies work.
#[tokio::test]
async fn redis_outage_logs_no_one_out() {
    let redis = RedisServer::start();
    let store = format!("{}?timeout_ms=300", redis.url());
    let redis = std::cell::RefCell::new(redis);
    outage_logs_no_one_out(
        &store,
        || redis.borrow_mut().kill(),
        || redis.borrow_mut().restart(),
    )
    .await;
}

/// The same with PostgreSQL killed (SIGKILL) and restarted.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_outage_logs_no_one_out() {
    let server = common::postgres_server::PostgresServer::start(&[]);
    let store = format!("{}?timeout_ms=300", server.url("postgres"));
    let server = std::cell::RefCell::new(server);
    outage_logs_no_one_out(
        &store,
        || server.borrow_mut().kill(),
        || server.borrow_mut().restart(),
    )
    .await;
}

async fn outage_logs_no_one_out(store: &str, kill: impl FnOnce(), restart: impl FnOnce()) {
    let store = store.to_owned();
    let a = App::start(&store, &[]);
    let b = App::start(&store, &[]);
    let mut alice = Client::new();
    alice.login(&a.url, "alice").await;
    assert_eq!(alice.refresh(&b.url).await.status, 200);
    let before = alice.clone();
    kill();
    for url in [&a.url, &b.url] {
        let r = alice.refresh(url).await;
        assert_eq!(r.status, 503, "{r:?}");
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(r.set_cookies().is_empty(), "an outage cleared a cookie");
        let me = alice.me(url).await;
        assert_eq!(me.status, 503);
        let out = alice
            .send("POST", &format!("{url}/session/logout"), &[], None)
            .await;
        assert_eq!(out.status, 503);
        assert!(out.set_cookies().is_empty());
    }
    assert_eq!(
        alice.cookie("__Host-refresh"),
        before.cookie("__Host-refresh")
    );
    restart();
    let mut ok = false;
    for _ in 0..50 {
        if alice.refresh(&a.url).await.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "the session did not come back after the store did");
    assert_eq!(alice.me(&b.url).await.status, 200);
}

/// Two app servers on Redis behind Sentinel (a primary, two replicas, three sentinels),
/// writes confirmed once a replica has them: a user logs out on A, the primary is
/// SIGKILLed, Sentinel promotes a replica. B never answers 200 for the logged-out
/// session (401 or, during the outage, 503), and another user's refreshes answer 200 or
/// 503, never a refusal, before and after the failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_through_a_sentinel_failover() {
    use common::redis_server::Sentinels;
    let (mut primary, _replicas) = common::redis_server::primary_with_replicas(2);
    let sentinels = Sentinels::start(3, primary.port, 1500);
    let store = sentinels.url("wait_replicas=1&wait_on_every_write=true&timeout_ms=500");
    let a = App::start(&store, &["--grace", "10s"]);
    let b = App::start(&store, &["--grace", "10s"]);
    let mut alice = Client::new();
    let mut bob = Client::new();
    assert_eq!(alice.login(&a.url, "alice").await.status, 200);
    assert_eq!(bob.login(&a.url, "bob").await.status, 200);
    assert_eq!(alice.me(&b.url).await.status, 200);
    let mut stale = alice.clone();
    let out = alice
        .send("POST", &format!("{}/session/logout", a.url), &[], None)
        .await;
    assert_eq!(out.status, 204, "{out:?}");
    assert_eq!(stale.me(&b.url).await.status, 401);

    let killed = Instant::now();
    primary.kill();
    let mut statuses = std::collections::BTreeMap::<(&str, u16), u32>::new();
    let mut back = None;
    while back.is_none() || killed.elapsed() < Duration::from_secs(2) + back.unwrap() {
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "never back: {statuses:?}"
        );
        let me = stale.me(&b.url).await.status;
        assert!(
            me == 401 || me == 503,
            "the logged-out session answered {me}"
        );
        *statuses.entry(("logged out, me", me)).or_default() += 1;
        let r = bob.refresh(&b.url).await;
        assert!(r.status == 200 || r.status == 503, "{r:?}");
        *statuses.entry(("live, refresh", r.status)).or_default() += 1;
        if r.status == 200 && back.is_none() && killed.elapsed() > Duration::from_secs(1) {
            back = Some(killed.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "Sentinel failover through two apps: refreshes back {back:?} after the kill; {statuses:?}"
    );
    assert!(
        statuses.contains_key(&("live, refresh", 503)),
        "{statuses:?}"
    );
    let me = bob.me(&a.url).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(stale.me(&a.url).await.status, 401);
}
