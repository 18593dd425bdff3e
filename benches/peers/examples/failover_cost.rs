//! What waiting for replicas costs: logouts and rotations on Redis (a primary with AOF
//! `appendfsync always` and one replica) and PostgreSQL (`fsync=on`, one streaming
//! standby), each store opened three ways in the same run: not waiting, waiting on
//! revocations (`wait_replicas=1`), waiting on every write (`&wait_on_every_write=true`);
//! PostgreSQL also with the server's own synchronous replication
//! (`synchronous_standby_names='*'`, `synchronous_commit` on) and tok not waiting. Each figure is
//! the mean time of one call from one client, in rounds that alternate the variants so
//! that the machine's drift falls on all alike; printed as ratios to "not waiting".
//!
//! Run: `cargo run --release --manifest-path benches/peers/Cargo.toml --example
//! failover_cost -- [ROUNDS]`

use std::time::{Duration, Instant};

use serde_json::Map;

#[path = "../../../tests/common/postgres_server.rs"]
mod postgres_server;
#[path = "../benches/common/redis_server.rs"]
mod redis_server;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::AnyStore;
use tok::{HmacKey, KeySet};

const CALLS: usize = 100;

async fn sessions(url: &str) -> Sessions<tok::layer::Cached<AnyStore>> {
    Sessions::new(
        tok::layer::Cached::open(url).await.unwrap(),
        KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap()),
        RefreshPolicy::default(),
    )
}

/// Mean time of a rotation and of a logout, over `CALLS` each.
async fn one_round(s: &Sessions<tok::layer::Cached<AnyStore>>) -> (Duration, Duration) {
    let mut pair = s.issue("u", &Map::new(), None).await.unwrap();
    let start = Instant::now();
    for _ in 0..CALLS {
        pair = s.rotate(&pair.refresh_token, None).await.unwrap();
    }
    let rotate = start.elapsed() / CALLS as u32;
    let mut pairs = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        pairs.push(s.issue("u", &Map::new(), None).await.unwrap());
    }
    let start = Instant::now();
    for pair in &pairs {
        assert!(s.revoke_refresh(&pair.refresh_token).await.unwrap());
    }
    (rotate, start.elapsed() / CALLS as u32)
}

async fn compare(backend: &str, variants: &[(&str, String)], rounds: usize) {
    let mut stores = Vec::new();
    for (name, url) in variants {
        stores.push((name, sessions(url).await));
    }
    let mut totals = vec![(Duration::ZERO, Duration::ZERO); stores.len()];
    for _ in 0..rounds {
        for (i, (_, s)) in stores.iter().enumerate() {
            let (rotate, logout) = one_round(s).await;
            totals[i].0 += rotate;
            totals[i].1 += logout;
        }
    }
    let (base_rotate, base_logout) = totals[0];
    for ((name, _), (rotate, logout)) in stores.iter().zip(&totals) {
        println!(
            "failover_cost {backend} {name}: rotation {:.1} µs ({:.2}x), logout {:.1} µs ({:.2}x)",
            rotate.as_secs_f64() * 1e6 / rounds as f64,
            rotate.as_secs_f64() / base_rotate.as_secs_f64(),
            logout.as_secs_f64() * 1e6 / rounds as f64,
            logout.as_secs_f64() / base_logout.as_secs_f64(),
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);

    let primary = redis_server::Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let port = primary.url.rsplit(':').next().unwrap().to_owned();
    let replica = redis_server::Server::start(&["--replicaof", "127.0.0.1", &port]);
    // The replica's first sync (Redis delays a diskless one by 5 s) must be done.
    let replica_port = replica.url.rsplit(':').next().unwrap().to_owned();
    while !String::from_utf8_lossy(
        &std::process::Command::new("redis-cli")
            .args(["-p", &replica_port, "INFO", "replication"])
            .output()
            .unwrap()
            .stdout,
    )
    .contains("master_link_status:up")
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = &primary.url;
    compare(
        "redis",
        &[
            ("not waiting", url.clone()),
            ("wait_replicas=1", format!("{url}?wait_replicas=1")),
            (
                "wait_replicas=1&wait_on_every_write=true",
                format!("{url}?wait_replicas=1&wait_on_every_write=true"),
            ),
        ],
        rounds,
    )
    .await;

    // The standby is synchronous for sessions that keep `synchronous_commit` on (the
    // default); the others run with `synchronous_commit=local`, asynchronous.
    let server = postgres_server::PostgresServer::start(&["fsync=on"]);
    let url = server.new_database();
    drop(tok::store::open(&url).await.unwrap());
    let _standby = postgres_server::PostgresServer::standby_of(&server);
    server.psql(
        "postgres",
        "ALTER SYSTEM SET synchronous_standby_names = '*'",
    );
    server.psql("postgres", "SELECT pg_reload_conf()");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let local = format!("{url}?options=-c%20synchronous_commit%3Dlocal");
    compare(
        "postgres",
        &[
            ("not waiting", local.clone()),
            ("wait_replicas=1", format!("{local}&wait_replicas=1")),
            (
                "wait_replicas=1&wait_on_every_write=true",
                format!("{local}&wait_replicas=1&wait_on_every_write=true"),
            ),
            (
                "the server's synchronous commit (synchronous_standby_names)",
                url.clone(),
            ),
            (
                "the server's synchronous commit and wait_replicas=1",
                format!("{url}?wait_replicas=1"),
            ),
        ],
        rounds,
    )
    .await;
}
