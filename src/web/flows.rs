//! The session flows of the web layer: login, refresh, privilege change, logout and
//! logout everywhere, each with its CSRF check and cookie rules.

use crate::web::json::json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;

use crate::error::ErrorKind;
use crate::refresh::{Fingerprint, LoginDetails};
use crate::store::Store;
use crate::web::{REFRESH_COOKIE, WebError, WebSessions, csrf};

/// A fingerprint cookie's value as the bytes a family is bound to.
fn as_bytes(value: &String) -> Fingerprint<'_> {
    value
}

impl<St: Store> WebSessions<St> {
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
        self.login_with(headers, subject, claims, LoginDetails::new())
            .await
    }

    /// [`login`](Self::login), with what the application says of the login (see
    /// [`LoginDetails`]): how the user proved who they are (`amr`, `acr`), and whether
    /// the login is remembered. A login not remembered gets session cookies (no
    /// `Max-Age`, no `Expires`: both cookies end with the browser's session) on this
    /// answer and on every refresh, and the policy's shorter
    /// [unremembered lifetime](crate::refresh::RefreshPolicy::with_unremembered_lifetime).
    /// Without a label in `details`, the session is labelled with the `User-Agent`.
    ///
    /// # Errors
    /// As [`login`](Self::login); [`WebError::Internal`] for `amr`/`acr` names
    /// [`LoginDetails`] refuses (the application's words, not the client's).
    pub async fn login_with(
        &self,
        headers: &HeaderMap,
        subject: &str,
        claims: &impl Serialize,
        details: LoginDetails,
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
        let details = if details.label.is_empty() {
            details.with_label(device_label(headers))
        } else {
            details
        };
        let pair = self
            .sessions
            .issue_with(
                subject,
                claims,
                fingerprint.as_ref().map(as_bytes),
                &details,
            )
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
    /// the request (e.g. with [`OnlineBearer`](crate::web::OnlineBearer)) and decided the change.
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

    /// Records that the holder of session `session_id` proved who they are again (the
    /// application's handler has just checked their password, passkey or second factor),
    /// and answers as a refresh does: the token response, whose access token carries
    /// `auth_time` = now and passes [`RecentLogin`](crate::web::RecentLogin), and renewed
    /// cookies. `session_id` is the caller's verified access token's `sid`: the request
    /// must also carry that session's refresh cookie (and fingerprint), as for
    /// [`logout_everywhere`](Self::logout_everywhere), so a leaked access token alone
    /// cannot refresh anyone's login. Only this session's login moves.
    ///
    /// # Errors
    /// As [`logout_everywhere`](Self::logout_everywhere);
    /// [`WebError::Internal`] for `amr`/`acr` names [`LoginDetails`] refuses.
    pub async fn reauthenticate(
        &self,
        headers: &HeaderMap,
        session_id: &str,
        proof: &LoginDetails,
    ) -> Result<Response, WebError> {
        // The application's words are checked before the client's cookie: a bad name is
        // the server's fault, and must not read as a refused session.
        proof.check().map_err(WebError::Internal)?;
        let (token, fingerprint) = self.holder_cookies(headers, session_id)?;
        let pair = self
            .sessions
            .reauthenticate(&token, fingerprint.as_ref().map(as_bytes), proof)
            .await
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
        Ok(self.cleared(StatusCode::NO_CONTENT, None))
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
        let (pair, fingerprint) = self.prove_holder(headers, session_id).await?;
        let revoked = self
            .sessions
            .revoke_subject(subject)
            .await
            .map_err(|e| self.outage_after_proof(e, &pair, fingerprint.as_deref()))?;
        Ok(self.cleared(
            StatusCode::OK,
            Some(serde_json::json!({ "revoked": revoked })),
        ))
    }

    /// The caller's sessions (`subject`'s, the caller's own `session_id` marked
    /// `current`): 200 `{"sessions": [{"id", "created_at", "last_used_at", "expires_at",
    /// "idle_expires_at", "current"}]}`, oldest first. Needs the caller's verified access
    /// token only: it shows, it ends nothing.
    ///
    /// # Errors
    /// Outage; a store that cannot list ([`WebError::Internal`]).
    pub async fn list_sessions(
        &self,
        subject: &str,
        session_id: &str,
    ) -> Result<Response, WebError> {
        let listed = self
            .sessions
            .list(subject)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::Store => self.outage(e),
                _ => WebError::Internal(e),
            })?;
        let sessions: Vec<serde_json::Value> = listed
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["current"] = (s.id == session_id).into();
                v
            })
            .collect();
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "sessions": sessions }),
        ))
    }

    /// Ends session `target` of `subject` (a devices page's "end" button): an act of the
    /// session holder, so the request must carry the refresh cookie of the caller's own
    /// session `session_id`, rotated to prove it (as for logout everywhere). Answers the
    /// token response of that rotation (new access token, renewed cookies) with
    /// `"ended": true|false`; another subject's session or an unknown id is `false` and
    /// nothing changes. Ending the caller's own session ends it like a logout.
    ///
    /// # Errors
    /// As [`logout_everywhere`](Self::logout_everywhere).
    pub async fn end_session(
        &self,
        headers: &HeaderMap,
        subject: &str,
        session_id: &str,
        target: &str,
    ) -> Result<Response, WebError> {
        let (pair, fingerprint) = self.prove_holder(headers, session_id).await?;
        let ended = self
            .sessions
            .end(subject, target)
            .await
            .map_err(|e| self.outage_after_proof(e, &pair, fingerprint.as_deref()))?;
        if target == session_id && ended {
            let body = serde_json::json!({ "ended": true });
            return Ok(self.cleared(StatusCode::OK, Some(body)));
        }
        let mut extra = serde_json::Map::new();
        extra.insert("ended".into(), ended.into());
        Ok(self.token_response_with(&pair, fingerprint.as_deref(), extra))
    }

    /// Proves the request comes from the holder of session `session_id`: its refresh
    /// cookie (and fingerprint) must be that session's live one, which is rotated (every
    /// rule of a refresh applies: a retired cookie is reuse). Returns the new pair and the
    /// fingerprint cookie's value.
    async fn prove_holder(
        &self,
        headers: &HeaderMap,
        session_id: &str,
    ) -> Result<(crate::refresh::TokenPair, Option<String>), WebError> {
        let (token, fingerprint) = self.holder_cookies(headers, session_id)?;
        let pair = self
            .sessions
            .rotate(&token, fingerprint.as_ref().map(as_bytes))
            .await
            .map_err(|e| self.session_error(e))?;
        Ok((pair, fingerprint))
    }

    /// The refresh cookie (and fingerprint cookie) of a request that claims to come from
    /// the holder of session `session_id`, after its CSRF check. The caller rotates the
    /// cookie to prove it.
    fn holder_cookies(
        &self,
        headers: &HeaderMap,
        session_id: &str,
    ) -> Result<(String, Option<String>), WebError> {
        csrf::check(headers, &self.origins)?;
        let Some(token) = self.read_cookie(headers, REFRESH_COOKIE)? else {
            return Err(WebError::NoSession);
        };
        // The family id is the token's first segment; the rotation checks the rest.
        if token.split('.').next() != Some(session_id) {
            return Err(WebError::NotSessionHolder);
        }
        Ok((token, self.fingerprint_of(headers)?))
    }

    /// The action after a holder proof failed: an outage (503, nothing done) that still
    /// hands over the cookies the proof renewed. The store already retired the cookie the
    /// browser sent; were the new one withheld, the browser's next refresh would present
    /// the retired one and be taken for a thief's (`refresh-reused`, the session revoked).
    fn outage_after_proof(
        &self,
        error: crate::error::Error,
        pair: &crate::refresh::TokenPair,
        fingerprint: Option<&str>,
    ) -> WebError {
        match self.outage(error) {
            WebError::Unavailable {
                error, retry_after, ..
            } => WebError::Unavailable {
                error,
                retry_after,
                renewed: self.session_cookies(pair, fingerprint),
            },
            other => other,
        }
    }
}

/// The label a web login gives its session, for the devices list: the browser's
/// `User-Agent` as it said it (a claim of the client's, shown back to the same user, never
/// trusted), without control and format characters (see
/// [`label_may_hold`](crate::refresh::family::label_may_hold)) and cut at a character boundary to fit
/// [`MAX_LABEL_BYTES`](crate::refresh::family::MAX_LABEL_BYTES); empty without one.
pub(crate) fn device_label(headers: &HeaderMap) -> String {
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let mut label = String::new();
    for c in agent
        .chars()
        .filter(|&c| crate::refresh::family::label_may_hold(c))
    {
        if label.len() + c.len_utf8() > crate::refresh::family::MAX_LABEL_BYTES {
            break;
        }
        label.push(c);
    }
    label
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn device_labels_are_bounded_and_printable() {
        let mut headers = HeaderMap::new();
        assert_eq!(device_label(&headers), "");
        headers.insert(
            axum::http::header::USER_AGENT,
            HeaderValue::from_static("Mozilla/5.0 (X11; Linux x86_64) Chrome/156"),
        );
        assert_eq!(
            device_label(&headers),
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/156"
        );
        let long = format!("a\tb{}", "é".repeat(300));
        headers.insert(
            axum::http::header::USER_AGENT,
            HeaderValue::from_bytes(long.as_bytes()).unwrap(),
        );
        let label = device_label(&headers);
        assert!(label.starts_with("ab"), "{label}");
        assert!(label.len() <= crate::refresh::family::MAX_LABEL_BYTES);
        assert!(label.len() > crate::refresh::family::MAX_LABEL_BYTES - 2);
        crate::model::family::check_label(&label).unwrap();
        // Format characters go too: a bidi override could make the label read as another.
        headers.insert(
            axum::http::header::USER_AGENT,
            HeaderValue::from_bytes("evil\u{202E}gpj.exe\u{200B}".as_bytes()).unwrap(),
        );
        assert_eq!(device_label(&headers), "evilgpj.exe");
    }
}
