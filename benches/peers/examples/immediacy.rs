//! How long another process keeps accepting a session revoked here: thousands of rounds
//! between two processes on one store. In each round this process issues a session and
//! hands its access token to the other (a child running this same program), which checks
//! it until its online-check cache holds it, then keeps checking; this process revokes
//! the session (logout by family), and the child reports when its check first refused.
//! The figure is the time from the revoking call's return to that refusal (0 when the
//! child refused before the call returned), as p50, p99 and max; the child checks every
//! ~50 µs plus a check's time, which bounds the resolution.
//!
//! Run: `cargo run --release --manifest-path benches/peers/Cargo.toml --example immediacy
//! -- [sqlite|redis|postgres|both|all] [ROUNDS]` (`both`: SQLite and Redis; `all`: the
//! three)
//!
//! Under a fault of the feed: `-- [redis-black-hole|postgres-black-hole] [ROUNDS]` runs
//! the child through a TCP proxy, and in each round, once the child's feed is proven and
//! the token cached there, drops every packet of the child's subscription (or LISTEN
//! connection) with its socket left open, then revokes: the figure is how long the child
//! still accepted the revoked session, bounded by its heartbeats alone. The child then
//! follows the feed anew (a new connection, not black-holed) before the next round.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

#[path = "../../../tests/common/postgres_server.rs"]
mod postgres_server;
#[allow(dead_code)]
#[path = "../../../tests/common/proxy.rs"]
mod proxy;
#[path = "../benches/common/redis_server.rs"]
mod redis_server;
use redis_server::Server;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::{HmacKey, KeySet, Validation};

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap())
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The other process: for each token read on stdin, says `ready` once the token is
/// accepted (and so cached), then checks it until refused and answers the instant.
async fn child(url: &str) {
    let sessions = Sessions::new(
        tok::layer::Cached::open(url).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    let validation = Validation::new();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let token = line.unwrap();
        // A round starts with the feed proven (after a fault, once it is again).
        while !sessions.store().cache().is_serving() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let check = || sessions.verify_access::<Map<String, Value>>(&token, &validation);
        check().await.unwrap();
        check().await.unwrap();
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
        loop {
            if check().await.is_err() {
                break;
            }
            // Leave the core briefly (this machine has two, and the parent needs one); a
            // thread sleep, as tokio's timer would round this up to a millisecond. The
            // runtime's other worker runs the store's change follower meanwhile.
            std::thread::sleep(Duration::from_micros(50));
        }
        writeln!(out, "{}", now_ns()).unwrap();
        out.flush().unwrap();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(name: &str, url: &str, rounds: usize) {
    measure_through(name, url, url, None, rounds).await;
}

/// Rounds where the child reaches the store at `child_url`; with a `fault`, each round
/// black-holes the child's feed through that proxy before revoking.
async fn measure_through(
    name: &str,
    url: &str,
    child_url: &str,
    fault: Option<&proxy::Proxy>,
    rounds: usize,
) {
    let sessions = Sessions::new(
        tok::layer::Cached::open(url).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    let mut other = Command::new(std::env::current_exe().unwrap())
        .args(["--child", child_url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_child = other.stdin.take().unwrap();
    let mut from_child = BufReader::new(other.stdout.take().unwrap());
    let mut line = String::new();
    let mut delays = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let pair = sessions
            .issue("user", &serde_json::json!({}), None)
            .await
            .unwrap();
        writeln!(to_child, "{}", pair.access_token).unwrap();
        line.clear();
        from_child.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        if let Some(proxy) = fault {
            assert_eq!(proxy.black_hole_feeds(), 1, "the child's one live feed");
        }
        sessions.revoke_session(&pair.session_id).await.unwrap();
        let revoked = now_ns();
        line.clear();
        from_child.read_line(&mut line).unwrap();
        let refused: u128 = line.trim().parse().unwrap();
        delays.push(refused.saturating_sub(revoked) as f64 / 1e6);
    }
    drop(to_child);
    other.wait().unwrap();
    delays.sort_by(f64::total_cmp);
    println!(
        "immediacy {name}: {rounds} revocations, another process refused after p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays[delays.len() - 1]
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2]).await;
        return;
    }
    let which = args.get(1).map_or("both", String::as_str).to_owned();
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(2000);
    let all = which == "all";
    if which == "sqlite" || which == "both" || all {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("tok.db").display());
        measure("sqlite", &url, rounds).await;
    }
    if which == "redis" || which == "both" || all {
        let redis = Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
        measure("redis", &redis.url, rounds).await;
    }
    if which == "redis-black-hole" {
        let redis = Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
        let port: u16 = redis.url.rsplit(':').next().unwrap().parse().unwrap();
        let proxy = proxy::Proxy::start(port);
        let rounds = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(100);
        measure_through(
            "redis, feed black-holed",
            &redis.url,
            &proxy.redis_url(),
            Some(&proxy),
            rounds,
        )
        .await;
    }
    if which == "postgres-black-hole" {
        let server = postgres_server::PostgresServer::start(&["fsync=on"]);
        let url = server.new_database();
        let proxy = proxy::Proxy::start_marking(server.port, b"LISTEN ");
        let rounds = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(100);
        measure_through(
            "postgres, feed black-holed",
            &url,
            &proxy.through(&url, server.port),
            Some(&proxy),
            rounds,
        )
        .await;
    }
    if which == "postgres" || all {
        let server = postgres_server::PostgresServer::start(&["fsync=on"]);
        measure("postgres", &server.new_database(), rounds).await;
    }
}
