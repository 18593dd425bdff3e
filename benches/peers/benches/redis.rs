//! Refresh-token rotations per second on Redis with 1 and 32 concurrent tasks, beside the
//! raw floor on the same server: one EVALSHA round trip of a trivial script per call, on
//! the same kind of connection. Starts its own `redis-server` on a free loopback port.
//! Rates are aggregate: operations completed inside one window shared by all tasks.
//!
//! Run: `cargo bench --manifest-path benches/peers/Cargo.toml --bench redis`

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::RedisStore;
use tok::{HmacKey, KeySet};

#[path = "common/mod.rs"]
mod common;
use common::rotation::{median, tok_rate, total};
use common::window::Window;

const ROUND: Duration = Duration::from_millis(1500);

async fn floor_rate(conn: &redis::aio::ConnectionManager, tasks: usize) -> f64 {
    let script = Arc::new(redis::Script::new("return 1"));
    let window = Window::open(ROUND);
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let (mut conn, script) = (conn.clone(), Arc::clone(&script));
            tokio::spawn(async move {
                let key = format!("floor:{{{i}}}");
                let mut n = 0u64;
                while window.is_open() {
                    let _: i64 = script.key(&key).invoke_async(&mut conn).await.unwrap();
                    n += u64::from(window.counts());
                }
                n
            })
        })
        .collect();
    window.rate(total(handles).await)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds: usize = std::env::var("TOK_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let url = format!("redis://127.0.0.1:{port}");
    let conn = redis::aio::ConnectionManager::new(redis::Client::open(url.as_str()).unwrap()).await.unwrap();
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap()).unwrap();
    let s = Arc::new(Sessions::new(RedisStore::open(&url).await.unwrap(), keys, RefreshPolicy::default()));

    println!("Redis rotations/s, median of {rounds} interleaved rounds of {}s (one multiplexed connection each)", ROUND.as_secs_f64());
    for tasks in [1usize, 32] {
        let (mut floor, mut rate, mut ratio) = (vec![], vec![], vec![]);
        for _ in 0..rounds {
            let f = floor_rate(&conn, tasks).await;
            let t = tok_rate(&s, tasks, ROUND).await;
            floor.push(f);
            rate.push(t);
            ratio.push(t / f);
        }
        println!(
            "{tasks:>2} task(s): floor (EVALSHA of `return 1`) {:>8.0}/s  tok rotations {:>8.0}/s  ({:.2}x the floor)",
            median(floor),
            median(rate),
            median(ratio)
        );
    }
    server.kill().ok();
    server.wait().ok();
}
