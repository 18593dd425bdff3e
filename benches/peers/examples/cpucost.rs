//! CPU time per rotation of one client on the SQLite store (`synchronous=FULL`), rotating
//! back to back (streaming: the store's writer and the caller poll rather than sleep) and
//! with 2 ms between rotations (sparse, as a web service sees them: both sleep), from the
//! process's own CPU accounting. What the hand-off's polling costs, beside what it buys.
//!
//! Run: `cargo run --release --manifest-path benches/peers/Cargo.toml --example cpucost`

use std::sync::Arc;
use std::time::{Duration, Instant};

use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::SqliteStore;
use tok::{HmacKey, KeySet};

/// User and system CPU seconds of this process so far (Linux `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which ends with the last ')': utime and stime are
    // the 12th and 13th, in clock ticks (100 a second on Linux).
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

async fn measure(s: Arc<Sessions<SqliteStore>>, pause: Option<Duration>) -> String {
    let (cpu, start) = (cpu_seconds(), Instant::now());
    let n = tokio::spawn(async move {
        let mut token = s
            .issue("bench", &serde_json::Map::new(), None)
            .await
            .unwrap()
            .refresh_token
            .to_string();
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(6) {
            token = s
                .rotate(&token, None)
                .await
                .unwrap()
                .refresh_token
                .to_string();
            n += 1;
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
        }
        n
    })
    .await
    .unwrap();
    let (cpu, wall) = (cpu_seconds() - cpu, start.elapsed().as_secs_f64());
    format!(
        "{:>6.0} rotations/s, {:>5.1} µs CPU a rotation ({:.0}% of a core)",
        n as f64 / wall,
        cpu * 1e6 / n as f64,
        cpu / wall * 100.0
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir_in(".").unwrap();
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap());
    let store = SqliteStore::open(dir.path().join("tok.db")).await.unwrap();
    let s = Arc::new(Sessions::new(store, keys, RefreshPolicy::default()));
    for _ in 0..2 {
        println!("streaming: {}", measure(Arc::clone(&s), None).await);
        let sparse = measure(Arc::clone(&s), Some(Duration::from_millis(2))).await;
        println!("sparse:    {sparse}");
    }
}
