//! The change feeds under faults a network and a failover produce, injected with a TCP
//! proxy the test owns (never a mock): a Redis subscription or a PostgreSQL LISTEN
//! connection whose packets are dropped while its socket stays open, and a Redis failover
//! behind a moving address where the old primary lives on and keeps the subscription. In
//! each, another process stops serving a revoked session within a bound far under the
//! old detection time (1 s of quiet plus a 1 s ping timeout, forever in the failover
//! case), because its cache serves only while heartbeats sent through its command
//! connection (or pool) come back on its feed.
#![cfg(all(feature = "redis", feature = "postgres"))]

mod common;

use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::redis_server::RedisServer;
use common::traffic::{check, through_outage};
use serde_json::Map;
use tok::layer::Cached;
use tok::refresh::{RefreshPolicy, Sessions, TokenPair};
use tok::store::AnyStore;
use tok::{ErrorKind, HmacKey, KeySet};

/// tok's metrics, rendered in Prometheus text (one recorder for this test binary).
fn metrics() -> String {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .unwrap()
        })
        .render()
}

/// The value of the first sample of `name` whose labels hold `labels`.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap())
}

/// How long a revoked session may still be accepted after a feed fault: generous for a
/// loaded machine (the heartbeat bound is about three 50 ms intervals), and under the
/// 1.75 s the feed's silence took to notice before heartbeats.
const FAULT_BOUND: Duration = Duration::from_secs(1);

async fn sessions(url: &str) -> Sessions<Cached<AnyStore>> {
    Sessions::new(
        Cached::open(url).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    )
}

/// Waits until `s`'s cache serves (its feed proven), within `bound`.
async fn serving_within(s: &Sessions<Cached<AnyStore>>, bound: Duration) {
    let start = Instant::now();
    while !s.store().cache().is_serving() {
        assert!(start.elapsed() < bound, "the feed was not proven again");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Checks `pair` on `there` until refused; how long it was still accepted. Any other
/// answer than accepted or revoked fails the test (an outage is not the fault here).
async fn accepted_for(there: &Sessions<Cached<AnyStore>>, pair: &TokenPair) -> Duration {
    let start = Instant::now();
    loop {
        match check(there, pair).await {
            Err(ErrorKind::Revoked) => return start.elapsed(),
            Ok(()) => {}
            Err(other) => panic!("{other:?}"),
        }
        assert!(
            start.elapsed() < FAULT_BOUND,
            "a revoked session still accepted after {FAULT_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A session checked (and so cached) on `there`.
async fn warm(here: &Sessions<Cached<AnyStore>>, there: &Sessions<Cached<AnyStore>>) -> TokenPair {
    let pair = here.issue("alice", &Map::new(), None).await.unwrap();
    assert_eq!(check(there, &pair).await, Ok(()));
    assert_eq!(check(there, &pair).await, Ok(()));
    pair
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_subscription_serves_no_revocation() {
    metrics();
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port);
    // A prefix of this test's own: the metrics below are this store's alone.
    let here = sessions(&format!("{}?prefix=blackhole", server.url())).await;
    let there = sessions(&format!("{}?prefix=blackhole", proxy.redis_url())).await;
    serving_within(&there, Duration::from_secs(5)).await;
    let pair = warm(&here, &there).await;

    assert_eq!(proxy.black_hole_feeds(), 1);
    assert!(here.revoke_refresh(&pair.refresh_token).await.unwrap());
    let stale = accepted_for(&there, &pair).await;
    eprintln!("black hole: revoked session accepted for {stale:?}");
    // The operator sees it: a deaf episode counted, the feed not hearing, and the
    // heartbeats' round trips until then.
    let text = metrics();
    let redis = r#"backend="redis",store="blackhole""#;
    assert_eq!(
        sample(&text, "tok_change_feed_losses_total", redis),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "tok_change_feed_hearing", redis),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(&text, "tok_change_feed_heartbeat_seconds_count", redis).unwrap_or(0.0) > 0.0,
        "{text}"
    );

    // A new subscription (a new connection, not black-holed) is proven and serves
    // again, and hears revocations as before.
    serving_within(&there, Duration::from_secs(5)).await;
    assert_eq!(
        sample(&metrics(), "tok_change_feed_hearing", redis),
        Some(1.0)
    );
    let next = warm(&here, &there).await;
    assert!(here.revoke_refresh(&next.refresh_token).await.unwrap());
    let heard = accepted_for(&there, &next).await;
    eprintln!("after the black hole: revoked session accepted for {heard:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_the_server_drops_serves_no_revocation() {
    let server = RedisServer::start();
    let here = sessions(&format!("{}?prefix=dropped", server.url())).await;
    let there = sessions(&format!("{}?prefix=dropped", server.url())).await;
    serving_within(&there, Duration::from_secs(5)).await;
    let pair = warm(&here, &there).await;
    // The server drops every subscriber (as `CLIENT KILL`, a restart of a proxy in
    // between, or `client-output-buffer-limit pubsub` does), and a revocation follows at
    // once, before either store has subscribed again.
    let killed: u32 = server
        .cli(&["CLIENT", "KILL", "TYPE", "pubsub"])
        .trim()
        .parse()
        .unwrap();
    assert!(killed >= 2, "{killed}");
    assert!(here.revoke_refresh(&pair.refresh_token).await.unwrap());
    let stale = accepted_for(&there, &pair).await;
    eprintln!("subscription dropped: revoked session accepted for {stale:?}");
    serving_within(&there, Duration::from_secs(5)).await;
    let next = warm(&here, &there).await;
    assert!(here.revoke_refresh(&next.refresh_token).await.unwrap());
    accepted_for(&there, &next).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_with_the_old_primary_alive_serves_no_revocation() {
    let primary = RedisServer::start();
    let port = primary.port.to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    let proxy = Proxy::start(primary.port);
    // Both processes reach Redis through the moving address.
    let here = sessions(&proxy.redis_url()).await;
    let there = sessions(&proxy.redis_url()).await;
    serving_within(&there, Duration::from_secs(5)).await;
    let pair = warm(&here, &there).await;
    // The replica has the session before the failover (the first sync can take a while
    // on a loaded machine).
    let family_key = format!("tok:{{{}}}:f", pair.session_id);
    let start = Instant::now();
    while replica.cli(&["EXISTS", &family_key]).trim() != "1" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the replica never synced"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Failover: the replica is promoted, the address moves to it, the command
    // connections are cut and reconnect there; the subscriptions stay on the old
    // primary, which lives on and answers them.
    replica.cli(&["REPLICAOF", "NO", "ONE"]);
    proxy.redirect(replica.port);
    assert!(proxy.cut_commands() >= 2);
    // The cut connections are being replaced.
    let revoked = through_outage(Duration::from_secs(10), || {
        here.revoke_refresh(&pair.refresh_token)
    })
    .await
    .unwrap();
    assert!(revoked);
    let start = Instant::now();
    loop {
        match check(&there, &pair).await {
            Err(ErrorKind::Revoked) => break,
            // The other process's command connection is being replaced too.
            Ok(()) | Err(ErrorKind::Store) => {}
            Err(other) => panic!("{other:?}"),
        }
        assert!(
            start.elapsed() < FAULT_BOUND,
            "a revoked session still accepted after {FAULT_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    eprintln!(
        "failover: revoked session accepted for {:?}",
        start.elapsed()
    );
    // The subscriptions follow the address to the new primary and serve again.
    serving_within(&there, Duration::from_secs(5)).await;
    let next = warm(&here, &there).await;
    assert!(here.revoke_refresh(&next.refresh_token).await.unwrap());
    accepted_for(&there, &next).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_listen_connection_serves_no_revocation() {
    metrics();
    let server = common::postgres_server::shared();
    let url = common::postgres_server::database();
    let proxy = Proxy::start_marking(server.port, b"LISTEN ");
    // A heartbeat of 50 ms (the default, 200 ms, bounds this at about 800 ms).
    let here = sessions(&url).await;
    let there = sessions(&format!(
        "{}?heartbeat_ms=50",
        proxy.through(&url, server.port)
    ))
    .await;
    serving_within(&there, Duration::from_secs(5)).await;
    let pair = warm(&here, &there).await;

    assert_eq!(proxy.black_hole_feeds(), 1);
    assert!(here.revoke_refresh(&pair.refresh_token).await.unwrap());
    let stale = accepted_for(&there, &pair).await;
    eprintln!("PostgreSQL black hole: revoked session accepted for {stale:?}");
    let text = metrics();
    let name = url.rsplit('/').next().unwrap();
    let labels = format!(
        r#"backend="postgres",store="127.0.0.1:{}/{name}""#,
        proxy.port
    );
    assert_eq!(
        sample(&text, "tok_change_feed_losses_total", &labels),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "tok_change_feed_hearing", &labels),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(&text, "tok_change_feed_heartbeat_seconds_count", &labels).unwrap_or(0.0) > 0.0,
        "{text}"
    );

    serving_within(&there, Duration::from_secs(5)).await;
    let next = warm(&here, &there).await;
    assert!(here.revoke_refresh(&next.refresh_token).await.unwrap());
    accepted_for(&there, &next).await;
}
