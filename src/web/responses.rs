//! What the session routes read and write: tok's cookies in a request, and the token
//! and cleared-cookie responses.

use std::time::Duration;

use axum::http::header::{CACHE_CONTROL, PRAGMA, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::refresh::TokenPair;
use crate::store::Store;
use crate::web::json::json;
use crate::web::{FINGERPRINT_COOKIE, REFRESH_COOKIE, WebError, WebSessions, cookie};

impl<St: Store> WebSessions<St> {
    /// The value of tok's cookie `name`. Bytes outside visible ASCII belong to other
    /// applications' cookies (tok's are ASCII), so they are read lossily rather than
    /// refused: a neighbour's cookie must not break login, refresh or logout. A
    /// replacement character inside tok's own cookie makes its value malformed, and it is
    /// refused where the value is checked.
    pub(super) fn read_cookie(
        &self,
        headers: &HeaderMap,
        name: &str,
    ) -> Result<Option<String>, WebError> {
        let values: Vec<_> = headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect();
        cookie::read(values.iter().map(AsRef::as_ref), &cookie::full_name(name)).map_err(|_| {
            WebError::InvalidRequest {
                realm: self.realm.clone(),
                reason: "a session cookie is sent more than once",
            }
        })
    }

    pub(super) fn fingerprint_of(&self, headers: &HeaderMap) -> Result<Option<String>, WebError> {
        if self.fingerprint {
            self.read_cookie(headers, FINGERPRINT_COOKIE)
        } else {
            Ok(None)
        }
    }

    /// A `Set-Cookie` value for tok's cookie `name`: for `max_age`, or a session cookie
    /// (no `Max-Age`, no `Expires`) for `None`.
    pub(super) fn set_cookie(
        &self,
        name: &str,
        value: &str,
        max_age: Option<Duration>,
    ) -> Option<HeaderValue> {
        match max_age {
            Some(age) => cookie::set_cookie(name, value, age),
            None => cookie::set_session_cookie(name, value),
        }
        .ok()
        .and_then(|v| HeaderValue::from_str(&v).ok())
    }

    pub(super) fn clearing_cookies(&self) -> Vec<HeaderValue> {
        [REFRESH_COOKIE, FINGERPRINT_COOKIE]
            .iter()
            .filter_map(|name| self.set_cookie(name, "", Some(Duration::ZERO)))
            .collect()
    }

    /// The token response: RFC 6749 §5.1 JSON without the refresh token, which goes in
    /// its cookie, and the fingerprint in its own with the same `Max-Age`: a browser that
    /// dropped the fingerprint while keeping the refresh cookie would present a
    /// mismatch, which revokes the session.
    pub(super) fn token_response(&self, pair: &TokenPair, fingerprint: Option<&str>) -> Response {
        self.token_response_with(pair, fingerprint, serde_json::Map::new())
    }

    /// [`token_response`](Self::token_response) with `extra` members in the JSON body
    /// (a route's own answer beside the tokens).
    pub(super) fn token_response_with(
        &self,
        pair: &TokenPair,
        fingerprint: Option<&str>,
        mut extra: serde_json::Map<String, serde_json::Value>,
    ) -> Response {
        extra.insert("access_token".into(), pair.access_token.as_str().into());
        extra.insert("token_type".into(), pair.token_type.into());
        extra.insert("expires_in".into(), pair.expires_in.into());
        let mut response = json(StatusCode::OK, &serde_json::Value::Object(extra));
        let headers = response.headers_mut();
        // RFC 6749 §5.1 asks for both, for HTTP/1.0 caches too.
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        for v in self.session_cookies(pair, fingerprint) {
            headers.append(SET_COOKIE, v);
        }
        response
    }

    /// The `Set-Cookie` values that hand `pair`'s refresh token (and the fingerprint)
    /// to the browser, for the refresh token's lifetime when the login is remembered, and
    /// as session cookies (both alike: never one without the other) when it is not.
    pub(super) fn session_cookies(
        &self,
        pair: &TokenPair,
        fingerprint: Option<&str>,
    ) -> Vec<HeaderValue> {
        let lifetime = pair
            .remembered
            .then(|| Duration::from_secs(pair.refresh_expires_in));
        let refresh = self.set_cookie(REFRESH_COOKIE, &pair.refresh_token, lifetime);
        let fingerprint =
            fingerprint.and_then(|fp| self.set_cookie(FINGERPRINT_COOKIE, fp, lifetime));
        refresh.into_iter().chain(fingerprint).collect()
    }

    /// An answer that clears tok's cookies: `body` as JSON, or no body.
    pub(super) fn cleared(&self, status: StatusCode, body: Option<serde_json::Value>) -> Response {
        let mut response = match body {
            Some(body) => json(status, &body),
            None => {
                let mut response = status.into_response();
                let headers = response.headers_mut();
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
        };
        let headers = response.headers_mut();
        for value in self.clearing_cookies() {
            headers.append(SET_COOKIE, value);
        }
        response
    }
}
