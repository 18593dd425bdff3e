//! A gRPC service (tonic) behind tok's tower layer: every call needs a bearer access token
//! of a live session, checked online against the store.
//!
//! ```sh
//! tok keygen > key.json
//! export TOK_KEY="$(cat key.json)" TOK_STORE=sqlite:./tok.db
//! cargo run --example grpc --features tower,sqlite -- 127.0.0.1:50051
//! export TOK_TOKEN="$(tok refresh issue --sub alice | jq -r .access_token)"
//! cargo run --example grpc --features tower,sqlite -- call http://127.0.0.1:50051
//! ```
//!
//! `TOK_KEY`: the key (a JWK or JWK Set, as `tok keygen` writes it). `TOK_STORE`: the
//! store's URL (default `sqlite:tok.db`; `--features redis` or `postgres` add theirs).
//! The address to listen on is the one argument (default `127.0.0.1:50051`). Prints
//! `listening on ADDR` once it accepts connections. `call URL` is a client instead: it
//! calls `WhoAmI` with the token in `TOK_TOKEN` (an environment variable, never an
//! argument: a token is a credential) and prints the answer or the gRPC status.
//!
//! The service, `tok.example.Who/WhoAmI`, answers the caller's subject and session. A
//! call without a valid token, or with one whose session ended (a logout, a "logout
//! everywhere", a revocation, on any process sharing the store), is `UNAUTHENTICATED`; a
//! store outage is `UNAVAILABLE`, which gRPC clients may retry.

mod who;

use std::sync::Arc;

use tok::refresh::{RefreshPolicy, Sessions};
use tok::tower::BearerLayer;
use tok::{KeySet, Validation};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("grpc: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    if std::env::args().nth(1).as_deref() == Some("call") {
        return call().await;
    }
    let key =
        std::env::var("TOK_KEY").map_err(|_| "TOK_KEY is not set (tok keygen writes a key)")?;
    let keys = KeySet::from_jwk_or_jwks(key.trim()).map_err(|e| format!("TOK_KEY: {e}"))?;
    let url = std::env::var("TOK_STORE").unwrap_or_else(|_| "sqlite:tok.db".into());
    let store = tok::layer::Cached::open(&url)
        .await
        .map_err(|e| e.to_string())?;
    let sessions = Arc::new(Sessions::new(store, keys, RefreshPolicy::default()));
    let layer = BearerLayer::<who::Claims, _>::online(sessions, Validation::new());

    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {local}");
    tonic::transport::Server::builder()
        .layer(layer)
        .add_service(who::WhoServer)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .map_err(|e| e.to_string())
}

async fn call() -> Result<(), String> {
    let url = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "http://127.0.0.1:50051".into());
    let channel = tonic::transport::Channel::from_shared(url.clone())
        .map_err(|e| format!("{url}: {e}"))?
        .connect()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let token = std::env::var("TOK_TOKEN").ok();
    match who::who_am_i(channel, token.as_deref()).await {
        Ok(reply) => {
            println!("subject {} session {}", reply.subject, reply.session);
            Ok(())
        }
        Err(status) => Err(format!("{:?}: {}", status.code(), status.message())),
    }
}
