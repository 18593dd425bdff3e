//! Rotates refresh-token chains forever against an SQLite store, one task per token read
//! on stdin (one per line, until EOF), printing `INDEX TOKEN` for each new refresh token
//! (one per line, flushed) only after the store confirmed it. With several chains the
//! store's group commit puts their rotations in shared transactions. The crash tests
//! (tests/cli_refresh.rs) SIGKILL it at random moments.
//!
//! Usage: rotate_loop DB_PATH < refresh_tokens

use std::io::{BufRead, Write};
use std::sync::Arc;

use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::SqliteStore;
use tok::{HmacKey, KeySet};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), tok::Error> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: rotate_loop DB_PATH < tokens");
    let tokens: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .map(|l| l.expect("stdin").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32])?);
    let sessions = Arc::new(Sessions::new(
        SqliteStore::open(&path).await?,
        keys,
        RefreshPolicy::default(),
    ));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut chains = Vec::new();
    for (index, mut token) in tokens.into_iter().enumerate() {
        let (sessions, out) = (Arc::clone(&sessions), Arc::clone(&out));
        chains.push(tokio::spawn(async move {
            loop {
                let pair = sessions.rotate(&token, None).await?;
                token = pair.refresh_token.to_string();
                let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                writeln!(out, "{index} {token}")
                    .and_then(|()| out.flush())
                    .expect("stdout");
            }
            #[allow(unreachable_code)]
            Ok::<(), tok::Error>(())
        }));
    }
    for chain in chains {
        chain.await.expect("chain task")?;
    }
    Ok(())
}
