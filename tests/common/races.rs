//! The race every store must win: many tasks rotating one token at once.

use std::sync::Arc;

use serde_json::Map;
use tok::ErrorKind;
use tok::refresh::Sessions;
use tok::store::Store;

/// `tasks` tasks rotate the same token, `rounds` times; every round has exactly one winner
/// and every loser is told the token was reused.
pub async fn one_winner_per_round<S: Store + 'static>(
    s: Arc<Sessions<S>>,
    tasks: usize,
    rounds: usize,
) {
    for round in 0..rounds {
        let pair = s.issue("alice", &Map::new(), None).await.unwrap();
        let token = Arc::new(pair.refresh_token.to_string());
        let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
        let mut handles = Vec::with_capacity(tasks);
        for _ in 0..tasks {
            let (s, token, barrier) = (Arc::clone(&s), Arc::clone(&token), Arc::clone(&barrier));
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                s.rotate(&token, None)
                    .await
                    .map(|p| p.refresh_token.to_string())
            }));
        }
        let mut winners = Vec::new();
        for h in handles {
            match h.await.unwrap() {
                Ok(successor) => winners.push(successor),
                Err(e) => assert!(
                    matches!(e.kind(), ErrorKind::RefreshReused | ErrorKind::Revoked),
                    "round {round}: loser got {e}"
                ),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {} winners", winners.len());
    }
}

/// 16 tasks rotate their own families on the store at `url` (grace 60 s) while `fault`
/// (a server killed and restarted, connections terminated) runs three times at uneven
/// moments: every error they see is a `store` error, a client that retries its token is
/// never taken for a thief, and afterwards each family is live with exactly its confirmed
/// rotations.
pub async fn rotations_survive_faults(url: &str, mut fault: impl FnMut()) {
    let sessions = Arc::new(Sessions::new(
        tok::store::open(url).await.unwrap(),
        tok::KeySet::new(tok::HmacKey::from_bytes(&[7; 32]).unwrap()),
        tok::refresh::RefreshPolicy::default()
            .with_grace(std::time::Duration::from_secs(60))
            .unwrap(),
    ));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let first = sessions
            .issue(&format!("user{i}"), &Map::new(), None)
            .await
            .unwrap();
        let (s, stop) = (Arc::clone(&sessions), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let family = first.session_id.clone();
            let mut token = first.refresh_token.to_string();
            let (mut confirmed, mut store_errors) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match s.rotate(&token, None).await {
                    Ok(pair) => {
                        token = pair.refresh_token.to_string();
                        confirmed = token.split('.').nth(1).unwrap().parse().unwrap();
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Store, "user{i}: {e}");
                        store_errors += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
            }
            (family, token, confirmed, store_errors)
        }));
    }
    // Kill at uneven moments, with rotations in flight.
    for pause_ms in [230u64, 410, 170] {
        tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        fault();
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total_errors = 0;
    for task in tasks {
        let (family, token, confirmed, errors) = task.await.unwrap();
        total_errors += errors;
        let stored = sessions.store().family(&family).await.unwrap().unwrap();
        assert!(
            stored.revoked_at.is_none(),
            "{family}: revoked by a false reuse"
        );
        assert_eq!(
            stored.generation, confirmed,
            "{family}: a confirmed rotation is missing (or an unconfirmed one stored)"
        );
        assert!(confirmed > 3, "{family}: only {confirmed} rotations");
        sessions.rotate(&token, None).await.unwrap();
    }
    assert!(total_errors > 0, "the faults were felt");
}
