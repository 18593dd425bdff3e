//! Sessions on the embedded SQLite store: issue, rotate, catch a replayed token, log out.
//!
//! `cargo run --example sessions_sqlite --features sqlite [-- PATH]` (default: a
//! temporary file).

use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::SqliteStore;
use tok::{ErrorKind, HmacKey, KeySet};

#[derive(serde::Serialize)]
struct Access {
    role: &'static str,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), tok::Error> {
    let path = match std::env::args().nth(1) {
        Some(path) => std::path::PathBuf::from(path),
        None => std::env::temp_dir().join(format!("tok-example-{}.db", std::process::id())),
    };
    let keys = KeySet::new(HmacKey::generate()?);
    let sessions = Sessions::new(
        SqliteStore::open(&path).await?,
        keys,
        RefreshPolicy::default(),
    );
    println!("store: {}", path.display());

    let first = sessions
        .issue("alice", &Access { role: "user" }, None)
        .await?;
    println!("issued session {}", first.family_id);
    let second = sessions.rotate(&first.refresh_token, None).await?;
    println!("rotated: the first refresh token is retired");

    // A thief replays the retired token: the whole session dies, the live token too.
    let err = sessions
        .rotate(&first.refresh_token, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RefreshReused);
    println!("replay of the retired token: {}", err.code());
    let err = sessions
        .rotate(&second.refresh_token, None)
        .await
        .unwrap_err();
    println!("the live token after the replay: {}", err.code());

    // A new login, then logout with its refresh token.
    let pair = sessions
        .issue("alice", &Access { role: "user" }, None)
        .await?;
    let ended = sessions.revoke_refresh(&pair.refresh_token).await?;
    println!("logged out: {ended}");
    Ok(())
}
