//! A store that fails after the holder proof never logs the holder out: `POST
//! /session/logout-all` and `POST /session/end` rotate the caller's refresh cookie to prove
//! it, then call the store again. When that second call fails, the answer is a 503 that
//! still hands over the renewed cookie, so the browser's next refresh presents the live
//! token, not the retired one (which would be reuse: session revoked, theft alarm).
//!
//! Over real sockets with a real HTTP client, on real SQLite, Redis and PostgreSQL: the
//! fault is injected between the two store calls by a wrapper that fails the action.
#![cfg(all(
    feature = "axum",
    feature = "cli",
    feature = "sqlite",
    feature = "redis"
))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::observed::Observed;
use common::web::Client;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::AnyStore;
use tok::web::{OnlineBearer, WebSessions, session_router_for};
use tok::{HmacKey, KeySet};

const REFRESH: &str = "__Host-refresh";

type Web = WebSessions<Observed<AnyStore>>;

#[derive(Clone)]
struct AppState(Arc<Web>);

impl FromRef<AppState> for Arc<Web> {
    fn from_ref(app: &AppState) -> Self {
        Arc::clone(&app.0)
    }
}

async fn login(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match app.0.login(&headers, "alice", &serde_json::json!({})).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn me(
    user: OnlineBearer<serde_json::Map<String, serde_json::Value>, Observed<AnyStore>>,
) -> String {
    user.claims
        .sub
        .clone()
        .map(String::from)
        .unwrap_or_default()
}

/// Serves the session routes over `store` on a loopback port; the switch that makes the
/// actions fail, and the base URL.
async fn serve(store: AnyStore) -> (Arc<AtomicBool>, String) {
    // The actions after the proof fail on demand, as a dropped connection would fail them;
    // rotations always work.
    let store = Observed::new(store).failing_on(&["revoke_subject", "end_session"]);
    let failing = Arc::clone(&store.failing);
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap());
    // No grace window: a retired cookie presented again is reuse at once.
    let policy = RefreshPolicy::default().with_grace(Duration::ZERO).unwrap();
    let web = WebSessions::from_sessions(Sessions::new(store, keys, policy));
    let router = Router::new()
        .route("/login", post(login))
        .route("/api/me", get(me))
        .nest(
            "/session",
            session_router_for::<Observed<AnyStore>, AppState>(),
        )
        .with_state(AppState(Arc::new(web)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (failing, url)
}

/// Both proving routes, with the action failing after the proof: each 503 renews the
/// cookie, the next refresh succeeds (no reuse), and the action succeeds when retried.
async fn the_holder_keeps_a_live_cookie(store: AnyStore) {
    let (failing, url) = serve(store).await;
    let mut alice = Client::new();
    let mut phone = Client::new();
    assert_eq!(
        alice
            .send("POST", &format!("{url}/login"), &[], None)
            .await
            .status,
        200
    );
    assert_eq!(
        phone
            .send("POST", &format!("{url}/login"), &[], None)
            .await
            .status,
        200
    );
    let phone_id = phone
        .cookie(REFRESH)
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_owned();

    let body = serde_json::json!({"id": phone_id});
    for (route, body) in [("end", Some(body.clone())), ("logout-all", None)] {
        failing.store(true, Ordering::SeqCst);
        let before = alice.cookie(REFRESH).unwrap();
        let out = alice
            .send("POST", &format!("{url}/session/{route}"), &[], body.clone())
            .await;
        assert_eq!(
            (out.status, out.error()),
            (503, "unavailable"),
            "{route}: {out:?}"
        );
        let after = alice.cookie(REFRESH).unwrap();
        assert_ne!(
            before, after,
            "{route}: the 503 hands over the renewed cookie"
        );
        failing.store(false, Ordering::SeqCst);
        // The next refresh presents the live cookie: no reuse, the session lives on.
        let refreshed = alice
            .send("POST", &format!("{url}/session/refresh"), &[], None)
            .await;
        assert_eq!(refreshed.status, 200, "{route}: {refreshed:?}");
        assert_eq!(
            alice
                .send("GET", &format!("{url}/api/me"), &[], None)
                .await
                .status,
            200
        );
        // Nothing was done: the phone's session is still live.
        assert_eq!(
            phone
                .send("GET", &format!("{url}/api/me"), &[], None)
                .await
                .status,
            200
        );
    }
    // Retried with the store back, the actions work.
    let ended = alice
        .send("POST", &format!("{url}/session/end"), &[], Some(body))
        .await;
    assert_eq!(
        (ended.status, &ended.json["ended"]),
        (200, &serde_json::json!(true))
    );
    let all = alice
        .send("POST", &format!("{url}/session/logout-all"), &[], None)
        .await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(
        alice
            .send("GET", &format!("{url}/api/me"), &[], None)
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_proof_strands_no_cookie_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("tok.db").display());
    the_holder_keeps_a_live_cookie(tok::store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_proof_strands_no_cookie_on_redis() {
    let server = common::redis_server::RedisServer::start();
    the_holder_keeps_a_live_cookie(tok::store::open(&server.url()).await.unwrap()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_proof_strands_no_cookie_on_postgres() {
    let url = common::postgres_server::database();
    the_holder_keeps_a_live_cookie(tok::store::open(&url).await.unwrap()).await;
}
