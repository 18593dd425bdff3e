//! Concurrency: exactly one winner among concurrent rotations of one token, and no
//! successor minted after a revoke returned.
#![cfg(feature = "sqlite")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Map;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{MemoryStore, SqliteStore, Store};
use tok::{ErrorKind, HmacKey, KeySet};

fn sessions<S: Store>(store: S) -> Arc<Sessions<S>> {
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap());
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
        let pair = s.issue("alice", &Map::new(), None).await.unwrap();
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
        assert!(s.revoke_session(&pair.session_id).await.unwrap());
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

/// 64 tasks rotate 64 distinct families at once, so the SQLite store's group commit puts
/// many rotations in each transaction, with refused requests in every batch (made-up
/// tokens, and a reuse that revokes a family of its own). Every rotation lands, every
/// refusal changes exactly what it should, and nothing leaks between requests of a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_64_tasks_share_transactions_with_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("batch.db"))
        .await
        .unwrap();
    let s = sessions(store);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let live = s
                .issue(&format!("user{i}"), &Map::new(), None)
                .await
                .unwrap();
            let victim = s
                .issue(&format!("victim{i}"), &Map::new(), None)
                .await
                .unwrap();
            let victim_next = s.rotate(&victim.refresh_token, None).await.unwrap();
            let family = live.session_id.clone();
            let mut token = live.refresh_token.to_string();
            for round in 0..20u64 {
                // A made-up tag for this family: refused, changes nothing.
                let forged = format!(
                    "{family}.{round}.{}",
                    tok::base64url::encode(&[round as u8; 32])
                );
                let err = s.rotate(&forged, None).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::RefreshUnknown);
                token = s
                    .rotate(&token, None)
                    .await
                    .unwrap()
                    .refresh_token
                    .to_string();
            }
            // A reuse inside the storm: revokes the victim family only.
            let err = s.rotate(&victim.refresh_token, None).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::RefreshReused);
            (family, victim_next.session_id)
        }));
    }
    for task in tasks {
        let (family, victim) = task.await.unwrap();
        let f = s.store().family(&family).await.unwrap().unwrap();
        assert_eq!((f.generation, f.revoked_at), (20, None), "{family}");
        let v = s.store().family(&victim).await.unwrap().unwrap();
        assert!(v.revoked_at.is_some(), "{victim}");
    }
}
