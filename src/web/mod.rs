//! tok in an axum service (feature `axum`): bearer extractors, a session router, and the
//! login and privilege-change steps, with hardened cookies and CSRF refusal. Every route
//! with its request and answers is in the repository's `docs/http.md`.
//!
//! - [`Bearer`] / [`OnlineBearer`]: verified claims from `Authorization: Bearer`
//!   (RFC 6750), offline or also checked against the store; [`RecentLogin`] for sensitive
//!   routes: online, and the user logged in recently (else 401 with RFC 9470's
//!   `insufficient_user_authentication` challenge), with [`WebSessions::reauthenticate`]
//!   for the application's "enter your password again" handler.
//! - [`session_router`]: `POST /refresh`, `POST /logout`, `POST /logout-all`,
//!   `GET /sessions`, `POST /end`, to mount under a prefix. The refresh token travels only in a `__Host-` cookie (`HttpOnly`,
//!   `Secure`, `SameSite=Strict`, `Path=/`), with the client fingerprint in a second one.
//! - [`WebSessions::login`] starts a session after the application has authenticated its
//!   user (any refresh cookie that came with the request is revoked: a new family every
//!   login, so a planted cookie is worth nothing); [`WebSessions::login_with`] takes
//!   "remember me" (a login not remembered gets session cookies, without `Max-Age`);
//!   [`WebSessions::change_privileges`] rotates with new claims.
//!
//! Token responses are RFC 6749 §5.1 JSON without the refresh token, with
//! `Cache-Control: no-store` and `Pragma: no-cache`. Reuse, fingerprint mismatch and ended
//! sessions answer 401 and clear both cookies; a store outage answers 503 with
//! `Retry-After` and clears nothing.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Json, Router, extract::State, http::HeaderMap, response::Response};
//! use axum::routing::{get, post};
//! use tok::web::{OnlineBearer, WebError, WebSessions, session_router};
//!
//! #[derive(serde::Deserialize)]
//! struct Login { username: String, password: String }
//!
//! async fn login(State(web): State<Arc<WebSessions>>, headers: HeaderMap, body: Json<Login>)
//!     -> Result<Response, WebError> {
//!     // Your own check of body.password comes first.
//!     web.login(&headers, &body.username, &serde_json::json!({"role": "user"})).await
//! }
//!
//! async fn me(user: OnlineBearer<serde_json::Value>) -> String {
//!     user.claims.sub.as_deref().unwrap_or_default().to_owned()
//! }
//!
//! # async fn run() -> Result<(), tok::Error> {
//! let store = tok::layer::Cached::open("sqlite:tok.db").await?;
//! let web = WebSessions::new(store, tok::KeySet::new(tok::HmacKey::generate()?))
//!     .with_origin("https://app.example");
//! let app: Router = Router::new()
//!     .route("/login", post(login))
//!     .route("/api/me", get(me))
//!     .nest("/session", session_router())
//!     .with_state(Arc::new(web));
//! # Ok(()) }
//! ```

mod bearer;
mod config;
// The cookie readers and writers the routes use; public only for the fuzz targets.
#[doc(hidden)]
pub mod cookie;
mod csrf;
mod error;
mod flows;
mod headers;
mod json;
mod responses;
mod router;

use std::time::Duration;

#[doc(hidden)]
pub use crate::bearer::bearer_token;
pub use bearer::{Bearer, OnlineBearer, RecentLogin};
pub use config::WebSessions;
pub use error::WebError;
pub use headers::{API_POLICY, PAGE_POLICY, harden};
#[doc(hidden)]
pub use router::end_body_id;
pub use router::{session_router, session_router_for};

/// The grace window web sessions get by default: long enough for two tabs refreshing at
/// once, or a retry after a lost response, to get the same live token; short enough that
/// a stolen previous token is worth little.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// How recent a login [`RecentLogin`] asks for by default: five minutes, as sudo asks
/// again after five minutes (see [`WebSessions::with_recent_login`]).
pub const DEFAULT_RECENT_LOGIN: Duration = Duration::from_secs(5 * 60);

/// The refresh cookie's name, before the `__Host-` prefix.
const REFRESH_COOKIE: &str = "refresh";
/// The fingerprint cookie's name, before the `__Host-` prefix.
const FINGERPRINT_COOKIE: &str = "fingerprint";
