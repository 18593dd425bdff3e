//! Refresh-token rotations per second on PostgreSQL with 1, 8 and 64 concurrent clients,
//! beside a floor on the same server, settings and pool size: one
//! `UPDATE … WHERE id = $1 AND generation = $2 RETURNING …` per rotation (a prepared
//! statement on a table of its own keyed by id), the least a rotation that stores its
//! state in PostgreSQL can do. Durable first (`fsync` and `synchronous_commit` on, what
//! tok's guarantees need), then CPU-bound (`synchronous_commit = off` for tok and floor
//! alike, so a slow disk cannot hide tok's own cost). Then online checks per second,
//! cached and uncached, beside a floor of one primary-key SELECT.
//!
//! The server is the bench's own (`initdb` in a temporary directory, a free loopback
//! port). Rates are aggregate: operations completed inside one window shared by all
//! clients.
//!
//! Run: `cargo bench --manifest-path benches/peers/Cargo.toml --bench postgres`

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde_json::{Map, Value};
use tok::layer::Cached;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{PostgresStore, Store};
use tok::{HmacKey, KeySet, Validation};
use tokio_postgres::NoTls;

#[path = "common/mod.rs"]
mod common;
#[path = "../../../tests/common/postgres_server.rs"]
mod postgres_server;
use common::rotation::{median, tok_rate, total};
use common::window::Window;
use postgres_server::PostgresServer;

const ROUND: Duration = Duration::from_millis(1500);
const CLIENTS: [usize; 3] = [1, 8, 64];

/// A pool like the store's own (same size and recycling).
fn pool(url: &str) -> Pool {
    let config: tokio_postgres::Config = url.parse().unwrap();
    Pool::builder(Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    ))
    .max_size(tok::store::postgres::DEFAULT_POOL_SIZE)
    .runtime(Runtime::Tokio1)
    .build()
    .unwrap()
}

const FLOOR_UPDATE: &str = "UPDATE floor SET generation = generation + 1, last_used_ms = $3 \
     WHERE id = $1 AND generation = $2 RETURNING generation";

/// `clients` tasks, each advancing its own row's generation with the floor statement.
async fn floor_rate(pool: &Pool, clients: usize) -> f64 {
    let mut starts = Vec::new();
    for _ in 0..clients {
        let id = next_id();
        let c = pool.get().await.unwrap();
        c.execute(
            "INSERT INTO floor (id, generation, last_used_ms) VALUES ($1, 0, 0)",
            &[&id],
        )
        .await
        .unwrap();
        starts.push(id);
    }
    let window = Window::open(ROUND);
    let handles: Vec<_> = starts
        .into_iter()
        .map(|id| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let (mut generation, mut n) = (0i64, 0u64);
                while window.is_open() {
                    let c = pool.get().await.unwrap();
                    let statement = c.prepare_cached(FLOOR_UPDATE).await.unwrap();
                    let row = c
                        .query_one(&statement, &[&id, &generation, &generation])
                        .await
                        .unwrap();
                    generation = row.get(0);
                    n += u64::from(window.counts());
                }
                n
            })
        })
        .collect();
    window.rate(total(handles).await)
}

/// Online checks per second by `clients` tasks, each checking its own access token.
async fn check_rate<S: Store + 'static>(s: &Arc<Sessions<S>>, clients: usize) -> f64 {
    let mut tokens = Vec::new();
    for _ in 0..clients {
        tokens.push(
            s.issue("bench", &Map::new(), None)
                .await
                .unwrap()
                .access_token,
        );
    }
    let window = Window::open(ROUND);
    let handles: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let s = Arc::clone(s);
            tokio::spawn(async move {
                let (validation, mut n) = (Validation::new(), 0u64);
                while window.is_open() {
                    s.verify_access::<Map<String, Value>>(&token, &validation)
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

/// One primary-key SELECT per check: the floor of an uncached online check.
async fn select_rate(pool: &Pool, clients: usize) -> f64 {
    let window = Window::open(ROUND);
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while window.is_open() {
                    let c = pool.get().await.unwrap();
                    let statement = c
                        .prepare_cached("SELECT generation FROM floor WHERE id = $1")
                        .await
                        .unwrap();
                    c.query_opt(&statement, &[&"none"]).await.unwrap();
                    n += u64::from(window.counts());
                }
                n
            })
        })
        .collect();
    window.rate(total(handles).await)
}

/// A new row id for the floor (unique in this run).
fn next_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "floor-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
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
    let server = PostgresServer::start(&["fsync=on", "synchronous_commit=on"]);
    println!(
        "PostgreSQL rotations/s, median of {rounds} interleaved rounds of {}s (pools of {})",
        ROUND.as_secs_f64(),
        tok::store::postgres::DEFAULT_POOL_SIZE
    );
    let keys = || KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap());
    let mut ratios = Vec::new();
    let mut cpu_bound = Vec::new();
    for (name, options) in [
        ("synchronous_commit on", ""),
        (
            "synchronous_commit off",
            "?options=-c%20synchronous_commit%3Doff",
        ),
    ] {
        let url = format!("{}{options}", server.new_database());
        let store = Cached::new(PostgresStore::open(&url).await.unwrap())
            .await
            .unwrap();
        let floor = pool(&url);
        floor
            .get()
            .await
            .unwrap()
            .batch_execute(
                "CREATE TABLE floor (id text PRIMARY KEY, generation bigint NOT NULL, \
                 last_used_ms bigint NOT NULL)",
            )
            .await
            .unwrap();
        let s = Arc::new(Sessions::new(store, keys(), RefreshPolicy::default()));
        println!("-- {name}");
        for clients in CLIENTS {
            let (mut floors, mut rates, mut vs) = (vec![], vec![], vec![]);
            for _ in 0..rounds {
                let f = floor_rate(&floor, clients).await;
                let t = tok_rate(&s, clients, ROUND).await;
                floors.push(f);
                rates.push(t);
                vs.push(t / f);
            }
            let ratio = median(vs);
            println!(
                "{clients:>2} client(s): floor {:>7.0}/s  tok {:>7.0}/s  ({ratio:.2}x floor)",
                median(floors),
                median(rates),
            );
            if name == "synchronous_commit on" {
                ratios.push(ratio);
            } else {
                cpu_bound.push(ratio);
            }
        }
        if name == "synchronous_commit on" {
            let uncached = Arc::new(Sessions::new(
                PostgresStore::open(&url).await.unwrap(),
                keys(),
                RefreshPolicy::default(),
            ));
            for clients in [1usize, 8] {
                let (mut sel, mut cached, mut plain) = (vec![], vec![], vec![]);
                for _ in 0..rounds {
                    sel.push(select_rate(&floor, clients).await);
                    cached.push(check_rate(&s, clients).await);
                    plain.push(check_rate(&uncached, clients).await);
                }
                let (sel, cached, plain) = (median(sel), median(cached), median(plain));
                println!(
                    "online checks, {clients} client(s): cached {cached:>9.0}/s  uncached {plain:>7.0}/s \
                     ({:.2}x a primary-key SELECT at {sel:.0}/s)",
                    plain / sel
                );
            }
        }
    }
    println!(
        "rotation postgres: 1 client {:.2}x floor, 8 clients {:.2}x floor, 64 clients {:.2}x floor, \
         cpu-bound {:.2}x floor (1/8/64 clients: {:.2}/{:.2}/{:.2})",
        ratios[0],
        ratios[1],
        ratios[2],
        median(cpu_bound.clone()),
        cpu_bound[0],
        cpu_bound[1],
        cpu_bound[2]
    );
}
