//! Reading a token WITHOUT checking its signature, for inspection tools only.
//!
//! Nothing here says a token is genuine. The types are named `Unverified*` so that code
//! handing their contents to authorization logic reads as wrong in review.

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::json;
use crate::jws::{Parts, decode_segment};

/// A token decoded without verification. Its contents may be forged.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UnverifiedToken {
    /// The header members, unverified.
    pub header: Map<String, Value>,
    /// The claims, unverified.
    pub claims: Map<String, Value>,
    /// The signature bytes as carried (not checked).
    pub signature: Vec<u8>,
    /// The token's length in bytes.
    pub len: usize,
}

/// Decodes `token` without checking its signature or claims.
///
/// Still strict about form: three segments, canonical base64url, a header and a payload
/// that are JSON objects without duplicate members, and at most `max_len` bytes.
///
/// # Errors
/// [`TooLarge`](ErrorKind::TooLarge) past `max_len`; [`Malformed`](ErrorKind::Malformed)
/// for anything that is not a well-formed compact JWS.
pub fn decode_unverified(token: &str, max_len: usize) -> Result<UnverifiedToken, Error> {
    if token.len() > max_len {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("token is {} bytes; the limit is {max_len}", token.len()),
        ));
    }
    let parts = Parts::split(token.as_bytes())?;
    let mut heap = Vec::new();
    let header = json::parse_object(decode_segment(parts.header, &mut [], &mut heap)?, "header")?;
    let claims = json::parse_object(decode_segment(parts.payload, &mut [], &mut heap)?, "claims")?;
    let signature = crate::base64url::decode(parts.signature)?;
    Ok(UnverifiedToken {
        header,
        claims,
        signature,
        len: token.len(),
    })
}

/// A token decoded without verification into the caller's claims type. Its contents may
/// be forged: the name says so.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UnverifiedClaims<T> {
    /// The header members, unverified.
    pub header: Map<String, Value>,
    /// The claims, unverified, as `T`.
    pub claims: T,
}

/// [`decode_unverified`] into a typed claims value `T` (any `Deserialize` type, registered
/// claims included as ordinary fields).
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Peek { sub: String }
///
/// let key = tok::HmacKey::generate()?;
/// let token = tok::sign(&key, &tok::Claims::default().with_subject("alice"))?;
/// let peek = tok::insecure::decode_unverified_as::<Peek>(&token, 8192)?;
/// assert_eq!(peek.claims.sub, "alice"); // NOT verified: for display and routing only
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// As [`decode_unverified`], plus [`Malformed`](ErrorKind::Malformed) when the claims do
/// not fit `T`.
pub fn decode_unverified_as<T: serde::de::DeserializeOwned>(
    token: &str,
    max_len: usize,
) -> Result<UnverifiedClaims<T>, Error> {
    let decoded = decode_unverified(token, max_len)?;
    let claims = T::deserialize(Value::Object(decoded.claims)).map_err(|e| {
        Error::malformed(format!(
            "claims: {}",
            crate::json::shorten_quotes(&e.to_string())
        ))
    })?;
    Ok(UnverifiedClaims {
        header: decoded.header,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_without_a_key_but_strictly() {
        let key = crate::HmacKey::from_bytes(&[3; 32]).unwrap();
        let token = crate::sign(&key, &crate::Claims::default().with_subject("s")).unwrap();
        let t = decode_unverified(&token, 8192).unwrap();
        assert_eq!(t.claims["sub"], "s");
        assert_eq!(t.header["alg"], "HS256");
        assert_eq!(t.signature.len(), 32);
        assert_eq!(
            decode_unverified(&token, 10).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
        assert_eq!(
            decode_unverified(&format!("{token}="), 8192)
                .unwrap_err()
                .kind(),
            ErrorKind::Malformed
        );
    }
}
