//! One "server" for the multi-process tests: reads refresh tokens (one per line) on stdin,
//! rotates each against the store at STORE_URL with its own connection, and answers one
//! line per token: `ok <new refresh token>` or `err <code>`.
//!
//! Usage: rotate_steps STORE_URL [GRACE_SECONDS]

use std::io::{BufRead, Write};
use std::time::Duration;

use tok::refresh::{RefreshPolicy, Sessions};
use tok::{HmacKey, KeySet};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), tok::Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: rotate_steps STORE_URL [GRACE_SECONDS]");
    let grace = Duration::from_secs(args.next().and_then(|g| g.parse().ok()).unwrap_or(0));
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32])?);
    let store = tok::store::open(&url).await?;
    let sessions = Sessions::new(store, keys, RefreshPolicy::default().with_grace(grace)?);
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let token = line.expect("stdin");
        let answer = match sessions.rotate(token.trim(), None).await {
            Ok(pair) => format!("ok {}", pair.refresh_token.as_str()),
            Err(e) => format!("err {}", e.code()),
        };
        writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .expect("stdout");
    }
    Ok(())
}
