//! Rotates one refresh token chain forever against an SQLite store, printing each new
//! refresh token (one per line, flushed) only after the store confirmed it. The crash test
//! (tests/cli_refresh.rs) SIGKILLs it at random moments.
//!
//! Usage: rotate_loop DB_PATH < refresh_token

use std::io::{BufRead, Write};

use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::SqliteStore;
use tok::{HmacKey, KeySet};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), tok::Error> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: rotate_loop DB_PATH < token");
    let mut token = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut token)
        .expect("a token on stdin");
    let mut token = token.trim().to_owned();
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32])?)?;
    let sessions = Sessions::new(
        SqliteStore::open(&path).await?,
        keys,
        RefreshPolicy::default(),
    );
    let mut out = std::io::stdout().lock();
    loop {
        let pair = sessions.rotate(&token, None).await?;
        token = pair.refresh_token.to_string();
        writeln!(out, "{token}")
            .and_then(|()| out.flush())
            .expect("stdout");
    }
}
