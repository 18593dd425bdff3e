//! The one path a request's bearer token takes, whoever serves the request: the axum
//! extractors ([`web`](crate::web)) and the tower layer ([`tower`](crate::tower)) both
//! read the credential here, hand it to a verifier, and turn what went wrong into a
//! [`Refusal`] that each answers in its protocol's words.

mod credential;
mod refusal;

use std::future::Future;
use std::time::Duration;

use http::HeaderMap;

use crate::error::{Error, ErrorKind};
use crate::jws::Verified;

// The web layer re-exports the parser (for its fuzz target) and writes its own challenges.
#[cfg(feature = "axum")]
pub use credential::bearer_token;
pub(crate) use refusal::Refusal;
#[cfg(feature = "axum")]
pub(crate) use refusal::{challenge, login_challenge};

/// How long a client is told to wait after a store outage (`Retry-After`), by the web
/// layer and the tower layer alike.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// `realm` as a challenge's quoted string can carry it: visible ASCII without `"` or `\`
/// (anything else is dropped).
pub(crate) fn realm(realm: &str) -> String {
    realm
        .chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .collect()
}

/// The bearer token of `headers`, verified by `verify`: no credentials, a malformed
/// request (two headers, a credential that is not one `b64token`), a token `verify`
/// refused, or an outage of the store behind `verify` (kind `Store`).
///
/// Whether the credential is one `b64token` is asked only once `verify` refused it: a
/// token that verifies is base64url and dots, so the success path scans it once, in the
/// verifier.
pub(crate) async fn check<'h, T, F, Fut>(
    headers: &'h HeaderMap,
    verify: F,
) -> Result<Verified<T>, Refusal>
where
    F: FnOnce(&'h str) -> Fut,
    Fut: Future<Output = Result<Verified<T>, Error>>,
{
    let token = match credential::bearer_credential(headers) {
        Ok(Some(token)) => token,
        Ok(None) => return Err(Refusal::NoCredentials),
        Err(reason) => return Err(Refusal::InvalidRequest(reason)),
    };
    match verify(token).await {
        Ok(verified) => Ok(verified),
        Err(error) if error.kind() == ErrorKind::Store => Err(Refusal::Unavailable(error)),
        // Not even one b64token: a malformed request, not a bad token.
        Err(_) if !credential::is_b64token(token) => {
            Err(Refusal::InvalidRequest(credential::NOT_ONE_TOKEN))
        }
        Err(error) => Err(Refusal::InvalidToken(error)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_realm_keeps_only_what_a_quoted_string_carries() {
        assert_eq!(super::realm("api.example"), "api.example");
        assert_eq!(super::realm("my realm"), "my realm");
        // A quote or backslash would end or escape the challenge's quoted string; a
        // control or non-ASCII character cannot travel in a header.
        assert_eq!(super::realm("a\"b\\c\r\nd\u{7f}é~"), "abcd~");
        assert_eq!(super::realm(""), "");
    }
}
