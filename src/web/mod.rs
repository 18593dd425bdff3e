//! tok in an axum service (feature `axum`): bearer extractors, a session router, and the
//! login and privilege-change steps, with hardened cookies and CSRF refusal.
//!
//! - [`Bearer`] / [`OnlineBearer`]: verified claims from `Authorization: Bearer`
//!   (RFC 6750), offline or also checked against the store.
//! - [`session_router`]: `POST /refresh`, `POST /logout`, `POST /logout-all`, to mount
//!   under a prefix. The refresh token travels only in a `__Host-` cookie (`HttpOnly`,
//!   `Secure`, `SameSite=Strict`, `Path=/`), with the client fingerprint in a second one.
//! - [`WebSessions::login`] starts a session after the application has authenticated its
//!   user (any refresh cookie that came with the request is revoked: a new family every
//!   login, so a planted cookie is worth nothing); [`WebSessions::change_privileges`]
//!   rotates with new claims.
//!
//! Token responses are RFC 6749 §5.1 JSON without the refresh token, with
//! `Cache-Control: no-store` and `Pragma: no-cache`. Reuse, fingerprint mismatch and ended
//! sessions answer 401 and clear both cookies; a store outage answers 503 with
//! `Retry-After` and clears nothing.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get, extract::FromRef};
//! use tok::web::{OnlineBearer, WebSessions, session_router};
//!
//! #[derive(Clone)]
//! struct App { web: Arc<WebSessions> }
//! impl FromRef<App> for Arc<WebSessions> {
//!     fn from_ref(app: &App) -> Self { app.web.clone() }
//! }
//!
//! async fn me(user: OnlineBearer<serde_json::Value>) -> String {
//!     user.claims.sub.as_deref().unwrap_or_default().to_owned()
//! }
//!
//! # async fn run() -> Result<(), tok::Error> {
//! let store = tok::store::open("sqlite:tok.db").await?;
//! let web = WebSessions::new(store, tok::KeySet::new(tok::HmacKey::generate()?))
//!     .with_origin("https://app.example");
//! let app: Router = Router::new()
//!     .route("/api/me", get(me))
//!     .nest("/session", session_router())
//!     .with_state(App { web: Arc::new(web) });
//! # Ok(()) }
//! ```

mod bearer;
pub mod cookie;
mod csrf;
mod error;
mod headers;
mod router;

use std::time::Duration;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind};
use crate::jws::Verified;
use crate::keyset::KeySet;
use crate::refresh::{Fingerprint, RefreshPolicy, Sessions, TokenPair};
use crate::store::{AnyStore, Store};
use crate::validation::Validation;
use crate::web::cookie::CookieOptions;

pub use bearer::{Bearer, OnlineBearer};
pub use error::WebError;
pub use headers::{API_POLICY, PAGE_POLICY, harden};
pub use router::{session_router, session_router_for};

/// A fingerprint cookie's value as the bytes a family is bound to.
fn as_bytes(value: &String) -> Fingerprint<'_> {
    value
}

/// The grace window web sessions get by default: long enough for two tabs refreshing at
/// once, or a retry after a lost response, to get the same live token; short enough that
/// a stolen previous token is worth little.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// How long a client is told to wait after a store outage.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The refresh cookie's name, before the `__Host-` prefix.
const REFRESH_COOKIE: &str = "refresh";
/// The fingerprint cookie's name, before the `__Host-` prefix.
const FINGERPRINT_COOKIE: &str = "fingerprint";

/// [`Sessions`] as an HTTP service uses them: the validation bearer tokens must pass, the
/// realm, the origins allowed to send cookie-authenticated requests, and whether sessions
/// are bound to a fingerprint cookie.
pub struct WebSessions<St = AnyStore> {
    sessions: Sessions<St>,
    validation: Validation,
    realm: String,
    origins: Vec<String>,
    fingerprint: bool,
    cookies: CookieOptions,
}

impl<St: Store> WebSessions<St> {
    /// Web sessions over `store`, with [`DEFAULT_GRACE`] and otherwise the default
    /// [`RefreshPolicy`], the default [`Validation`], realm `tok`, no allowed origin yet
    /// (requests carrying `Origin` without `Sec-Fetch-Site` are refused until one is
    /// added), and fingerprint cookies on.
    ///
    /// # Errors
    /// Never in practice: [`DEFAULT_GRACE`] is within the maximum.
    pub fn new(store: St, keys: KeySet) -> Self {
        let policy = RefreshPolicy::default()
            .with_grace(DEFAULT_GRACE)
            .unwrap_or_default();
        Self::from_sessions(Sessions::new(store, keys, policy))
    }

    /// Web sessions over configured [`Sessions`] (any policy; a grace of 0 is allowed).
    pub fn from_sessions(sessions: Sessions<St>) -> Self {
        Self {
            sessions,
            validation: Validation::new(),
            realm: "tok".into(),
            origins: Vec::new(),
            fingerprint: true,
            cookies: CookieOptions::default(),
        }
    }

    /// The validation bearer tokens must pass (default [`Validation::new`]).
    pub fn with_validation(mut self, validation: Validation) -> Self {
        self.validation = validation;
        self
    }

    /// Allows cookie-authenticated requests whose `Origin` is `origin` (exactly
    /// `scheme://host[:port]`) when the browser sends no `Sec-Fetch-Site`. Repeatable.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// The realm of `WWW-Authenticate` challenges (default `tok`). Characters a quoted
    /// string cannot carry are dropped.
    pub fn with_realm(mut self, realm: &str) -> Self {
        self.realm = realm
            .chars()
            .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
            .collect();
        self
    }

    /// Does not bind sessions to a fingerprint cookie.
    pub fn without_fingerprint(mut self) -> Self {
        self.fingerprint = false;
        self
    }

    /// The sessions underneath.
    pub fn sessions(&self) -> &Sessions<St> {
        &self.sessions
    }

    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }

    fn invalid_token(&self, error: Error) -> WebError {
        match error.kind() {
            ErrorKind::Store => self.outage(error),
            _ => WebError::InvalidToken {
                realm: self.realm.clone(),
                error,
            },
        }
    }

    fn outage(&self, error: Error) -> WebError {
        WebError::Unavailable {
            error,
            retry_after: RETRY_AFTER,
        }
    }

    /// A refused session: the cookies go, except when the store is down.
    fn session_error(&self, error: Error) -> WebError {
        match error.kind() {
            ErrorKind::Store => self.outage(error),
            ErrorKind::Random => WebError::Internal(error),
            _ => WebError::Session {
                error,
                clear: self.clearing_cookies(),
            },
        }
    }

    pub(crate) async fn verify_offline<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<Verified<T>, WebError> {
        crate::jws::verify_at(
            self.sessions.keys(),
            token,
            &self.validation,
            self.sessions.now(),
        )
        .map_err(|e| self.invalid_token(e))
    }

    pub(crate) async fn verify_online<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<Verified<T>, WebError> {
        self.sessions
            .verify_access(token, &self.validation)
            .await
            .map_err(|e| self.invalid_token(e))
    }

    /// The value of tok's cookie `name`. Bytes outside visible ASCII belong to other
    /// applications' cookies (tok's are ASCII), so they are read lossily rather than
    /// refused: a neighbour's cookie must not break login, refresh or logout. A
    /// replacement character inside tok's own cookie makes its value malformed, and it is
    /// refused where the value is checked.
    fn read_cookie(&self, headers: &HeaderMap, name: &str) -> Result<Option<String>, WebError> {
        let values: Vec<_> = headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect();
        cookie::read(
            values.iter().map(AsRef::as_ref),
            &self.cookies.full_name(name),
        )
        .map_err(|_| WebError::InvalidRequest {
            realm: self.realm.clone(),
            reason: "a session cookie is sent more than once",
        })
    }

    fn fingerprint_of(&self, headers: &HeaderMap) -> Result<Option<String>, WebError> {
        if self.fingerprint {
            self.read_cookie(headers, FINGERPRINT_COOKIE)
        } else {
            Ok(None)
        }
    }

    fn set_cookie(&self, name: &str, value: &str, max_age: Duration) -> Option<HeaderValue> {
        cookie::set_cookie(name, value, max_age, &self.cookies)
            .ok()
            .and_then(|v| HeaderValue::from_str(&v).ok())
    }

    fn clearing_cookies(&self) -> Vec<HeaderValue> {
        [REFRESH_COOKIE, FINGERPRINT_COOKIE]
            .iter()
            .filter_map(|name| self.set_cookie(name, "", Duration::ZERO))
            .collect()
    }

    /// The token response: RFC 6749 §5.1 JSON without the refresh token, which goes in
    /// its cookie, and the fingerprint in its own with the same `Max-Age`: a browser that
    /// dropped the fingerprint while keeping the refresh cookie would present a
    /// mismatch, which revokes the session.
    fn token_response(&self, pair: &TokenPair, fingerprint: Option<&str>) -> Response {
        let body = serde_json::json!({
            "access_token": pair.access_token,
            "token_type": pair.token_type,
            "expires_in": pair.expires_in,
        })
        .to_string();
        let mut response = (StatusCode::OK, body).into_response();
        let lifetime = Duration::from_secs(pair.refresh_expires_in);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(v) = self.set_cookie(REFRESH_COOKIE, &pair.refresh_token, lifetime) {
            headers.append(SET_COOKIE, v);
        }
        if let Some(fp) = fingerprint
            && let Some(v) = self.set_cookie(FINGERPRINT_COOKIE, fp, lifetime)
        {
            headers.append(SET_COOKIE, v);
        }
        response
    }

    /// Starts a session for a user the application has authenticated, and answers with
    /// the token response and the session cookies. A refresh cookie that came with the
    /// request is revoked if a family minted it (a new family every login, so a cookie
    /// planted before login is worth nothing after it).
    ///
    /// # Errors
    /// [`WebError::Csrf`] for a cross-site request, [`WebError::Unavailable`] when the
    /// store is down, [`WebError::InvalidRequest`] for an unreadable `Cookie` header.
    pub async fn login(
        &self,
        headers: &HeaderMap,
        subject: &str,
        claims: &impl Serialize,
    ) -> Result<Response, WebError> {
        csrf::check(headers, &self.origins)?;
        if let Some(old) = self.read_cookie(headers, REFRESH_COOKIE)? {
            match self.sessions.revoke_refresh(&old).await {
                Err(e) if e.kind() == ErrorKind::Store => return Err(self.outage(e)),
                // Unknown, malformed, already ended or reused: nothing left to end.
                _ => {}
            }
        }
        let fingerprint = if self.fingerprint {
            Some(crate::random::token(32).map_err(WebError::Internal)?)
        } else {
            None
        };
        let pair = self
            .sessions
            .issue(subject, claims, fingerprint.as_ref().map(as_bytes))
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::Store => self.outage(e),
                _ => WebError::Internal(e),
            })?;
        Ok(self.token_response(&pair, fingerprint.as_deref()))
    }

    /// `POST /refresh`: rotates the refresh cookie.
    ///
    /// # Errors
    /// See [`WebError`]: CSRF, no session, a refused session (cookies cleared), outage.
    pub async fn refresh(&self, headers: &HeaderMap) -> Result<Response, WebError> {
        self.rotate(headers, None::<&()>).await
    }

    /// Rotates the refresh cookie with new access claims (a privilege change: the old
    /// refresh token cannot outlive it). Call it from a handler that has authenticated
    /// the request (e.g. with [`OnlineBearer`]) and decided the change.
    ///
    /// # Errors
    /// As [`refresh`](Self::refresh), plus a refused session for claims tok sets.
    pub async fn change_privileges(
        &self,
        headers: &HeaderMap,
        claims: &impl Serialize,
    ) -> Result<Response, WebError> {
        self.rotate(headers, Some(claims)).await
    }

    async fn rotate(
        &self,
        headers: &HeaderMap,
        claims: Option<&impl Serialize>,
    ) -> Result<Response, WebError> {
        csrf::check(headers, &self.origins)?;
        let Some(token) = self.read_cookie(headers, REFRESH_COOKIE)? else {
            return Err(WebError::NoSession);
        };
        let fingerprint = self.fingerprint_of(headers)?;
        let fp = fingerprint.as_ref().map(as_bytes);
        let pair = match claims {
            None => self.sessions.rotate(&token, fp).await,
            Some(claims) => self.sessions.rotate_with_claims(&token, fp, claims).await,
        }
        .map_err(|e| self.session_error(e))?;
        Ok(self.token_response(&pair, fingerprint.as_deref()))
    }

    /// `POST /logout`: ends the session of the refresh cookie (when a family minted it)
    /// and clears the cookies: 204.
    ///
    /// # Errors
    /// CSRF, an unreadable `Cookie` header, outage (then nothing is cleared).
    pub async fn logout(&self, headers: &HeaderMap) -> Result<Response, WebError> {
        csrf::check(headers, &self.origins)?;
        if let Some(token) = self.read_cookie(headers, REFRESH_COOKIE)? {
            match self.sessions.revoke_refresh(&token).await {
                Err(e) if e.kind() == ErrorKind::Store => return Err(self.outage(e)),
                _ => {}
            }
        }
        Ok(self.cleared(StatusCode::NO_CONTENT, String::new()))
    }

    /// Ends every session of `subject` (logout everywhere) and clears this client's
    /// cookies: 200 `{"revoked": N}`. An act of the session holder, not of whoever holds
    /// an access token: the request must also carry the refresh cookie (and fingerprint)
    /// of the live session `session_id` (the caller's verified access token's `sid`),
    /// which is rotated to prove it, with every rule of a refresh (a retired cookie is
    /// reuse). A leaked access token alone ends nothing.
    ///
    /// # Errors
    /// CSRF; [`WebError::NoSession`] without a refresh cookie;
    /// [`WebError::NotSessionHolder`] when the cookie is of another session; a refused
    /// session (cookies cleared); outage (nothing revoked, nothing cleared).
    pub async fn logout_everywhere(
        &self,
        headers: &HeaderMap,
        subject: &str,
        session_id: &str,
    ) -> Result<Response, WebError> {
        csrf::check(headers, &self.origins)?;
        let Some(token) = self.read_cookie(headers, REFRESH_COOKIE)? else {
            return Err(WebError::NoSession);
        };
        // The family id is the token's first segment; the rotation below checks the rest.
        if token.split('.').next() != Some(session_id) {
            return Err(WebError::NotSessionHolder);
        }
        let fingerprint = self.fingerprint_of(headers)?;
        self.sessions
            .rotate(&token, fingerprint.as_ref().map(as_bytes))
            .await
            .map_err(|e| self.session_error(e))?;
        let revoked = self
            .sessions
            .revoke_subject(subject)
            .await
            .map_err(|e| self.outage(e))?;
        let body = serde_json::json!({ "revoked": revoked }).to_string();
        let mut response = self.cleared(StatusCode::OK, body);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }

    fn cleared(&self, status: StatusCode, body: String) -> Response {
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for value in self.clearing_cookies() {
            headers.append(SET_COOKIE, value);
        }
        response
    }
}
