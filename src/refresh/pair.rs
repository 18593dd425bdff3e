//! The token pair a session hands out: the OAuth 2.0 token response.

use std::fmt;

use serde::Serialize;
use zeroize::Zeroizing;

/// An access token and a refresh token, serializable as the OAuth 2.0 token response
/// (RFC 6749 §5.1). `Debug` redacts both tokens.
#[derive(Clone, Serialize)]
pub struct TokenPair {
    /// The signed access token (a tok JWT).
    pub access_token: String,
    /// Always `"Bearer"`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token (`FAMILY.GENERATION.TAG`). Wiped from memory when dropped.
    pub refresh_token: Zeroizing<String>,
    /// Seconds until the refresh token's family can no longer be used (absolute or idle).
    pub refresh_expires_in: u64,
    /// The session's id: the access token's `sid`, a listed
    /// [`SessionInfo::id`](crate::refresh::SessionInfo::id), what
    /// [`revoke_session`](crate::refresh::Sessions::revoke_session) takes (stored as the
    /// refresh-token family's id).
    #[serde(skip)]
    pub session_id: String,
    /// Whether the session's login is remembered ("remember me"): only then should what
    /// holds these tokens outlive the browser's session (cookies with `Max-Age`).
    #[serde(skip)]
    pub remembered: bool,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("session_id", &self.session_id)
            .field("remembered", &self.remembered)
            .finish()
    }
}
