//! Ending sessions and access tokens: logout with a refresh token, an operator's revoke by
//! family id, logout everywhere, and denylisting one access token.

use crate::error::{Error, ErrorKind};
use crate::model::family::{Logout, Refusal};
use crate::model::store::{LogoutRequest, Store};
use crate::refresh::Sessions;
use crate::refresh::refusal::refusal_error;
use crate::validation::Validation;

impl<S: Store> Sessions<S> {
    /// Logs out with a refresh token: revokes its family, but only when the family minted
    /// the token. Returns whether the family was live. The family id alone (every access
    /// token's `sid`) is not enough: a made-up token changes nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// # let keys = tok::KeySet::new(tok::HmacKey::generate()?);
    /// let sessions = tok::refresh::Sessions::new(tok::store::MemoryStore::new(), keys, Default::default());
    /// let pair = sessions.issue("alice", &serde_json::json!({}), None).await?;
    /// let forged = format!("{}.0.{}", pair.session_id, "A".repeat(43));
    /// assert_eq!(sessions.revoke_refresh(&forged).await.unwrap_err().kind(), tok::ErrorKind::RefreshUnknown);
    /// assert!(sessions.revoke_refresh(&pair.refresh_token).await?); // logged out
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`RefreshUnknown`](ErrorKind::RefreshUnknown) for a token no family minted (nothing
    /// changed); [`RefreshReused`](ErrorKind::RefreshReused) for a retired token (the
    /// family is revoked all the same); [`Malformed`](ErrorKind::Malformed) for a string
    /// that is not a refresh token; [`Store`](ErrorKind::Store).
    #[tracing::instrument(
        name = "logout",
        target = "tok::refresh",
        skip_all,
        fields(family, outcome)
    )]
    pub async fn revoke_refresh(&self, refresh_token: &str) -> Result<bool, Error> {
        let request = LogoutRequest {
            presented: self.parse(refresh_token)?,
            now: self.now(),
            grace: self.policy.grace,
        };
        let family = request.presented.family_id();
        let span = tracing::Span::current();
        span.record("family", family);
        let outcome = self.store.logout(&request).await?;
        let code = match outcome {
            Logout::Revoked => "revoked",
            Logout::AlreadyEnded => "already-ended",
            Logout::Reused => "reused",
            Logout::Unknown => "unknown",
        };
        span.record("outcome", code);
        metrics::counter!(crate::refresh::metrics::LOGOUTS, "outcome" => code).increment(1);
        match outcome {
            Logout::Revoked => Ok(true),
            Logout::AlreadyEnded => Ok(false),
            Logout::Reused => Err(refusal_error(Refusal::Reused, family)),
            Logout::Unknown => Err(refusal_error(Refusal::Unknown, family)),
        }
    }

    /// Ends one session by id (its refresh-token family): an operator's tool (an admin
    /// page, an incident). The id is public (every access token's `sid`, a listed
    /// [`SessionInfo::id`](crate::refresh::SessionInfo::id)), so never let a caller choose
    /// it without authorising them for that session: users log out with
    /// [`revoke_refresh`](Self::revoke_refresh), and end their own other sessions with
    /// [`end`](Self::end). Returns whether the session was live.
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store).
    #[tracing::instrument(
        name = "revoke_session", target = "tok::refresh", skip_all,
        fields(session = session_id, revoked),
    )]
    pub async fn revoke_session(&self, session_id: &str) -> Result<bool, Error> {
        let revoked = self.store.revoke_family(session_id, self.now()).await?;
        tracing::Span::current().record("revoked", revoked);
        if revoked {
            metrics::counter!(crate::refresh::metrics::ENDED, "by" => "operator").increment(1);
        }
        Ok(revoked)
    }

    /// Revokes every family of `subject` (logout everywhere). Returns how many were live.
    /// A family whose creation returned before this returns is revoked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// # let keys = tok::KeySet::new(tok::HmacKey::generate()?);
    /// let sessions = tok::refresh::Sessions::new(tok::store::MemoryStore::new(), keys, Default::default());
    /// sessions.issue("alice", &serde_json::json!({}), None).await?;
    /// sessions.issue("alice", &serde_json::json!({}), None).await?;
    /// assert_eq!(sessions.revoke_subject("alice").await?, 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store).
    #[tracing::instrument(
        name = "revoke_subject", target = "tok::refresh", skip_all,
        fields(subject = subject, families),
    )]
    pub async fn revoke_subject(&self, subject: &str) -> Result<u64, Error> {
        let count = self.store.revoke_subject(subject, self.now()).await?;
        tracing::Span::current().record("families", count);
        metrics::counter!(crate::refresh::metrics::SUBJECT_LOGOUTS).increment(1);
        Ok(count)
    }

    /// Denylists one access token by `jti`. The token must verify (with `validation`), so
    /// nobody can denylist arbitrary ids.
    ///
    /// # Errors
    /// The verification error, [`MissingClaim`](ErrorKind::MissingClaim) without `jti` or
    /// `exp`, [`Store`](ErrorKind::Store).
    #[tracing::instrument(name = "revoke_access", target = "tok::refresh", skip_all, fields(jti))]
    pub async fn revoke_access(
        &self,
        access_token: &str,
        validation: &Validation,
    ) -> Result<(), Error> {
        let now = self.now();
        let verified = self.verify_signed(access_token, validation, now)?;
        let jti = verified
            .claims
            .jti
            .ok_or_else(|| Error::new(ErrorKind::MissingClaim, "token has no jti to revoke"))?;
        let exp = verified
            .claims
            .exp
            .ok_or_else(|| Error::new(ErrorKind::MissingClaim, "token has no exp"))?;
        tracing::Span::current().record("jti", jti.as_str());
        self.store.deny_jti(&jti, exp, now).await?;
        Ok(())
    }
}
