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
use common::web::Client;
use tok::refresh::family::{FamilyRecord, Logout};
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{
    AnyStore, Created, LogoutRequest, OnlineCache, OnlineState, RotationOutcome, RotationRequest,
    Store,
};
use tok::web::{OnlineBearer, WebSessions, session_router_for};
use tok::{HmacKey, KeySet, NumericDate};

const REFRESH: &str = "__Host-refresh";

/// A real store whose session-ending actions (`revoke_subject`, `end_session`) fail while
/// `failing` is set, as a dropped connection would fail them; rotations always work.
struct FailsAfterProof {
    inner: AnyStore,
    failing: Arc<AtomicBool>,
}

impl FailsAfterProof {
    fn fault(&self) -> Result<(), tok::Error> {
        if self.failing.load(Ordering::SeqCst) {
            let cause = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected");
            return Err(tok::Error::store("the action after the proof", cause));
        }
        Ok(())
    }
}

impl Store for FailsAfterProof {
    async fn create_family(
        &self,
        f: &FamilyRecord,
        now: NumericDate,
    ) -> Result<Created, tok::Error> {
        self.inner.create_family(f, now).await
    }
    async fn rotate(&self, r: &RotationRequest) -> Result<RotationOutcome, tok::Error> {
        self.inner.rotate(r).await
    }
    async fn logout(&self, r: &LogoutRequest) -> Result<Logout, tok::Error> {
        self.inner.logout(r).await
    }
    async fn revoke_family(&self, id: &str, now: NumericDate) -> Result<bool, tok::Error> {
        self.inner.revoke_family(id, now).await
    }
    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, tok::Error> {
        self.fault()?;
        self.inner.revoke_subject(subject, now).await
    }
    async fn deny_jti(
        &self,
        jti: &str,
        exp: NumericDate,
        now: NumericDate,
    ) -> Result<(), tok::Error> {
        self.inner.deny_jti(jti, exp, now).await
    }
    async fn is_jti_denied(&self, jti: &str, now: NumericDate) -> Result<bool, tok::Error> {
        self.inner.is_jti_denied(jti, now).await
    }
    async fn family(&self, id: &str) -> Result<Option<FamilyRecord>, tok::Error> {
        self.inner.family(id).await
    }
    async fn purge_expired(&self, now: NumericDate) -> Result<u64, tok::Error> {
        self.inner.purge_expired(now).await
    }
    async fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> Result<Vec<FamilyRecord>, tok::Error> {
        self.inner.sessions_of(subject, now).await
    }
    async fn end_session(
        &self,
        subject: &str,
        family_id: &str,
        now: NumericDate,
    ) -> Result<bool, tok::Error> {
        self.fault()?;
        self.inner.end_session(subject, family_id, now).await
    }
    async fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> Result<OnlineState, tok::Error> {
        self.inner.online_state(sid, jti, now).await
    }
    fn online_cache(&self) -> Option<&OnlineCache> {
        self.inner.online_cache()
    }
}

type Web = WebSessions<FailsAfterProof>;

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
    user: OnlineBearer<serde_json::Map<String, serde_json::Value>, FailsAfterProof>,
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
    let failing = Arc::new(AtomicBool::new(false));
    let store = FailsAfterProof {
        inner: store,
        failing: Arc::clone(&failing),
    };
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap());
    // No grace window: a retired cookie presented again is reuse at once.
    let policy = RefreshPolicy::default().with_grace(Duration::ZERO).unwrap();
    let web = WebSessions::from_sessions(Sessions::new(store, keys, policy));
    let router = Router::new()
        .route("/login", post(login))
        .route("/api/me", get(me))
        .nest(
            "/session",
            session_router_for::<FailsAfterProof, AppState>(),
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
