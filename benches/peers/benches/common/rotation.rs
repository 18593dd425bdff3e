//! The tok side of a rotation benchmark, the same for every store.
#![allow(dead_code)] // Each bench uses a part of these helpers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Map;
use tok::refresh::Sessions;
use tok::store::Store;
use tokio::task::JoinHandle;

use super::window::Window;

/// `clients` tasks, each rotating its own family's chain, inside one shared window of
/// `length`; aggregate rotations/s.
pub async fn tok_rate<S: Store + 'static>(
    s: &Arc<Sessions<S>>,
    clients: usize,
    length: Duration,
) -> f64 {
    tok_run(s, clients, length).await.0
}

/// As [`tok_rate`], also returning every rotation's latency (µs) inside the window.
pub async fn tok_run<S: Store + 'static>(
    s: &Arc<Sessions<S>>,
    clients: usize,
    length: Duration,
) -> (f64, Vec<f64>) {
    let mut tokens = Vec::new();
    for _ in 0..clients {
        tokens.push(
            s.issue("bench", &Map::new(), None)
                .await
                .unwrap()
                .refresh_token
                .to_string(),
        );
    }
    let window = Window::open(length);
    let handles = tokens
        .into_iter()
        .map(|mut token| {
            let s = Arc::clone(s);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while window.is_open() {
                    let start = std::time::Instant::now();
                    token = s
                        .rotate(&token, None)
                        .await
                        .unwrap()
                        .refresh_token
                        .to_string();
                    if window.counts() {
                        latencies.push(start.elapsed().as_secs_f64() * 1e6);
                    }
                }
                latencies
            })
        })
        .collect::<Vec<_>>();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    (window.rate(all.len() as u64), all)
}

/// The `q` quantile (0..=1) of `v`.
pub fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// The operations counted by all of `handles`.
pub async fn total(handles: Vec<JoinHandle<u64>>) -> u64 {
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total
}

/// The median of `v` (the upper one for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
