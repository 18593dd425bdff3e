//! [`Sessions::reauthenticate`]: a session's user proving who they are again, for the
//! sensitive actions that ask for a recent login.

use crate::error::Error;
use crate::model::store::Store;
use crate::refresh::login_details::LoginDetails;
use crate::refresh::pair::TokenPair;
use crate::refresh::sessions::{Fingerprint, Sessions};

impl<S: Store> Sessions<S> {
    /// Records that the user of the session holding `refresh_token` proved who they are
    /// again, now (the application has checked a password, a passkey, a second factor):
    /// rotates the session, and the new access token carries `auth_time` = now and the
    /// `amr`/`acr` of `proof` (its label and remember flag are ignored: the session keeps
    /// its own). As a privilege change does, it outdates the session's earlier access
    /// tokens (online checks answer [`Revoked`](crate::ErrorKind::Revoked) "outdated" to
    /// them; offline they carry the old `auth_time` and fail a recency check) and is never
    /// answered from the grace window. Other sessions of the user are untouched.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// use std::time::Duration;
    /// use tok::refresh::{LoginDetails, Sessions};
    /// # let keys = tok::KeySet::new(tok::HmacKey::generate()?);
    /// let sessions = Sessions::new(tok::store::MemoryStore::new(), keys, Default::default());
    /// let pair = sessions.issue("alice", &serde_json::json!({}), None).await?;
    /// // ... the user types their password again; the application checks it, then:
    /// let fresh = sessions
    ///     .reauthenticate(&pair.refresh_token, None, &LoginDetails::new().with_methods(["pwd"]))
    ///     .await?;
    /// let recent = tok::Validation::new().with_max_auth_age(Duration::from_secs(300));
    /// sessions.verify_access::<serde_json::Value>(&fresh.access_token, &recent).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate); [`TooLarge`](crate::ErrorKind::TooLarge) or
    /// [`Malformed`](crate::ErrorKind::Malformed) for `amr`/`acr` names
    /// [`LoginDetails`] refuses.
    pub async fn reauthenticate(
        &self,
        refresh_token: &str,
        fingerprint: Option<Fingerprint<'_>>,
        proof: &LoginDetails,
    ) -> Result<TokenPair, Error> {
        let now = self.now();
        let mut login = proof.login_at(now)?;
        // Whether the login is remembered is the session's, set at login and never
        // changed, so reading it before the rotation races with nothing. A token of no
        // family reads nothing, and the rotation then refuses it.
        let presented = self.parse(refresh_token)?;
        if let Some(family) = self.store.family(presented.family_id()).await? {
            login.remember = family.login()?.remember;
        }
        self.rotate_inner(
            refresh_token,
            fingerprint.map(AsRef::as_ref),
            None,
            Some(login.to_stored()),
        )
        .await
    }
}
