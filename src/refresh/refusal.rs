//! How a refused refresh token becomes an [`Error`], and the warnings an operator alerts
//! on (reuse, fingerprint mismatch).

use crate::error::{Error, ErrorKind};
use crate::model::family::Refusal;

/// The error for `refusal` of a token of `family`; reuse and fingerprint mismatch (the
/// signs of a stolen token) are logged as warnings with the family id, never a token.
pub(super) fn refusal_error(refusal: Refusal, family: &str) -> Error {
    match refusal {
        Refusal::Reused => {
            tracing::warn!(target: "tok::refresh", event = "reuse_detected", family, "a retired refresh token was presented; family revoked");
            Error::new(
                ErrorKind::RefreshReused,
                "refresh token was already used; its session is now revoked",
            )
        }
        Refusal::FingerprintMismatch => {
            tracing::warn!(target: "tok::refresh", event = "fingerprint_mismatch", family, "family revoked");
            Error::new(
                ErrorKind::FingerprintMismatch,
                "client fingerprint does not match; the session is now revoked",
            )
        }
        Refusal::Revoked => Error::new(ErrorKind::Revoked, "the session was revoked"),
        Refusal::Expired => Error::new(ErrorKind::RefreshExpired, "the session has expired"),
        Refusal::Unknown => Error::new(ErrorKind::RefreshUnknown, "refresh token is not known"),
    }
}
