//! Lifetimes and rules of a session family.

use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// The longest grace window tok allows: a lost response can be retried, but a stolen
/// previous token cannot be used for long beside the legitimate one.
pub const MAX_GRACE: Duration = Duration::from_secs(5 * 60);

/// Lifetimes and rules of a session family.
///
/// ```
/// use std::time::Duration;
/// let policy = tok::refresh::RefreshPolicy::default()
///     .with_access_ttl(Duration::from_secs(300))
///     .with_grace(Duration::from_secs(10))?;
/// assert_eq!(policy.grace(), Duration::from_secs(10));
/// let err = tok::refresh::RefreshPolicy::default().with_grace(Duration::from_secs(301)).unwrap_err();
/// assert_eq!(err.kind(), tok::ErrorKind::Config);
/// # Ok::<(), tok::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    pub(crate) access_ttl: Duration,
    pub(crate) family_lifetime: Duration,
    pub(crate) unremembered_lifetime: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) grace: Duration,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
}

impl Default for RefreshPolicy {
    /// Access tokens 15 minutes, families 30 days (12 hours for a login not remembered),
    /// idle timeout 7 days, no grace window.
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            family_lifetime: Duration::from_secs(30 * 86400),
            unremembered_lifetime: Duration::from_secs(12 * 3600),
            idle_timeout: Duration::from_secs(7 * 86400),
            grace: Duration::ZERO,
            issuer: None,
            audience: None,
        }
    }
}

impl RefreshPolicy {
    /// Access-token lifetime (default 15 minutes).
    pub fn with_access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Absolute session lifetime, which rotation never extends (default 30 days).
    pub fn with_session_lifetime(mut self, lifetime: Duration) -> Self {
        self.family_lifetime = lifetime;
        self
    }

    /// Absolute lifetime of a session whose login is not remembered (a "remember me" box
    /// left unticked; see [`LoginDetails::not_remembered`](crate::refresh::LoginDetails::not_remembered)),
    /// default 12 hours; never longer than [`with_session_lifetime`](Self::with_session_lifetime)'s.
    /// Its cookies end with the browser anyway; this bounds a browser left open.
    pub fn with_unremembered_lifetime(mut self, lifetime: Duration) -> Self {
        self.unremembered_lifetime = lifetime;
        self
    }

    /// The absolute lifetime of a session whose login is `remembered` or not.
    pub(crate) fn lifetime(&self, remembered: bool) -> Duration {
        if remembered {
            self.family_lifetime
        } else {
            self.unremembered_lifetime.min(self.family_lifetime)
        }
    }

    /// How long a session may go unrotated (default 7 days).
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Grace window for the immediately previous refresh token (default 0: strict).
    /// Inside it, the previous token gets the live token again (the same one every time),
    /// so concurrent refreshes and retried requests do not log the user out; a thief
    /// holding the previous token gets the same for as long as the window lasts.
    ///
    /// # Errors
    /// [`Config`](ErrorKind::Config) for a window over [`MAX_GRACE`].
    pub fn with_grace(mut self, grace: Duration) -> Result<Self, Error> {
        if grace > MAX_GRACE {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "grace window {}s exceeds the maximum of {}s",
                    grace.as_secs(),
                    MAX_GRACE.as_secs()
                ),
            ));
        }
        self.grace = grace;
        Ok(self)
    }

    /// `iss` of the access tokens.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// `aud` of the access tokens.
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// The access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// The grace window.
    pub fn grace(&self) -> Duration {
        self.grace
    }
}
