//! Refresh-token rotations per second: tok's memory and SQLite stores with 1, 8 and 64
//! concurrent clients, beside the raw floor — the same single-row SQLite transaction
//! (BEGIN IMMEDIATE, read the row, conditional UPDATE, COMMIT), one transaction per CAS,
//! with the same durability settings (WAL, synchronous=FULL) — measured in the same run,
//! interleaved; then the CPU-bound ratio: tok and floor alike with synchronous=OFF, one
//! client. Rates are aggregate: operations completed inside one window shared by all
//! clients. tok's p50/p99 latency per rotation is printed beside each rate.
//!
//! Run: `cargo bench --manifest-path benches/peers/Cargo.toml --bench refresh`

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{Durability, MemoryStore, SqliteStore, Store};
use tok::{HmacKey, KeySet};

#[path = "common/mod.rs"]
mod common;
use common::rotation::{median, quantile, tok_rate, tok_run};
use common::window::Window;

const ROUND: Duration = Duration::from_millis(1500);

fn sessions<S: Store>(store: S) -> Arc<Sessions<S>> {
    // (The store's durability is chosen where it is opened.)
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap());
    Arc::new(Sessions::new(store, keys, RefreshPolicy::default()))
}

fn floor_connection(path: &std::path::Path, sync: &str) -> Connection {
    let c = Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", sync).unwrap();
    c
}

/// The raw floor: `clients` threads, each with its own connection and row, running the
/// single-row transaction inside one shared window; aggregate transactions/s.
fn floor_rate(path: &std::path::Path, clients: usize, sync: &str) -> f64 {
    let ready: Vec<_> = (0..clients)
        .map(|i| {
            let c = floor_connection(path, sync);
            let id = format!("row{i}");
            c.execute(
                "INSERT OR IGNORE INTO floor (id, gen, hash) VALUES (?1, 0, zeroblob(32))",
                [&id],
            )
            .unwrap();
            (c, id)
        })
        .collect();
    let window = Window::open(ROUND);
    let handles: Vec<_> = ready
        .into_iter()
        .map(|(mut c, id)| {
            std::thread::spawn(move || {
                let mut n = 0u64;
                while window.is_open() {
                    // Retried on BUSY exactly as tok's store does.
                    let once = |c: &mut Connection| -> rusqlite::Result<()> {
                        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                        let generation: i64 = tx
                            .prepare_cached("SELECT gen FROM floor WHERE id = ?1")?
                            .query_row([&id], |r| r.get(0))?;
                        tx.prepare_cached("UPDATE floor SET gen = ?2, hash = randomblob(32) WHERE id = ?1 AND gen = ?3")?
                            .execute(params![id, generation + 1, generation])?;
                        tx.commit()
                    };
                    let mut pause = Duration::from_micros(200);
                    loop {
                        match once(&mut c) {
                            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy => {
                                std::thread::sleep(pause);
                                pause = (pause * 2).min(Duration::from_millis(5));
                            }
                            other => break other.unwrap(),
                        }
                    }
                    n += u64::from(window.counts());
                }
                n
            })
        })
        .collect();
    window.rate(handles.into_iter().map(|h| h.join().unwrap()).sum())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe harness=false benches.
    }
    let rounds: usize = std::env::var("TOK_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir_in(".").unwrap();
    let floor_path = dir.path().join("floor.db");
    let floor_off = dir.path().join("floor-off.db");
    for path in [&floor_path, &floor_off] {
        floor_connection(path, "FULL")
            .execute_batch("CREATE TABLE floor (id TEXT PRIMARY KEY, gen INTEGER NOT NULL, hash BLOB NOT NULL) STRICT")
            .unwrap();
    }
    let sqlite = sessions(SqliteStore::open(dir.path().join("tok.db")).await.unwrap());
    let sqlite_off = sessions(
        SqliteStore::open_with(dir.path().join("tok-off.db"), Durability::OffForBenchmarks)
            .await
            .unwrap(),
    );
    let memory = sessions(MemoryStore::new());

    println!(
        "rotations/s, median of {rounds} interleaved rounds of {}s each (WAL, synchronous=FULL)",
        ROUND.as_secs_f64()
    );
    let mut summary = Vec::new();
    for clients in [1usize, 8, 64] {
        let (mut floor, mut tok_sqlite, mut tok_memory, mut ratio, mut lat) =
            (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            let path = floor_path.clone();
            let f = tokio::task::spawn_blocking(move || floor_rate(&path, clients, "FULL"))
                .await
                .unwrap();
            let (t, latencies) = tok_run(&sqlite, clients, ROUND).await;
            tok_memory.push(tok_rate(&memory, clients, ROUND).await);
            floor.push(f);
            tok_sqlite.push(t);
            ratio.push(t / f);
            lat.extend(latencies);
        }
        let r = median(ratio);
        summary.push(r);
        println!(
            "{clients:>2} client(s): SQLite floor {:>8.0}  tok SQLite {:>8.0}  ({r:.2}x the floor)  tok memory {:>9.0}  tok SQLite p50 {:.0} µs, p99 {:.0} µs",
            median(floor),
            median(tok_sqlite),
            median(tok_memory),
            quantile(lat.clone(), 0.5),
            quantile(lat, 0.99),
        );
    }
    // CPU-bound: no fsync for tok or the floor, so the disk cannot hide tok's own cost.
    let (mut floor, mut tok_off, mut ratio) = (vec![], vec![], vec![]);
    for _ in 0..rounds {
        let path = floor_off.clone();
        let f = tokio::task::spawn_blocking(move || floor_rate(&path, 1, "OFF"))
            .await
            .unwrap();
        let t = tok_rate(&sqlite_off, 1, ROUND).await;
        floor.push(f);
        tok_off.push(t);
        ratio.push(t / f);
    }
    let cpu = median(ratio);
    println!(
        "cpu-bound (synchronous=OFF), 1 client: SQLite floor {:>8.0}  tok SQLite {:>8.0}  ({cpu:.2}x the floor)",
        median(floor),
        median(tok_off)
    );
    println!(
        "rotation sqlite: 1 client {:.2}x floor, 8 clients {:.2}x floor, 64 clients {:.2}x floor, cpu-bound {cpu:.2}x floor",
        summary[0], summary[1], summary[2]
    );
}
