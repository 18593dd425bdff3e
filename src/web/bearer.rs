//! `Authorization: Bearer` (RFC 6750 §2.1) and the extractors built on it.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::jws::Verified;
use crate::layer::Cached;
use crate::store::{AnyStore, Store};
use crate::web::{WebError, WebSessions};

/// The Bearer credential of a request: what follows `Bearer` and one or more spaces (RFC
/// 6750 §2.1; the scheme is case-insensitive). No `Authorization` header, or another
/// scheme, is no credentials (§3.1); two headers are `invalid_request`. Whether the
/// credential is one `b64token` is decided only if it fails to verify (see
/// [`is_b64token`]): a token that verifies is base64url and dots, always a `b64token`, so
/// the success path scans it once, in the verifier.
pub(crate) fn bearer_credential<'h>(
    headers: &'h HeaderMap,
    realm: &str,
) -> Result<&'h str, WebError> {
    let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
    let first = values.next().map(|v| v.as_bytes());
    match credential(first, values.next().is_some()) {
        Ok(Some(credential)) => Ok(credential),
        Ok(None) => Err(WebError::NoCredentials {
            realm: realm.to_owned(),
        }),
        Err(reason) => Err(invalid_request(realm, reason)),
    }
}

/// The parse behind [`bearer_credential`], on the bytes of the first `Authorization`
/// value and whether there is another: `Ok(None)` for no credentials, `Err` with the
/// reason for `invalid_request`.
fn credential(first: Option<&[u8]>, more: bool) -> Result<Option<&str>, &'static str> {
    let Some(bytes) = first else {
        return Ok(None);
    };
    if more {
        return Err("more than one Authorization header");
    }
    let scheme_end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    if !bytes[..scheme_end].eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    // RFC 6750 §2.1: `"Bearer" 1*SP b64token`: any run of spaces separates the two.
    let rest = &bytes[scheme_end..];
    let credential = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
    std::str::from_utf8(credential)
        .map(Some)
        .map_err(|_| NOT_ONE_TOKEN)
}

/// The well-formed Bearer token among a request's `Authorization` values (as bytes):
/// `Ok(None)` for no credentials (no header, or another scheme), `Err` with the reason the
/// extractors give with `invalid_request`. Public, hidden, for the fuzz target that holds
/// the parser to RFC 6750.
#[doc(hidden)]
pub fn bearer_token<'a>(values: &[&'a [u8]]) -> Result<Option<&'a str>, &'static str> {
    match credential(values.first().copied(), values.len() > 1)? {
        Some(token) if !is_b64token(token) => Err(NOT_ONE_TOKEN),
        found => Ok(found),
    }
}

const NOT_ONE_TOKEN: &str = "the Bearer credential is not one token";

fn invalid_request(realm: &str, reason: &'static str) -> WebError {
    WebError::InvalidRequest {
        realm: realm.to_owned(),
        reason,
    }
}

/// RFC 6750's `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn is_b64token(credential: &str) -> bool {
    let body = credential.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

macro_rules! extractor {
    ($(#[$doc:meta])* $name:ident, $verify:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<T, St = Cached<AnyStore>> {
            /// The verified token.
            pub verified: Verified<T>,
            _store: PhantomData<fn() -> St>,
        }

        impl<T, St> Deref for $name<T, St> {
            type Target = Verified<T>;
            fn deref(&self) -> &Verified<T> {
                &self.verified
            }
        }

        impl<S, T, St> FromRequestParts<S> for $name<T, St>
        where
            Arc<WebSessions<St>>: FromRef<S>,
            S: Send + Sync,
            T: DeserializeOwned,
            St: Store + 'static,
        {
            type Rejection = WebError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
                let web = Arc::<WebSessions<St>>::from_ref(state);
                let token = bearer_credential(&parts.headers, web.realm())?;
                match web.$verify::<T>(token).await {
                    Ok(verified) => Ok(Self { verified, _store: PhantomData }),
                    // Not even one b64token: a malformed request, not a bad token.
                    Err(WebError::InvalidToken { .. }) if !is_b64token(token) => {
                        Err(invalid_request(web.realm(), NOT_ONE_TOKEN))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    };
}

extractor!(
    /// Verified claims from `Authorization: Bearer`, checked offline: signature and
    /// claims under the [`WebSessions`]' key set and validation, no store round trip.
    /// Rejections follow RFC 6750 §3 (see [`WebError`]). The token is never echoed.
    Bearer,
    verify_offline
);

extractor!(
    /// Verified claims from `Authorization: Bearer`, checked online as well: the `jti`
    /// denylist and the session (`sid`) in the store, so a logout or a "logout
    /// everywhere" on any server ends the token at once. A store outage is a 503.
    OnlineBearer,
    verify_online
);

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(values: &[&str]) -> Result<String, &'static str> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(axum::http::header::AUTHORIZATION, v.parse().unwrap());
        }
        match bearer_credential(&h, "r") {
            Ok(t) if is_b64token(t) => Ok(t.to_owned()),
            Ok(_) | Err(WebError::InvalidRequest { .. }) => Err("invalid_request"),
            Err(WebError::NoCredentials { .. }) => Err("none"),
            Err(_) => Err("other"),
        }
    }

    #[test]
    fn rfc6750_parsing() {
        assert_eq!(auth(&["Bearer abc.def-_~+/="]).unwrap(), "abc.def-_~+/=");
        assert_eq!(auth(&["bearer a.b.c"]).unwrap(), "a.b.c");
        assert_eq!(auth(&["BEARER a"]).unwrap(), "a");
        assert_eq!(auth(&[]), Err("none"));
        assert_eq!(auth(&["Basic dXNlcjpwdw=="]), Err("none"));
        assert_eq!(auth(&["Bearer"]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer "]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer a b"]), Err("invalid_request"));
        // 1*SP: more than one space still separates scheme and token.
        assert_eq!(auth(&["Bearer  a"]).unwrap(), "a");
        assert_eq!(auth(&["Bearer    a.b.c"]).unwrap(), "a.b.c");
        assert_eq!(auth(&["Bearer  "]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer a "]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer \ta"]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer a,b"]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer ===="]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer a=b"]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer a", "Bearer a"]), Err("invalid_request"));
    }
}
