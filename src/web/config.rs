//! [`WebSessions`]: sessions as an HTTP service uses them, its settings, and how a
//! failure becomes a [`WebError`].

use serde::de::DeserializeOwned;

use crate::bearer::RETRY_AFTER;
use crate::bearer::Refusal;
use crate::error::{Error, ErrorKind};
use crate::jws::Verified;
use crate::layer::Cached;
use crate::refresh::SessionKeys;
use crate::refresh::{RefreshPolicy, Sessions};
use crate::store::{AnyStore, Store};
use crate::validation::Validation;
use crate::web::{DEFAULT_GRACE, DEFAULT_RECENT_LOGIN, WebError};

/// [`Sessions`] as an HTTP service uses them: the validation bearer tokens must pass, the
/// realm, the origins allowed to send cookie-authenticated requests, and whether sessions
/// are bound to a fingerprint cookie.
pub struct WebSessions<St = Cached<AnyStore>> {
    pub(super) sessions: Sessions<St>,
    pub(super) validation: Validation,
    pub(super) realm: String,
    pub(super) origins: Vec<String>,
    pub(super) fingerprint: bool,
    /// How recent a login [`RecentLogin`](crate::web::RecentLogin) asks for.
    pub(super) recent_login: std::time::Duration,
    /// `validation` with [`recent_login`](Self::recent_login) as its maximum login age,
    /// built when either changes rather than on every request.
    pub(super) recent_validation: Validation,
}

impl<St: Store> WebSessions<St> {
    /// Web sessions over `store`, with [`DEFAULT_GRACE`] and otherwise the default
    /// [`RefreshPolicy`], the default [`Validation`], realm `tok`, no allowed origin yet
    /// (requests carrying `Origin` without `Sec-Fetch-Site` are refused until one is
    /// added), and fingerprint cookies on.
    pub fn new(store: St, keys: impl SessionKeys) -> Self {
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
            recent_login: DEFAULT_RECENT_LOGIN,
            recent_validation: Validation::new().with_max_auth_age(DEFAULT_RECENT_LOGIN),
        }
    }

    /// The validation bearer tokens must pass (default [`Validation::new`]).
    pub fn with_validation(mut self, validation: Validation) -> Self {
        self.recent_validation = validation.clone().with_max_auth_age(self.recent_login);
        self.validation = validation;
        self
    }

    /// How recent a login the [`RecentLogin`](crate::web::RecentLogin) extractor asks for
    /// (default [`DEFAULT_RECENT_LOGIN`], 5 minutes): a sensitive route refuses an access
    /// token whose user logged in (or [reauthenticated](Self::reauthenticate)) longer
    /// ago, with RFC 9470's challenge.
    pub fn with_recent_login(mut self, max_age: std::time::Duration) -> Self {
        self.recent_login = max_age;
        self.recent_validation = self.validation.clone().with_max_auth_age(max_age);
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
        self.realm = crate::bearer::realm(realm);
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

    /// A bearer token not accepted under `validation`, in the web layer's words.
    pub(super) fn refused(&self, refusal: Refusal, validation: &Validation) -> WebError {
        let realm = self.realm.clone();
        match refusal {
            Refusal::InvalidToken(error)
                if error.kind() == ErrorKind::InsufficientUserAuthentication =>
            {
                WebError::InsufficientUserAuthentication {
                    realm: realm.into(),
                    error,
                    max_age: validation.max_auth_age(),
                    acr_values: validation.acr_values().into(),
                }
            }
            Refusal::NoCredentials => WebError::NoCredentials { realm },
            Refusal::InvalidRequest(reason) => WebError::InvalidRequest { realm, reason },
            Refusal::InvalidToken(error) => WebError::InvalidToken { realm, error },
            Refusal::Unavailable(error) => self.outage(error),
        }
    }

    pub(super) fn outage(&self, error: Error) -> WebError {
        WebError::Unavailable {
            error,
            retry_after: RETRY_AFTER,
            renewed: Vec::new(),
        }
    }

    /// A refused session: the cookies go, except when the store is down.
    pub(super) fn session_error(&self, error: Error) -> WebError {
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
    ) -> Result<Verified<T>, Error> {
        crate::jws::verify_at(
            &self.sessions.key_source().load().set,
            token,
            &self.validation,
            self.sessions.now(),
        )
    }

    pub(crate) async fn verify_online<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<Verified<T>, Error> {
        self.sessions.verify_access(token, &self.validation).await
    }

    pub(crate) async fn verify_recent<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<Verified<T>, Error> {
        self.sessions
            .verify_access(token, &self.recent_validation)
            .await
    }
}
