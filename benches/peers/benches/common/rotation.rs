//! The tok side of a rotation benchmark, the same for every store.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Map;
use tok::refresh::Sessions;
use tok::store::Store;
use tokio::task::JoinHandle;

use super::window::Window;

/// `clients` tasks, each rotating its own family's chain, inside one shared window of
/// `length`; aggregate rotations/s.
pub async fn tok_rate<S: Store + 'static>(s: &Arc<Sessions<S>>, clients: usize, length: Duration) -> f64 {
    let mut tokens = Vec::new();
    for _ in 0..clients {
        tokens.push(s.issue("bench", &Map::new(), None).await.unwrap().refresh_token.to_string());
    }
    let window = Window::open(length);
    let handles = tokens
        .into_iter()
        .map(|mut token| {
            let s = Arc::clone(s);
            tokio::spawn(async move {
                let mut n = 0u64;
                while window.is_open() {
                    token = s.rotate(&token, None).await.unwrap().refresh_token.to_string();
                    n += u64::from(window.counts());
                }
                n
            })
        })
        .collect();
    window.rate(total(handles).await)
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
