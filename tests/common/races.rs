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
