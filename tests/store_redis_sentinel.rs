//! Redis with a replica and three Sentinels, on real servers: the primary is SIGKILLed
//! under traffic, Sentinel promotes the replica, and tok follows. Sessions rotate and are
//! checked throughout from two stores (two processes' worth); the outage is bounded and
//! answered as an outage (`Store`, 503), never as reuse of a rotation that was confirmed,
//! never by accepting a session whose logout was confirmed. Writes wait for the replica
//! (`wait_replicas=1`, `wait_on_every_write=true`), which is what makes "confirmed" mean
//! "survives the failover"; a second test shows what that wait refuses to confirm.
#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::redis_server::{RedisServer, Sentinels, primary_with_replicas, synced};
use common::traffic::{check, through_outage};
use serde_json::Map;
use tok::layer::Cached;
use tok::refresh::{RefreshPolicy, Sessions, TokenPair};
use tok::store::{AnyStore, Store};
use tok::{ErrorKind, HmacKey, KeySet};

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&[9; 32]).unwrap())
}

async fn sessions(url: &str) -> Sessions<Cached<AnyStore>> {
    Sessions::new(
        Cached::open(url).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    )
}

/// A family's generation, as its store holds it.
async fn generation(s: &Sessions<Cached<AnyStore>>, family_id: &str) -> u64 {
    s.store()
        .family(family_id)
        .await
        .unwrap()
        .unwrap()
        .generation
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_under_traffic_loses_nothing_confirmed() {
    let (mut primary, replicas) = primary_with_replicas(2);
    let sentinels = Sentinels::start(3, primary.port, 1500);
    // Each write waits for one of the two replicas: Sentinel promotes the one with the
    // most of the primary's writes, and the other replica acknowledges writes after the
    // failover. A grace window lets a client retry a rotation whose answer the failover
    // cut off (it may have been applied): the retry is answered, not taken for reuse.
    let url = sentinels.url("wait_replicas=1&wait_on_every_write=true&timeout_ms=500");
    let policy = RefreshPolicy::default()
        .with_grace(Duration::from_secs(10))
        .unwrap();
    let here = Arc::new(Sessions::new(
        Cached::open(&url).await.unwrap(),
        keys(),
        policy.clone(),
    ));
    let there = Arc::new(Sessions::new(
        Cached::open(&url).await.unwrap(),
        keys(),
        policy,
    ));

    // Twenty sessions; five logged out (confirmed) before anything fails.
    let mut live = Vec::new();
    for i in 0..20 {
        live.push(
            here.issue(&format!("user{i}"), &Map::new(), None)
                .await
                .unwrap(),
        );
    }
    let mut revoked: Vec<TokenPair> = live.drain(..5).collect();
    for pair in &revoked {
        assert!(here.revoke_refresh(&pair.refresh_token).await.unwrap());
        assert_eq!(check(&there, pair).await, Err(ErrorKind::Revoked));
    }

    // Traffic: each live session rotates in turn, on one store or the other; a revoked
    // one is checked between rotations. A rotation answered is the client's new pair.
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
    let promoted_port = loop {
        match sentinels.primary() {
            Some(p) if p != primary.port => break p,
            _ => {}
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "Sentinel never promoted a replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let promoted = killed.elapsed();
    // The other replica follows the new primary and acknowledges writes again.
    let other = replicas.iter().find(|r| r.port != promoted_port).unwrap();
    let start = Instant::now();
    while !other
        .cli(&["INFO", "replication"])
        .contains("master_link_status:up")
        || !other
            .cli(&["INFO", "replication"])
            .contains(&format!("master_port:{promoted_port}"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the other replica never followed the new primary"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let common::traffic::Seen {
        live,
        outcomes,
        last_outage,
        ..
    } = traffic.await.unwrap();
    eprintln!(
        "Sentinel failover: promoted after {promoted:?}; last outage answer {:?} after the kill; outcomes {outcomes:?}",
        last_outage.map(|t| t.duration_since(killed))
    );
    assert!(outcomes.get("rotated").copied().unwrap_or(0) > 0);
    assert!(
        outcomes.contains_key("Store"),
        "the failover was never seen: {outcomes:?}"
    );

    // Every rotation the clients were answered survived: each client's last pair rotates
    // on (never `RefreshReused`), and checks.
    for pair in &live {
        let next = through_outage(Duration::from_secs(10), || {
            here.rotate(&pair.refresh_token, None)
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}\n{}\n{}",
                replicas[0].cli(&["INFO", "replication"]),
                replicas[1].cli(&["INFO", "replication"])
            )
        });
        assert_eq!(check(&there, &next).await, Ok(()));
    }
    // Every confirmed logout survived, on both stores.
    for pair in &revoked {
        assert_eq!(check(&here, pair).await, Err(ErrorKind::Revoked));
        assert_eq!(check(&there, pair).await, Err(ErrorKind::Revoked));
    }
    // And the stores hear each other's revocations again on the new primary.
    let pair = live.last().unwrap();
    let fresh = here.rotate(&pair.refresh_token, None).await.unwrap();
    assert_eq!(check(&there, &fresh).await, Ok(()));
    assert!(here.revoke_refresh(&fresh.refresh_token).await.unwrap());
    assert_eq!(check(&there, &fresh).await, Err(ErrorKind::Revoked));
    revoked.push(fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_no_replica_acknowledged_is_not_confirmed() {
    let mut primary = RedisServer::start();
    // The replica replicates through a proxy the test owns, which can drop its link's
    // packets with the sockets left open (as a partition does).
    let link = Proxy::start_marking(primary.port, b"PSYNC");
    let port = link.port.to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    synced(&primary, &replica);
    let waiting = sessions(&format!("{}?wait_replicas=1&timeout_ms=300", primary.url())).await;
    let every = sessions(&format!(
        "{}?wait_replicas=1&wait_on_every_write=true&timeout_ms=300",
        primary.url()
    ))
    .await;
    let plain = sessions(&primary.url()).await;
    let alice = waiting.issue("alice", &Map::new(), None).await.unwrap();
    let carol = every.issue("carol", &Map::new(), None).await.unwrap();
    let bob = plain.issue("bob", &Map::new(), None).await.unwrap();
    synced(&primary, &replica);

    assert_eq!(link.black_hole_feeds(), 1);
    // Waiting on revocations only, a rotation needs no replica.
    let alice = waiting.rotate(&alice.refresh_token, None).await.unwrap();
    // Waiting on every write, a rotation no replica acknowledged is applied but not
    // confirmed; once that happened, the next rotation is refused before it is applied
    // (its client would otherwise hold only the previous token, which the grace window
    // answers for a while and reuse detection after).
    let before = generation(&every, &carol.session_id).await;
    let e = every.rotate(&carol.refresh_token, None).await.unwrap_err();
    assert!(
        e.to_string().contains("0 of 1 replicas acknowledged it"),
        "{e}"
    );
    let e = every.rotate(&carol.refresh_token, None).await.unwrap_err();
    assert!(e.to_string().contains("not applied"), "{e}");
    assert_eq!(generation(&every, &carol.session_id).await, before + 1);
    // Waiting for a replica, the logout is applied on the primary but not confirmed: an
    // outage, not a promise.
    let unconfirmed = waiting
        .revoke_refresh(&alice.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(unconfirmed.kind(), ErrorKind::Store, "{unconfirmed}");
    assert!(
        unconfirmed.to_string().contains("0 of 1 replicas"),
        "{unconfirmed}"
    );
    // Without the wait, the same kind of logout is confirmed though no replica has it;
    // the primary dies, the replica is promoted, and the session lives again: what the
    // option exists to prevent.
    assert!(plain.revoke_refresh(&bob.refresh_token).await.unwrap());
    primary.kill();
    replica.cli(&["REPLICAOF", "NO", "ONE"]);
    let promoted = sessions(&replica.url()).await;
    assert_eq!(check(&promoted, &bob).await, Ok(()), "the lost logout");
}
