//! `Authorization: Bearer` (RFC 6750 §2.1): the credential of a request.

use http::HeaderMap;

/// Why a request's Bearer credential is malformed, for `invalid_request`.
pub(crate) const NOT_ONE_TOKEN: &str = "the Bearer credential is not one token";

/// The Bearer credential of a request: what follows `Bearer` and one or more spaces (RFC
/// 6750 §2.1; the scheme is case-insensitive). `Ok(None)`: no `Authorization` header, or
/// another scheme, is no credentials (§3.1); `Err` with the reason for
/// `invalid_request`: two headers, or a credential that is not UTF-8. Whether the
/// credential is one `b64token` is decided only if it fails to verify (see
/// [`is_b64token`]): a token that verifies is base64url and dots, always a `b64token`, so
/// the success path scans it once, in the verifier.
pub(crate) fn bearer_credential(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let first = values.next().map(|v| v.as_bytes());
    credential(first, values.next().is_some())
}

/// The parse behind [`bearer_credential`], on the bytes of the first `Authorization`
/// value and whether there is another.
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
/// `Ok(None)` for no credentials (no header, or another scheme), `Err` with the reason
/// given with `invalid_request`. Public, hidden, for the fuzz target that holds the
/// parser to RFC 6750.
#[doc(hidden)]
#[cfg(feature = "axum")]
pub fn bearer_token<'a>(values: &[&'a [u8]]) -> Result<Option<&'a str>, &'static str> {
    match credential(values.first().copied(), values.len() > 1)? {
        Some(token) if !is_b64token(token) => Err(NOT_ONE_TOKEN),
        found => Ok(found),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(values: &[&str]) -> Result<String, &'static str> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::AUTHORIZATION, v.parse().unwrap());
        }
        match bearer_credential(&h) {
            Ok(Some(t)) if is_b64token(t) => Ok(t.to_owned()),
            Ok(Some(_)) | Err(_) => Err("invalid_request"),
            Ok(None) => Err("none"),
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

    /// The fuzz target's entry point applies the same rules to raw values: one value, the
    /// Bearer scheme, one `b64token`.
    #[cfg(feature = "axum")]
    #[test]
    fn bearer_token_holds_the_fuzz_target_to_rfc6750() {
        assert_eq!(bearer_token(&[b"Bearer a.b.c"]), Ok(Some("a.b.c")));
        assert_eq!(bearer_token(&[]), Ok(None));
        assert_eq!(bearer_token(&[b"Basic dXNlcjpwdw=="]), Ok(None));
        assert_eq!(bearer_token(&[b"Bearer a b"]), Err(NOT_ONE_TOKEN));
        assert_eq!(
            bearer_token(&[b"Bearer a", b"Bearer a"]),
            Err("more than one Authorization header")
        );
    }
}
