//! Every way a web request fails, as a response: RFC 6750 §3 for bearer credentials,
//! JSON `{"error": CODE}` bodies everywhere, and never a cookie cleared for an outage.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::bearer::{challenge, login_challenge};
use crate::error::Error;

/// A refused web request. Converts into the response the client gets.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebError {
    /// No bearer credentials (none, or another scheme: RFC 6750 §3.1): 401 with
    /// `WWW-Authenticate: Bearer realm="..."` and no error code.
    NoCredentials {
        /// The protection space named in the challenge.
        realm: String,
    },
    /// A malformed request (two `Authorization` headers, a Bearer credential that is not
    /// one `b64token`, a session cookie sent twice): 400 `invalid_request`.
    InvalidRequest {
        /// The protection space named in the challenge.
        realm: String,
        /// What was wrong, for the body (never the token itself).
        reason: &'static str,
    },
    /// A bearer token that did not verify, or whose session or `jti` was revoked: 401
    /// `error="invalid_token"` with tok's code as `error_description`.
    InvalidToken {
        /// The protection space named in the challenge.
        realm: String,
        /// Why.
        error: Error,
    },
    /// A good token whose user logged in too long ago (or at a level not accepted) for
    /// the route: 401 with RFC 9470's challenge (`error="insufficient_user_authentication"`,
    /// `max_age`, `acr_values`) and `{"error": "insufficient-user-authentication",
    /// "max_age": N}`: ask the user to prove who they are again, then retry.
    InsufficientUserAuthentication {
        /// The protection space named in the challenge.
        realm: Box<str>,
        /// Why.
        error: Error,
        /// The maximum login age the route asks for, if it asks for one.
        max_age: Option<Duration>,
        /// The authentication levels the route accepts (empty: any).
        acr_values: Box<[String]>,
    },
    /// A cookie-authenticated request from another site: 403 `{"error":"csrf"}`.
    Csrf,
    /// No refresh cookie: 401 `{"error":"no-session"}`.
    NoSession,
    /// The refresh cookie is of another session than the caller's access token (`sid`),
    /// on a route that needs both from one holder: 403 `{"error":"not-session-holder"}`.
    NotSessionHolder,
    /// The refresh cookie was refused (reused, revoked, expired, unknown, fingerprint
    /// mismatch, malformed): 401 with tok's code, and both session cookies cleared.
    Session {
        /// Why.
        error: Error,
        /// `Set-Cookie` values that clear the session cookies.
        clear: Vec<HeaderValue>,
    },
    /// The store is unreachable: 503 with `Retry-After`. Cookies are never cleared: an
    /// outage must not log anyone out.
    Unavailable {
        /// The store's error (logged, not sent).
        error: Error,
        /// When to try again.
        retry_after: Duration,
        /// `Set-Cookie` values of session cookies renewed before the store failed (a
        /// route that rotated the refresh cookie to prove its holder, then failed on its
        /// action): sent with the 503, so the browser keeps the live cookie and not the
        /// retired one, whose next use would be reuse. Empty otherwise.
        renewed: Vec<HeaderValue>,
    },
    /// Something on the server failed (the OS random generator): 500.
    Internal(Error),
}

impl WebError {
    /// The code sent as `{"error": CODE}`.
    pub fn code(&self) -> &str {
        match self {
            Self::NoCredentials { .. } => "no-credentials",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidToken { error, .. }
            | Self::Session { error, .. }
            | Self::InsufficientUserAuthentication { error, .. } => error.code(),
            Self::Csrf => "csrf",
            Self::NoSession => "no-session",
            Self::NotSessionHolder => "not-session-holder",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(error) => error.code(),
        }
    }
}

fn json_error(status: StatusCode, code: &str) -> Response {
    super::json::json(status, &serde_json::json!({ "error": code }))
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let code = self.code().to_owned();
        match self {
            Self::NoCredentials { realm } => {
                let mut r = json_error(StatusCode::UNAUTHORIZED, &code);
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, challenge(&realm, None));
                r
            }
            Self::InvalidRequest { realm, reason } => {
                let mut r = json_error(StatusCode::BAD_REQUEST, &code);
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    challenge(&realm, Some(("invalid_request", reason))),
                );
                r
            }
            Self::InvalidToken { realm, error } => {
                let mut r = json_error(StatusCode::UNAUTHORIZED, &code);
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    challenge(&realm, Some(("invalid_token", error.code()))),
                );
                r
            }
            Self::InsufficientUserAuthentication {
                realm,
                max_age,
                acr_values,
                ..
            } => {
                let mut body = serde_json::json!({ "error": code });
                if let Some(age) = max_age {
                    body["max_age"] = age.as_secs().into();
                }
                if !acr_values.is_empty() {
                    body["acr_values"] = acr_values.to_vec().into();
                }
                let mut r = super::json::json(StatusCode::UNAUTHORIZED, &body);
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    login_challenge(&realm, max_age, &acr_values),
                );
                r
            }
            Self::Csrf => json_error(StatusCode::FORBIDDEN, &code),
            Self::NoSession => json_error(StatusCode::UNAUTHORIZED, &code),
            Self::NotSessionHolder => json_error(StatusCode::FORBIDDEN, &code),
            Self::Session { clear, .. } => {
                let mut r = json_error(StatusCode::UNAUTHORIZED, &code);
                for value in clear {
                    r.headers_mut().append(header::SET_COOKIE, value);
                }
                r
            }
            Self::Unavailable {
                error,
                retry_after,
                renewed,
            } => {
                tracing::warn!(target: "tok::web", event = "store_unavailable", error = %error);
                let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, &code);
                for value in renewed {
                    r.headers_mut().append(header::SET_COOKIE, value);
                }
                let secs = retry_after.as_secs().max(1).to_string();
                if let Ok(v) = HeaderValue::from_str(&secs) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            Self::Internal(error) => {
                tracing::error!(target: "tok::web", event = "internal", error = %error);
                json_error(StatusCode::INTERNAL_SERVER_ERROR, &code)
            }
        }
    }
}
