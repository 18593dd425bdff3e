//! Refresh-token rotations per second on Redis with 1 and 32 concurrent tasks, beside two
//! floors on the same server and the same kind of connection: an EVALSHA of an empty
//! script, and of the minimal compare-and-swap (one HMGET, one HSET on one hash). Runs
//! each on a fresh `redis-server` without persistence and with AOF `appendfsync always`
//! (what tok's durability guarantees need), tok and floors alike.
//! Rates are aggregate: operations completed inside one window shared by all tasks.
//!
//! Run: `cargo bench --manifest-path benches/peers/Cargo.toml --bench redis`

use std::sync::Arc;
use std::time::Duration;

use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::RedisStore;
use tok::{HmacKey, KeySet};

#[path = "common/mod.rs"]
mod common;
#[path = "common/redis_server.rs"]
mod redis_server;
use common::rotation::{median, tok_rate, total};
use common::window::Window;
use redis_server::Server;

const ROUND: Duration = Duration::from_millis(1500);

/// The empty floor: a script that touches nothing.
const EMPTY: &str = "return 1";
/// The minimal compare-and-swap a rotation needs: one HMGET and one HSET on one hash.
const CAS: &str = "local g = redis.call('HMGET', KEYS[1], 'gen', 'cur') \
    redis.call('HSET', KEYS[1], 'gen', (tonumber(g[1]) or 0) + 1, 'cur', ARGV[1]) return 1";

async fn floor_rate(conn: &redis::aio::ConnectionManager, source: &str, tasks: usize) -> f64 {
    let script = Arc::new(redis::Script::new(source));
    let window = Window::open(ROUND);
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let (mut conn, script) = (conn.clone(), Arc::clone(&script));
            tokio::spawn(async move {
                let key = format!("floor:{{{i}}}");
                let mut n = 0u64;
                while window.is_open() {
                    let _: i64 = script
                        .key(&key)
                        .arg(n)
                        .invoke_async(&mut conn)
                        .await
                        .unwrap();
                    n += u64::from(window.counts());
                }
                n
            })
        })
        .collect();
    window.rate(total(handles).await)
}

/// Server time per EVALSHA call (`INFO commandstats`, µs) while `run` goes.
async fn server_us_per_call(
    conn: &redis::aio::ConnectionManager,
    run: impl std::future::Future<Output = f64>,
) -> f64 {
    let mut c = conn.clone();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut c)
        .await
        .unwrap();
    run.await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut c)
        .await
        .unwrap();
    info.lines()
        .find(|l| l.starts_with("cmdstat_evalsha:"))
        .and_then(|l| l.split(',').find_map(|f| f.strip_prefix("usec_per_call=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds: usize = std::env::var("TOK_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    println!(
        "Redis rotations/s, median of {rounds} interleaved rounds of {}s (one multiplexed connection each)",
        ROUND.as_secs_f64()
    );
    let mut summary = String::new();
    for (name, persistence) in [
        ("appendonly no", &["--appendonly", "no"][..]),
        (
            "appendonly yes, appendfsync always",
            &["--appendonly", "yes", "--appendfsync", "always"][..],
        ),
    ] {
        let server = Server::start(persistence);
        let conn =
            redis::aio::ConnectionManager::new(redis::Client::open(server.url.as_str()).unwrap())
                .await
                .unwrap();
        let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap());
        let s = Arc::new(Sessions::new(
            RedisStore::open(&server.url).await.unwrap(),
            keys,
            RefreshPolicy::default(),
        ));
        println!("-- {name}");
        let mut cas_ratios = Vec::new();
        for tasks in [1usize, 32] {
            let (mut empty, mut cas, mut rate, mut vs_empty, mut vs_cas) =
                (vec![], vec![], vec![], vec![], vec![]);
            for _ in 0..rounds {
                let e = floor_rate(&conn, EMPTY, tasks).await;
                let c = floor_rate(&conn, CAS, tasks).await;
                let t = tok_rate(&s, tasks, ROUND).await;
                empty.push(e);
                cas.push(c);
                rate.push(t);
                vs_empty.push(t / e);
                vs_cas.push(t / c);
            }
            let vs_cas = median(vs_cas);
            cas_ratios.push(vs_cas);
            println!(
                "{tasks:>2} task(s): empty script {:>8.0}/s  CAS script {:>8.0}/s  tok {:>8.0}/s  ({:.2}x empty, {:.2}x CAS)",
                median(empty),
                median(cas),
                median(rate),
                median(vs_empty),
                vs_cas
            );
        }
        let script_us = server_us_per_call(&conn, tok_rate(&s, 32, ROUND)).await;
        let cas_us = server_us_per_call(&conn, floor_rate(&conn, CAS, 32)).await;
        println!(
            "server time per call (32 tasks): tok rotation script {script_us:.2} µs, CAS script {cas_us:.2} µs"
        );
        let line = format!(
            "rotation redis: 1 task {:.2}x cas-floor, 32 tasks {:.2}x cas-floor, script {script_us:.2} µs vs cas {cas_us:.2} µs",
            cas_ratios[0], cas_ratios[1]
        );
        println!("{line} ({name})");
        // The last line is the summary without persistence, the setting the targets were
        // set in; the one with AOF is printed above it.
        if name == "appendonly no" {
            summary = line;
        }
    }
    println!("{summary}");
}
