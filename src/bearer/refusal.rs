//! Why a bearer token was not accepted, and RFC 6750's words for it.

use http::{HeaderValue, StatusCode};

use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// A bearer token not accepted.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No bearer credentials (none, or another scheme: RFC 6750 §3.1).
    NoCredentials,
    /// A malformed request (two `Authorization` headers, a credential that is not one
    /// `b64token`), with the reason.
    InvalidRequest(&'static str),
    /// A token that did not verify, or whose session or `jti` was revoked.
    InvalidToken(Error),
    /// The store behind an online check is unreachable.
    Unavailable(Error),
}

// The web layer answers through `WebError`; these words are the tower layer's.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
impl Refusal {
    /// tok's code for it, as the JSON bodies and `grpc-message` carry it.
    pub(crate) fn code(&self) -> &str {
        match self {
            Self::NoCredentials => "no-credentials",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidToken(error) => error.code(),
            Self::Unavailable(_) => "unavailable",
        }
    }

    /// The HTTP status RFC 6750 §3.1 gives it (503 for an outage).
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::NoCredentials | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `WWW-Authenticate` challenge in `realm` (none for an outage: the client's
    /// credentials are not in question).
    pub(crate) fn challenge(&self, realm: &str) -> Option<HeaderValue> {
        match self {
            Self::NoCredentials => Some(challenge(realm, None)),
            Self::InvalidRequest(reason) => {
                Some(challenge(realm, Some(("invalid_request", reason))))
            }
            Self::InvalidToken(error)
                if error.kind() == ErrorKind::InsufficientUserAuthentication =>
            {
                Some(login_challenge(realm, None, &[]))
            }
            Self::InvalidToken(error) => {
                Some(challenge(realm, Some(("invalid_token", error.code()))))
            }
            Self::Unavailable(_) => None,
        }
    }
}

/// A Bearer challenge; `realm` and the description are tok's own (quoted-string safe: a
/// realm is filtered when configured, codes and reasons are tok's constants).
pub(crate) fn challenge(realm: &str, error: Option<(&str, &str)>) -> HeaderValue {
    let value = match error {
        None => format!("Bearer realm=\"{realm}\""),
        Some((error, description)) => format!(
            "Bearer realm=\"{realm}\", error=\"{error}\", error_description=\"{description}\""
        ),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// RFC 9470's challenge for a login too old or of a level not accepted: the client asks
/// its user to log in again (within `max_age` seconds, at one of `acr_values`) and
/// retries. Quoted as RFC 9470's examples quote them; characters a quoted string cannot
/// carry are dropped from the levels (they are the application's words).
pub(crate) fn login_challenge(
    realm: &str,
    max_age: Option<Duration>,
    acr_values: &[String],
) -> HeaderValue {
    let mut value = format!(
        "Bearer realm=\"{realm}\", error=\"insufficient_user_authentication\", \
         error_description=\"{}\"",
        if max_age.is_some() {
            "A more recent login is required"
        } else {
            "Another authentication level is required"
        }
    );
    if let Some(age) = max_age {
        value.push_str(&format!(", max_age=\"{}\"", age.as_secs()));
    }
    if !acr_values.is_empty() {
        let levels: Vec<String> = acr_values.iter().map(|a| crate::bearer::realm(a)).collect();
        value.push_str(&format!(", acr_values=\"{}\"", levels.join(" ")));
    }
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_challenges_say_what_is_required() {
        let age = login_challenge("tok", Some(Duration::from_secs(300)), &[]);
        assert_eq!(
            age.to_str().unwrap(),
            "Bearer realm=\"tok\", error=\"insufficient_user_authentication\", \
             error_description=\"A more recent login is required\", max_age=\"300\""
        );
        let levels = login_challenge("tok", None, &["loa2".into(), "x\"y\\z".into()]);
        assert_eq!(
            levels.to_str().unwrap(),
            "Bearer realm=\"tok\", error=\"insufficient_user_authentication\", \
             error_description=\"Another authentication level is required\", \
             acr_values=\"loa2 xyz\""
        );
        let refusal =
            Refusal::InvalidToken(Error::new(ErrorKind::InsufficientUserAuthentication, "old"));
        assert!(
            refusal
                .challenge("tok")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("error=\"insufficient_user_authentication\"")
        );
        let bad = Refusal::InvalidToken(Error::new(ErrorKind::BadSignature, "bad"));
        assert!(
            bad.challenge("tok")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("error=\"invalid_token\", error_description=\"bad-signature\"")
        );
    }
}
