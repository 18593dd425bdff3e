//! What the change feeds' heartbeats (Redis) and proofs (PostgreSQL) cost the server: 8
//! and 64 stores (as many application processes would hold) open on one fresh Redis and
//! one fresh PostgreSQL,
//! idle for a while, with the default heartbeat and with one so slow it never fires in
//! the window (the floor: the same connections and subscriptions, no heartbeats). The
//! figure is the server's CPU time over the window (PostgreSQL: the postmaster and all
//! its backends), as a share of one core.
//!
//! Run: `cargo run --release --manifest-path benches/peers/Cargo.toml --example
//! heartbeat_cost -- [SECONDS]` (default 10)

use std::time::Duration;

#[path = "../../../tests/common/postgres_server.rs"]
mod postgres_server;
#[path = "../benches/common/redis_server.rs"]
mod redis_server;

/// Clock ticks per second of /proc's CPU times (Linux's USER_HZ).
const TICKS: f64 = 100.0;

/// utime + stime of `pid`, in ticks, from /proc.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name's closing parenthesis: state is field 3; utime and
    // stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// `pid` and its children's CPU ticks (PostgreSQL runs a process per connection).
fn tree_ticks(pid: u32) -> u64 {
    let mut total = cpu_ticks(pid);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            total += cpu_ticks(child);
        }
    }
    total
}

/// The server's share of one core while `n` stores on `url` sit idle for `window`.
async fn share(url: &str, n: usize, window: Duration, ticks: impl Fn() -> u64) -> f64 {
    let mut stores = Vec::new();
    for _ in 0..n {
        stores.push(tok::layer::Cached::open(url).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = ticks();
    tokio::time::sleep(window).await;
    let used = ticks() - before;
    drop(stores);
    used as f64 / TICKS / window.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let window = Duration::from_secs(seconds);
    for n in [8, 64] {
        let redis = redis_server::Server::start(&[]);
        let pid = redis.pid();
        let floor = share(
            &format!("{}?heartbeat_ms=60000", redis.url),
            n,
            window,
            || cpu_ticks(pid),
        )
        .await;
        let beats = share(&redis.url, n, window, || cpu_ticks(pid)).await;
        println!(
            "redis, {n} stores: {:.0} heartbeats/s; server CPU {:.2}% of a core (floor {:.2}%)",
            n as f64 * 20.0,
            beats * 100.0,
            floor * 100.0
        );
        let pg = postgres_server::PostgresServer::start(&[]);
        let pid = pg.pid().unwrap();
        let url = pg.url("postgres");
        let options = format!("{url}?pool_size=2");
        let floor = share(&format!("{options}&heartbeat_ms=60000"), n, window, || {
            tree_ticks(pid)
        })
        .await;
        let beats = share(&options, n, window, || tree_ticks(pid)).await;
        println!(
            "postgres, {n} stores: {:.0} proofs/s (2 queries each); server CPU {:.2}% of a core (floor {:.2}%)",
            n as f64 * 5.0,
            beats * 100.0,
            floor * 100.0
        );
    }
}
