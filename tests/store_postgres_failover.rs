//! PostgreSQL with a streaming standby (`pg_basebackup -R`), on real servers run as the
//! `postgres` user: the primary is SIGKILLed under traffic and the standby promoted
//! (`pg_promote()`); tok on a multi-host URL with `target_session_attrs=read-write`
//! follows it, its pool and its LISTEN connection both. And the split case: the address
//! moves to the promoted standby while the old primary lives on, still writable, holding
//! the LISTEN connection; the heartbeat's "same server" proof catches it.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::postgres_server::PostgresServer;
use common::proxy::Proxy;
use common::traffic::{check, through_outage};
use serde_json::Map;
use tok::layer::Cached;
use tok::refresh::{RefreshPolicy, Sessions, TokenPair};
use tok::store::AnyStore;
use tok::{ErrorKind, HmacKey, KeySet};

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&[11; 32]).unwrap())
}

async fn sessions(url: &str) -> Sessions<Cached<AnyStore>> {
    Sessions::new(
        Cached::open(url).await.unwrap(),
        keys(),
        RefreshPolicy::default()
            .with_grace(Duration::from_secs(10))
            .unwrap(),
    )
}

/// The standby has replayed everything the primary wrote so far.
fn caught_up(primary: &PostgresServer, standby: &PostgresServer) {
    let lsn = primary.psql("postgres", "SELECT pg_current_wal_lsn()");
    let start = Instant::now();
    loop {
        let behind = standby.psql(
            "postgres",
            &format!("SELECT pg_last_wal_replay_lsn() < '{}'::pg_lsn", lsn.trim()),
        );
        if behind.trim() == "f" {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the standby never caught up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_standby_loses_nothing_confirmed() {
    let mut primary = PostgresServer::start(&[]);
    let database = primary.new_database();
    // The schema exists before the standby is copied.
    drop(tok::store::open(&database).await.unwrap());
    let standby = PostgresServer::standby_of(&primary);
    let name = database.rsplit('/').next().unwrap();
    let url = format!(
        "postgres://tok@127.0.0.1:{},127.0.0.1:{}/{name}?target_session_attrs=read-write&timeout_ms=1000",
        primary.port, standby.port
    );
    // Every write waits for the standby: confirmed means the standby has it.
    let waiting = format!("{url}&wait_replicas=1&wait_on_every_write=true");
    let here = Arc::new(sessions(&waiting).await);
    let there = Arc::new(sessions(&waiting).await);

    let mut live = Vec::new();
    for i in 0..12 {
        live.push(
            here.issue(&format!("user{i}"), &Map::new(), None)
                .await
                .unwrap(),
        );
    }
    let revoked: Vec<TokenPair> = live.drain(..4).collect();
    for pair in &revoked {
        assert!(here.revoke_refresh(&pair.refresh_token).await.unwrap());
        assert_eq!(check(&there, pair).await, Err(ErrorKind::Revoked));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = common::traffic::run(
        [here.clone(), there.clone()],
        live.clone(),
        revoked.clone(),
        stop.clone(),
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = Instant::now();
    primary.kill();
    standby.promote();
    let promoted = killed.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let common::traffic::Seen {
        live,
        outcomes,
        checks_back,
        ..
    } = traffic.await.unwrap();
    eprintln!(
        "PostgreSQL failover: promoted after {promoted:?}; online checks answered again {:?} after the kill; outcomes {outcomes:?}",
        checks_back.map(|t| t.duration_since(killed))
    );
    assert!(outcomes.get("rotated").copied().unwrap_or(0) > 0);
    assert!(outcomes.contains_key("Store"), "{outcomes:?}");
    // Online checks came back on the promoted standby (its reads need no standby).
    assert!(checks_back.is_some(), "online checks never came back");

    // With no standby left, writes that wait for one are not confirmed: an outage. After
    // the first unconfirmed ones, rotations are refused before they are applied.
    let e = here.rotate(&live[0].refresh_token, None).await.unwrap_err();
    assert!(e.to_string().contains("not applied"), "{e}");
    // Waiting on revocations only, rotations go on without a standby; logouts do not.
    let revocations_only = sessions(&format!("{url}&wait_replicas=1")).await;
    let pair = revocations_only
        .issue("yann", &Map::new(), None)
        .await
        .unwrap();
    let pair = revocations_only
        .rotate(&pair.refresh_token, None)
        .await
        .unwrap();
    let e = revocations_only
        .revoke_refresh(&pair.refresh_token)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("0 of 1 standbys"), "{e}");
    // A revocation that failed its wait does not stop rotations that need none.
    let other = revocations_only
        .issue("zack", &Map::new(), None)
        .await
        .unwrap();
    revocations_only
        .rotate(&other.refresh_token, None)
        .await
        .unwrap();
    // Every rotation the clients were answered, and every logout confirmed, survived.
    let plain = sessions(&url).await;
    for (i, pair) in live.iter().enumerate() {
        let next = plain
            .rotate(&pair.refresh_token, None)
            .await
            .unwrap_or_else(|e| panic!("session {i}, {:?} after the kill: {e}", killed.elapsed()));
        assert_eq!(check(&there, &next).await, Ok(()));
    }
    for pair in &revoked {
        assert_eq!(check(&here, pair).await, Err(ErrorKind::Revoked));
        assert_eq!(check(&there, pair).await, Err(ErrorKind::Revoked));
    }
    // The LISTEN connections followed to the promoted standby: a revocation there
    // reaches the other store's cache.
    let fresh = plain.issue("zoe", &Map::new(), None).await.unwrap();
    assert_eq!(check(&there, &fresh).await, Ok(()));
    assert_eq!(check(&there, &fresh).await, Ok(()));
    assert!(plain.revoke_refresh(&fresh.refresh_token).await.unwrap());
    let start = Instant::now();
    while check(&there, &fresh).await != Err(ErrorKind::Revoked) {
        assert!(start.elapsed() < Duration::from_secs(1), "not heard");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(there.store().cache().is_serving());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_connection_left_on_the_old_primary_serves_no_revocation() {
    let primary = PostgresServer::start(&[]);
    let database = primary.new_database();
    drop(tok::store::open(&database).await.unwrap());
    let standby = PostgresServer::standby_of(&primary);
    // Both processes reach the database through an address that moves (a DNS name, a
    // VIP); the proxy plays it.
    let proxy = Proxy::start_marking(primary.port, b"LISTEN ");
    let url = format!(
        "{}?heartbeat_ms=100",
        proxy.through(&database, primary.port)
    );
    let here = sessions(&url).await;
    let there = sessions(&url).await;
    let start = Instant::now();
    while !there.store().cache().is_serving() {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pair = here.issue("alice", &Map::new(), None).await.unwrap();
    assert_eq!(check(&there, &pair).await, Ok(()));
    assert_eq!(check(&there, &pair).await, Ok(()));
    caught_up(&primary, &standby);

    // The standby is promoted and the address moves to it; the pools' connections are
    // cut and reconnect there, the LISTEN connections stay on the old primary, which
    // lives on and answers them.
    standby.promote();
    proxy.redirect(standby.port);
    assert!(proxy.cut_commands() >= 2);
    // The cut connections are being replaced.
    let revoked = through_outage(Duration::from_secs(10), || {
        here.revoke_refresh(&pair.refresh_token)
    })
    .await
    .unwrap();
    assert!(revoked);
    // The revocation is on the new primary only.
    assert_eq!(
        primary
            .psql(
                name_of(&database),
                "SELECT count(*) FROM tok_families WHERE revoked_ms IS NOT NULL"
            )
            .trim(),
        "0"
    );
    let start = Instant::now();
    loop {
        match check(&there, &pair).await {
            Err(ErrorKind::Revoked) => break,
            Ok(()) | Err(ErrorKind::Store) => {}
            Err(other) => panic!("{other:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "a revoked session still accepted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    eprintln!(
        "PostgreSQL split (old primary alive): revoked session accepted for {:?}",
        start.elapsed()
    );
    // The LISTEN connection moves to the new primary and is proven again.
    let start = Instant::now();
    while !there.store().cache().is_serving() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never proven again"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let next = here.issue("bob", &Map::new(), None).await.unwrap();
    assert_eq!(check(&there, &next).await, Ok(()));
    assert!(here.revoke_refresh(&next.refresh_token).await.unwrap());
    let start = Instant::now();
    while check(&there, &next).await != Err(ErrorKind::Revoked) {
        assert!(start.elapsed() < Duration::from_secs(1), "not heard");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn name_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}
