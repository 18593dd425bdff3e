//! Sessions on Redis, shared by every server: issue, rotate, log out everywhere.
//!
//! `cargo run --example sessions_redis --features redis -- redis://127.0.0.1:6379`
//! (needs a running `redis-server`).

use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::RedisStore;
use tok::{HmacKey, KeySet};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    match run(&url).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sessions_redis: {e}");
            if e.kind() == tok::ErrorKind::Store {
                eprintln!(
                    "hint: is redis-server running at {}? (`redis-server --port 6379`)",
                    tok::store::redact_url(&url)
                );
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(url: &str) -> Result<(), tok::Error> {
    let keys = KeySet::new(HmacKey::generate()?);
    // A grace window absorbs a rotation whose reply was lost on the network.
    let policy = RefreshPolicy::default().with_grace(std::time::Duration::from_secs(5))?;
    let sessions = Sessions::new(RedisStore::open(url).await?, keys, policy);

    let laptop = sessions
        .issue("alice", &serde_json::json!({}), None)
        .await?;
    let phone = sessions
        .issue("alice", &serde_json::json!({}), None)
        .await?;
    let laptop = sessions.rotate(&laptop.refresh_token, None).await?;
    println!("two sessions of alice; the laptop's rotated");

    let ended = sessions.revoke_subject("alice").await?;
    println!("logged out everywhere: {ended} session(s)");
    for pair in [&laptop, &phone] {
        let err = sessions
            .rotate(&pair.refresh_token, None)
            .await
            .unwrap_err();
        println!("session {}: {}", pair.session_id, err.code());
    }
    Ok(())
}
