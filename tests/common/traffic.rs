//! Session traffic through a failover: live sessions rotate in turn on one of two stores
//! (two processes' worth), and a logged-out session is checked between rotations. A
//! rotation answered becomes the client's pair; an outage (`Store`) is counted; any other
//! refusal of a rotation, or a logged-out session accepted, fails the test at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tok::layer::Cached;
use tok::refresh::{Sessions, TokenPair};
use tok::store::AnyStore;
use tok::{ErrorKind, Validation};

/// An online check of `pair`'s access token on `s`: accepted, or the refusal's kind.
pub async fn check(s: &Sessions<Cached<AnyStore>>, pair: &TokenPair) -> Result<(), ErrorKind> {
    s.verify_access::<Map<String, Value>>(&pair.access_token, &Validation::new())
        .await
        .map(|_| ())
        .map_err(|e| e.kind())
}

/// Retries `f` while it answers `Store` (an outage), up to `bound`.
pub async fn through_outage<T, F, Fut>(bound: Duration, mut f: F) -> Result<T, tok::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tok::Error>>,
{
    let start = Instant::now();
    loop {
        match f().await {
            Err(e) if e.kind() == ErrorKind::Store && start.elapsed() < bound => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// What the traffic saw.
pub struct Seen {
    /// Each client's last pair (the last rotation it was answered).
    pub live: Vec<TokenPair>,
    /// Answers by kind: `rotated`, or an error kind.
    pub outcomes: HashMap<String, u32>,
    /// When the last outage answer came.
    pub last_outage: Option<Instant>,
    /// When checks answered again after the last outage.
    pub checks_back: Option<Instant>,
}

/// Runs until `stop` is set.
pub fn run(
    stores: [Arc<Sessions<Cached<AnyStore>>>; 2],
    mut live: Vec<TokenPair>,
    revoked: Vec<TokenPair>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Seen> {
    tokio::spawn(async move {
        let mut seen = Seen {
            live: Vec::new(),
            outcomes: HashMap::new(),
            last_outage: None,
            checks_back: None,
        };
        let mut round = 0usize;
        while !stop.load(Ordering::Relaxed) {
            round += 1;
            for (i, pair) in live.iter_mut().enumerate() {
                let store = &stores[(i + round) % 2];
                match store.rotate(&pair.refresh_token, None).await {
                    Ok(next) => {
                        *pair = next;
                        *seen.outcomes.entry("rotated".into()).or_default() += 1;
                    }
                    Err(e) => {
                        *seen.outcomes.entry(format!("{:?}", e.kind())).or_default() += 1;
                        assert_eq!(e.kind(), ErrorKind::Store, "a rotation answered {e}");
                        seen.last_outage = Some(Instant::now());
                    }
                }
                let gone = &revoked[i % revoked.len()];
                match check(store, gone).await {
                    Err(ErrorKind::Revoked) => {
                        seen.checks_back.get_or_insert_with(Instant::now);
                    }
                    Err(ErrorKind::Store) => {
                        seen.last_outage = Some(Instant::now());
                        seen.checks_back = None;
                    }
                    other => panic!("a session logged out (confirmed) was checked: {other:?}"),
                }
            }
        }
        seen.live = live;
        seen
    })
}
