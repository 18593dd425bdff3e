//! The one error type of tok, with a kind callers match on and a stable code tools print.

use std::borrow::Cow;
use std::fmt;

use crate::numeric_date::NumericDate;

/// What went wrong, as a value a caller can `match` on.
///
/// Each kind has a stable kebab-case [`code`](ErrorKind::code) that the `tok` command prints
/// and that scripts may rely on. New kinds may be added, so matches need a `_` arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The token, a key or a JSON document is not well formed (bad base64, bad JSON,
    /// wrong number of segments, a claim of the wrong type, a duplicate member name).
    Malformed,
    /// The input is longer than the configured cap; it was not decoded.
    TooLarge,
    /// The header names an algorithm other than the one the key allows (HS256).
    AlgNotAllowed,
    /// The header carries a `crit` extension tok does not understand.
    UnsupportedHeader,
    /// The header's `typ` is not the one the validation expects.
    WrongType,
    /// No key matches the token's `kid`, or the key set cannot choose a key.
    UnknownKey,
    /// The signature does not match.
    BadSignature,
    /// The token's `exp` has passed.
    Expired,
    /// The token's `nbf` (or `iat`) lies in the future.
    NotYetValid,
    /// The token was issued longer ago than the validation's maximum age.
    TooOld,
    /// The user's login is older than the validation's maximum login age, or of an
    /// authentication level (`acr`) it does not accept: ask the user to prove who they
    /// are again (RFC 9470's `insufficient_user_authentication`).
    InsufficientUserAuthentication,
    /// The token's audience is not one the validation accepts.
    WrongAudience,
    /// The token's issuer is not one the validation accepts.
    WrongIssuer,
    /// The token's subject is not the one the validation expects.
    WrongSubject,
    /// A claim the validation requires is absent.
    MissingClaim,
    /// A key is shorter than 256 bits (RFC 7518 §3.2).
    WeakKey,
    /// A key is unusable for HS256 for a reason other than its length (wrong `kty`, `alg`,
    /// `use` or `key_ops`, or a key set without keys).
    InvalidKey,
    /// The token, its session family or its `jti` has been revoked.
    Revoked,
    /// A refresh token that was already rotated was presented again; its family is now
    /// revoked.
    RefreshReused,
    /// A refresh token (or its family) has passed its absolute or idle lifetime.
    RefreshExpired,
    /// The refresh token is not known to the store.
    RefreshUnknown,
    /// The client fingerprint presented with a refresh token does not match the one it was
    /// issued with; its family is now revoked.
    FingerprintMismatch,
    /// The backing store failed (I/O, connection, corruption). Nothing was changed that the
    /// store did not confirm.
    Store,
    /// The operating system's random number generator failed.
    Random,
    /// A setting is unusable (an unknown store URL scheme, a store path that cannot hold
    /// shared state, a grace window over the maximum): a mistake in configuration, not
    /// in a token or a backend.
    Config,
}

impl ErrorKind {
    /// The stable kebab-case code of this kind, e.g. `"bad-signature"`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLarge => "too-large",
            Self::AlgNotAllowed => "alg-not-allowed",
            Self::UnsupportedHeader => "unsupported-header",
            Self::WrongType => "wrong-type",
            Self::UnknownKey => "unknown-key",
            Self::BadSignature => "bad-signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::TooOld => "too-old",
            Self::InsufficientUserAuthentication => "insufficient-user-authentication",
            Self::WrongAudience => "wrong-audience",
            Self::WrongIssuer => "wrong-issuer",
            Self::WrongSubject => "wrong-subject",
            Self::MissingClaim => "missing-claim",
            Self::WeakKey => "weak-key",
            Self::InvalidKey => "invalid-key",
            Self::Revoked => "revoked",
            Self::RefreshReused => "refresh-reused",
            Self::RefreshExpired => "refresh-expired",
            Self::RefreshUnknown => "refresh-unknown",
            Self::FingerprintMismatch => "fingerprint-mismatch",
            Self::Store => "store",
            Self::Random => "random",
            Self::Config => "config",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every fallible tok operation.
///
/// Match on [`kind`](Error::kind); print it with `Display` (`"expired: ..."`). Time errors
/// carry the instant that decided them ([`instant`](Error::instant)) so callers can say
/// "expired 5 minutes ago". The detail never contains key material or which byte of a
/// signature differed.
pub struct Error {
    kind: ErrorKind,
    detail: Cow<'static, str>,
    instant: Option<NumericDate>,
    source: Option<Source>,
}

impl Error {
    /// A new error of `kind` with a human-readable detail.
    pub fn new(kind: ErrorKind, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            instant: None,
            source: None,
        }
    }

    /// A store failure, for the backends of [`Store`](crate::store::Store), custom ones
    /// included: `what` the store was doing, and the backend's own error kept as the
    /// [`source`](std::error::Error::source).
    ///
    /// ```
    /// let io = std::io::Error::other("disk full");
    /// let e = tok::Error::store("writing a family", io);
    /// assert_eq!(e.kind(), tok::ErrorKind::Store);
    /// assert_eq!(e.detail(), "writing a family: disk full");
    /// ```
    pub fn store(what: &str, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        // One line: a tool prints the detail as its one error line, and some causes span
        // several.
        let detail = format!("{what}: {cause}").replace('\n', "; ");
        Self::new(ErrorKind::Store, detail).with_source(cause)
    }

    /// A malformed-input error.
    pub(crate) fn malformed(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Malformed, detail)
    }

    /// Attaches the instant the error refers to (an `exp`, `nbf` or `iat`).
    pub(crate) fn at(mut self, instant: NumericDate) -> Self {
        self.instant = Some(instant);
        self
    }

    /// Attaches the underlying cause, kept for [`std::error::Error::source`].
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code of the kind, e.g. `"expired"`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The human-readable detail, without the code.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// For time errors, the claim value that decided them: `exp` for
    /// [`Expired`](ErrorKind::Expired), `nbf` or `iat` for
    /// [`NotYetValid`](ErrorKind::NotYetValid), `iat` for [`TooOld`](ErrorKind::TooOld),
    /// `auth_time` for a login too old
    /// ([`InsufficientUserAuthentication`](ErrorKind::InsufficientUserAuthentication)).
    pub fn instant(&self) -> Option<NumericDate> {
        self.instant
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.detail)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("detail", &self.detail);
        if let Some(instant) = self.instant {
            d.field("instant", &instant);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind, kind.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kebab_case_and_unique() {
        let kinds = [
            ErrorKind::Malformed,
            ErrorKind::TooLarge,
            ErrorKind::AlgNotAllowed,
            ErrorKind::UnsupportedHeader,
            ErrorKind::WrongType,
            ErrorKind::UnknownKey,
            ErrorKind::BadSignature,
            ErrorKind::Expired,
            ErrorKind::NotYetValid,
            ErrorKind::TooOld,
            ErrorKind::InsufficientUserAuthentication,
            ErrorKind::WrongAudience,
            ErrorKind::WrongIssuer,
            ErrorKind::WrongSubject,
            ErrorKind::MissingClaim,
            ErrorKind::WeakKey,
            ErrorKind::InvalidKey,
            ErrorKind::Revoked,
            ErrorKind::RefreshReused,
            ErrorKind::RefreshExpired,
            ErrorKind::RefreshUnknown,
            ErrorKind::FingerprintMismatch,
            ErrorKind::Store,
            ErrorKind::Random,
            ErrorKind::Config,
        ];
        let mut seen = std::collections::HashSet::new();
        for kind in kinds {
            let code = kind.code();
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
    }

    #[test]
    fn display_is_code_then_detail() {
        let e = Error::new(ErrorKind::Expired, "expired 5s ago");
        assert_eq!(e.to_string(), "expired: expired 5s ago");
        assert_eq!(e.code(), "expired");
    }
}
