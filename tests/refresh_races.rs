//! Concurrency: exactly one winner among concurrent rotations of one token, and no
//! successor minted after a revoke returned. Also: no raw refresh token in any store.
#![cfg(feature = "sqlite")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Map;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{MemoryStore, SqliteStore, Store};
use tok::{ErrorKind, HmacKey, KeySet};

fn sessions<S: Store>(store: S) -> Arc<Sessions<S>> {
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap()).unwrap();
    Arc::new(Sessions::new(store, keys, RefreshPolicy::default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_16_tasks_1000_rounds() {
    common::races::one_winner_per_round(sessions(MemoryStore::new()), 16, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_16_tasks_1000_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("race.db")).await.unwrap();
    common::races::one_winner_per_round(sessions(store), 16, 1000).await;
}

/// One task rotates a family's chain as fast as it can while another revokes it: once the
/// revoke has returned, no rotation that started afterwards may succeed.
async fn rotate_racing_revoke<S: Store + 'static>(s: Arc<Sessions<S>>, rounds: usize) {
    for round in 0..rounds {
        let pair = s.issue("alice", Map::new(), None).await.unwrap();
        let revoked = Arc::new(AtomicBool::new(false));
        let successes_after = Arc::new(AtomicUsize::new(0));
        let rotator = {
            let (s, revoked, after) = (
                Arc::clone(&s),
                Arc::clone(&revoked),
                Arc::clone(&successes_after),
            );
            let mut token = pair.refresh_token.to_string();
            tokio::spawn(async move {
                loop {
                    let revoke_had_returned = revoked.load(Ordering::SeqCst);
                    match s.rotate(&token, None).await {
                        Ok(next) => {
                            if revoke_had_returned {
                                after.fetch_add(1, Ordering::SeqCst);
                            }
                            token = next.refresh_token.to_string();
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::Revoked, "round {round}");
                            return;
                        }
                    }
                }
            })
        };
        tokio::task::yield_now().await;
        for _ in 0..(round % 7) {
            tokio::task::yield_now().await;
        }
        assert!(s.revoke_family(&pair.family_id).await.unwrap());
        revoked.store(true, Ordering::SeqCst);
        rotator.await.unwrap();
        assert_eq!(
            successes_after.load(Ordering::SeqCst),
            0,
            "round {round}: successor after revoke"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_rotate_racing_revoke() {
    rotate_racing_revoke(sessions(MemoryStore::new()), 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_rotate_racing_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("revoke.db"))
        .await
        .unwrap();
    rotate_racing_revoke(sessions(store), 100).await;
}

const FINGERPRINT: &[u8] = b"fp-6d2b1c9e-raw-cookie-value";

/// A dump of either store lets no one log in: the raw refresh secrets are nowhere in it.
#[tokio::test]
async fn stores_hold_no_raw_refresh_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dump.db");
    let sqlite = sessions(SqliteStore::open(&path).await.unwrap());
    let memory = sessions(MemoryStore::new());
    let mut tokens = Vec::new();
    for i in 0..20 {
        let a = sqlite
            .issue(&format!("user{i}"), Map::new(), Some(FINGERPRINT))
            .await
            .unwrap();
        let b = sqlite
            .rotate(&a.refresh_token, Some(FINGERPRINT))
            .await
            .unwrap();
        tokens.push(a.refresh_token.to_string());
        tokens.push(b.refresh_token.to_string());
        let c = memory
            .issue(&format!("user{i}"), Map::new(), None)
            .await
            .unwrap();
        let d = memory.rotate(&c.refresh_token, None).await.unwrap();
        tokens.push(c.refresh_token.to_string());
        tokens.push(d.refresh_token.to_string());
    }
    drop(sqlite);
    let mut dump = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        dump.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let debug = format!("{:?}", memory.store());
    assert!(debug.contains("families"), "{debug}");
    for token in &tokens {
        let secret = token.split_once('.').unwrap().1;
        let raw = tok::base64url::decode(secret.as_bytes()).unwrap();
        for needle in [secret.as_bytes(), &raw[..]] {
            assert!(
                !dump.windows(needle.len()).any(|w| w == needle),
                "secret found in the SQLite files"
            );
        }
        assert!(!debug.contains(secret));
    }
    assert!(
        !dump.windows(FINGERPRINT.len()).any(|w| w == FINGERPRINT),
        "raw fingerprint stored"
    );
}
