//! Sessions on the embedded SQLite store: issue, rotate, catch a replayed token, log out.
//!
//! `cargo run --example sessions_sqlite --features sqlite [-- PATH]` (default: a file in a
//! temporary folder, removed at the end).

use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::SqliteStore;
use tok::{ErrorKind, HmacKey, KeySet};

#[derive(serde::Serialize)]
struct Access {
    role: &'static str,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    // Kept until the end of main, then removed with everything in it.
    let temporary = tempfile::tempdir();
    let path = match (std::env::args().nth(1), &temporary) {
        (Some(path), _) => std::path::PathBuf::from(path),
        (None, Ok(dir)) => dir.path().join("tok.db"),
        (None, Err(e)) => {
            eprintln!("sessions_sqlite: no temporary folder: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match run(&path).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The error's own sentence (Display), not its Debug form.
            eprintln!("sessions_sqlite: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(path: &std::path::Path) -> Result<(), tok::Error> {
    let keys = KeySet::new(HmacKey::generate()?);
    let sessions = Sessions::new(
        SqliteStore::open(path).await?,
        keys,
        RefreshPolicy::default(),
    );
    println!("store: {}", path.display());

    let first = sessions
        .issue("alice", &Access { role: "user" }, None)
        .await?;
    println!("issued session {}", first.session_id);
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
