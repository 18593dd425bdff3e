//! Refresh-token rotations per second: tok's memory and SQLite stores with 1 and 8
//! concurrent clients, beside the raw floor — the same single-row SQLite transaction
//! (BEGIN IMMEDIATE, read the row, conditional UPDATE, COMMIT) with the same durability
//! settings (WAL, synchronous=FULL) — measured in the same run, interleaved.
//! Rates are aggregate: operations completed inside one window shared by all clients.
//!
//! Run: `cargo bench --manifest-path benches/peers/Cargo.toml --bench refresh`

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{MemoryStore, SqliteStore, Store};
use tok::{HmacKey, KeySet};

#[path = "common/mod.rs"]
mod common;
use common::rotation::{median, tok_rate};
use common::window::Window;

const ROUND: Duration = Duration::from_millis(1500);

fn sessions<S: Store>(store: S) -> Arc<Sessions<S>> {
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap()).unwrap();
    Arc::new(Sessions::new(store, keys, RefreshPolicy::default()))
}

fn floor_connection(path: &std::path::Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    c
}

/// The raw floor: `clients` threads, each with its own connection and row, running the
/// single-row transaction inside one shared window; aggregate transactions/s.
fn floor_rate(path: &std::path::Path, clients: usize) -> f64 {
    let ready: Vec<_> = (0..clients)
        .map(|i| {
            let c = floor_connection(path);
            let id = format!("row{i}");
            c.execute("INSERT OR IGNORE INTO floor (id, gen, hash) VALUES (?1, 0, zeroblob(32))", [&id]).unwrap();
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
    let rounds: usize = std::env::var("TOK_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir_in(".").unwrap();
    let floor_path = dir.path().join("floor.db");
    floor_connection(&floor_path)
        .execute_batch("CREATE TABLE floor (id TEXT PRIMARY KEY, gen INTEGER NOT NULL, hash BLOB NOT NULL) STRICT")
        .unwrap();
    let sqlite = sessions(SqliteStore::open(dir.path().join("tok.db")).await.unwrap());
    let memory = sessions(MemoryStore::new());

    println!("rotations/s, median of {rounds} interleaved rounds of {}s each (WAL, synchronous=FULL)", ROUND.as_secs_f64());
    for clients in [1usize, 8] {
        let (mut floor, mut tok_sqlite, mut tok_memory, mut ratio) = (vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            let path = floor_path.clone();
            let f = tokio::task::spawn_blocking(move || floor_rate(&path, clients)).await.unwrap();
            let t = tok_rate(&sqlite, clients, ROUND).await;
            tok_memory.push(tok_rate(&memory, clients, ROUND).await);
            floor.push(f);
            tok_sqlite.push(t);
            ratio.push(t / f);
        }
        println!(
            "{clients} client(s): SQLite floor {:>8.0}  tok SQLite {:>8.0}  ({:.2}x the floor)  tok memory {:>9.0}",
            median(floor),
            median(tok_sqlite),
            median(ratio),
            median(tok_memory)
        );
    }
}
