//! `Authorization: Bearer` (RFC 6750 §2.1) and the extractors built on it.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::jws::Verified;
use crate::store::{AnyStore, Store};
use crate::web::{WebError, WebSessions};

/// The bearer token of a request, if it has one.
///
/// RFC 6750 §2.1: the scheme is case-insensitive and followed by one space and one
/// `b64token`. No `Authorization` header, or another scheme, is no credentials (§3.1);
/// two headers, or a Bearer credential that is not exactly one `b64token`, is
/// `invalid_request`.
pub(crate) fn bearer_token<'h>(headers: &'h HeaderMap, realm: &str) -> Result<&'h str, WebError> {
    let invalid = |reason| WebError::InvalidRequest {
        realm: realm.to_owned(),
        reason,
    };
    let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(WebError::NoCredentials {
            realm: realm.to_owned(),
        });
    };
    if values.next().is_some() {
        return Err(invalid("more than one Authorization header"));
    }
    // One pass over the bytes: the scheme, one space, then the b64token grammar, which
    // admits only ASCII, so the token is valid UTF-8 without a second check.
    let bytes = value.as_bytes();
    let scheme_end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    if !bytes[..scheme_end].eq_ignore_ascii_case(b"bearer") {
        return Err(WebError::NoCredentials {
            realm: realm.to_owned(),
        });
    }
    let token = bytes.get(scheme_end + 1..).unwrap_or_default();
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    let b64token = body_len > 0
        && token[..body_len]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'));
    if !b64token {
        return Err(invalid("the Bearer credential is not one token"));
    }
    std::str::from_utf8(token).map_err(|_| invalid("the Bearer credential is not one token"))
}

macro_rules! extractor {
    ($(#[$doc:meta])* $name:ident, $verify:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<T, St = AnyStore> {
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
                let token = bearer_token(&parts.headers, web.realm())?;
                let verified = web.$verify::<T>(token).await?;
                Ok(Self { verified, _store: PhantomData })
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
        bearer_token(&h, "r").map(str::to_owned).map_err(|e| match e {
            WebError::NoCredentials { .. } => "none",
            WebError::InvalidRequest { .. } => "invalid_request",
            _ => "other",
        })
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
        assert_eq!(auth(&["Bearer  a"]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer a,b"]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer ===="]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer a=b"]), Err("invalid_request"));
        assert_eq!(auth(&["Bearer a", "Bearer a"]), Err("invalid_request"));
    }
}
