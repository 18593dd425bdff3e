//! Compact JWS with HS256 (RFC 7515 §7.1): signing and verification.
//!
//! Verification order is deliberate: length cap, then structure (three segments, strict
//! base64url), then every header rule, then the key choice, then the MAC over the segments
//! exactly as received, and only then the payload JSON and the claim checks. Untrusted
//! JSON beyond the small header is never parsed before the signature is known good.

use std::mem::MaybeUninit;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::base64url;
use crate::claims::{self, Claims};
use crate::error::{Error, ErrorKind};
use crate::header::{self, DEFAULT_TYPE, Header, RawHeader};
use crate::key::HmacKey;
use crate::keyset::{Candidates, VerifyingKeys};
use crate::mac::Mac;
use crate::numeric_date::NumericDate;
use crate::validation::Validation;

/// The length of an HS256 signature segment: 32 bytes in unpadded base64url.
const SIGNATURE_B64_LEN: usize = 43;
/// Decoded headers and payloads up to these sizes stay on the stack.
const HEADER_STACK: usize = 256;
const PAYLOAD_STACK: usize = 512;

/// A token whose signature and claims were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified<T> {
    /// The token's header.
    pub header: Header,
    /// The token's claims.
    pub claims: Claims<T>,
}

/// Signs `claims` with `key` as a compact HS256 JWS with header
/// `{"alg":"HS256","typ":"JWT"}` plus the key's `kid`.
///
/// ```
/// use tok::{Claims, HmacKey, NumericDate, Validation};
/// use std::time::Duration;
///
/// let key = HmacKey::generate()?;
/// let now = NumericDate::now();
/// let claims = Claims::default().with_subject("user-42").expires_after(now, Duration::from_secs(900));
/// let token = tok::sign(&key, &claims)?;
/// assert_eq!(token.split('.').count(), 3);
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// [`InvalidKey`](ErrorKind::InvalidKey) when the key's `key_ops` forbid signing;
/// [`Malformed`](ErrorKind::Malformed) when the claims do not serialize to a JSON object
/// without duplicate members (e.g. a custom field named `sub`).
pub fn sign<T: Serialize>(key: &HmacKey, claims: &Claims<T>) -> Result<String, Error> {
    sign_with(key, key.header_b64(), key.header_mac().clone(), claims)
}

/// Like [`sign`] with another `typ` in the header, e.g. `at+jwt` (RFC 9068).
///
/// # Errors
/// As [`sign`].
pub fn sign_with_type<T: Serialize>(
    key: &HmacKey,
    typ: &str,
    claims: &Claims<T>,
) -> Result<String, Error> {
    if typ == DEFAULT_TYPE {
        return sign(key, claims);
    }
    let header_b64 = base64url::encode(header::header_json(typ, key.kid()).as_bytes());
    let mut mac = key.mac_key().start();
    mac.update(header_b64.as_bytes());
    mac.update(b".");
    sign_with(key, &header_b64, mac, claims)
}

fn sign_with<T: Serialize>(
    key: &HmacKey,
    header_b64: &str,
    mut mac: Mac,
    claims: &Claims<T>,
) -> Result<String, Error> {
    if !key.may_sign() {
        return Err(Error::new(
            ErrorKind::InvalidKey,
            "key_ops of this key forbid signing",
        ));
    }
    // The Serialize impl of `Claims` refuses custom names that reuse a registered name or
    // repeat: tok never mints a token it would refuse.
    let mut payload = Vec::with_capacity(256);
    serde_json::to_writer(&mut payload, claims)
        .map_err(|e| Error::malformed(format!("claims do not serialize: {e}")).with_source(e))?;

    let payload_len = payload.len().div_ceil(3) * 4;
    let mut token = String::with_capacity(header_b64.len() + payload_len + SIGNATURE_B64_LEN + 2);
    token.push_str(header_b64);
    token.push('.');
    let payload_start = token.len();
    base64url::encode_into(&payload, &mut token);
    mac.update(&token.as_bytes()[payload_start..]);
    let tag = mac.finish();
    token.push('.');
    base64url::encode_into(&tag, &mut token);
    Ok(token)
}

/// Verifies `token` with `keys` against `validation`, at the current system time.
///
/// ```
/// use tok::{Claims, HmacKey, NumericDate, Validation};
/// use std::time::Duration;
///
/// #[derive(Debug, serde::Serialize, serde::Deserialize)]
/// struct Role { role: String }
///
/// let key = HmacKey::generate()?;
/// let now = NumericDate::now();
/// let token = tok::sign(&key, &Claims::new(Role { role: "admin".into() })
///     .with_audience("api")
///     .expires_after(now, Duration::from_secs(900)))?;
///
/// let verified = tok::verify::<Role>(&key, &token, &Validation::new().with_audience("api"))?;
/// assert_eq!(verified.claims.custom.role, "admin");
///
/// let err = tok::verify::<Role>(&key, &token, &Validation::new().with_audience("web")).unwrap_err();
/// assert_eq!(err.kind(), tok::ErrorKind::WrongAudience);
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// The [`ErrorKind`] saying why the token is rejected.
pub fn verify<T: DeserializeOwned>(
    keys: &impl VerifyingKeys,
    token: &str,
    validation: &Validation,
) -> Result<Verified<T>, Error> {
    verify_at(keys, token, validation, NumericDate::now())
}

/// Verifies `token` as of `now` instead of the system clock (tests, replays, `--at`).
///
/// # Errors
/// As [`verify`].
pub fn verify_at<T: DeserializeOwned>(
    keys: &impl VerifyingKeys,
    token: &str,
    validation: &Validation,
    now: NumericDate,
) -> Result<Verified<T>, Error> {
    let token = token.as_bytes();
    if token.len() > validation.max_token_len() {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "token is {} bytes; the limit is {}",
                token.len(),
                validation.max_token_len()
            ),
        ));
    }
    let parts = Parts::split(token)?;

    let mut header_buf = [MaybeUninit::uninit(); HEADER_STACK];
    let mut header_heap = Vec::new();
    let raw = match keys.known_header(parts.header) {
        // Byte-identical to a spelling whose parse is known (tok's own header, or the
        // same members as another issuer orders them).
        Some(raw) => raw,
        None => RawHeader::parse(decode_segment(
            parts.header,
            &mut header_buf,
            &mut header_heap,
        )?)?,
    };
    raw.check(&validation.typ, validation.require_type)?;

    let candidates = keys.candidates(raw.kid.as_deref(), validation.try_all_keys)?;

    let signature = decode_signature(parts.signature)?;
    let mut payload_buf = [MaybeUninit::uninit(); PAYLOAD_STACK];
    let mut payload_heap = Vec::new();
    let payload_json = decode_segment(parts.payload, &mut payload_buf, &mut payload_heap)?;

    let signed = &token[..parts.signing_input_len()];
    let good = match candidates {
        Candidates::One(key) => mac_matches(key, signed, &signature)?,
        Candidates::All(keys) => {
            // Every key that may verify is tried, so the time taken does not say which one
            // matched. A key whose `key_ops` forbid verifying is skipped, not an error: it
            // must not stop another key from verifying a good token.
            let mut usable = keys.iter().filter(|k| k.may_verify()).peekable();
            if usable.peek().is_none() {
                return Err(forbidden());
            }
            let mut any = false;
            for key in usable {
                any |= mac_matches(key, signed, &signature)?;
            }
            any
        }
    };
    if !good {
        return Err(Error::new(ErrorKind::BadSignature, "bad signature"));
    }

    let mut registered = Claims::new(());
    let mut names = crate::json::MemberNames::new();
    let custom = claims::parse::<T>(payload_json, &mut registered, &mut names)?;
    validation.check(&registered, &names, now)?;
    if validation.checks_login() {
        validation.check_login(payload_json, now)?;
    }
    Ok(Verified {
        header: raw.into_header(),
        claims: registered.with_custom(custom),
    })
}

/// Constant-time MAC check of `signed` against `signature`.
fn mac_matches(key: &HmacKey, signed: &[u8], signature: &[u8; 32]) -> Result<bool, Error> {
    if !key.may_verify() {
        return Err(forbidden());
    }
    Ok(key.verify_mac(signed, signature).is_ok())
}

fn forbidden() -> Error {
    Error::new(
        ErrorKind::InvalidKey,
        "key_ops of this key forbid verifying",
    )
}

/// The three segments of a compact JWS.
pub(crate) struct Parts<'a> {
    pub(crate) header: &'a [u8],
    pub(crate) payload: &'a [u8],
    pub(crate) signature: &'a [u8],
}

impl<'a> Parts<'a> {
    /// Splits on the two dots; any other count is malformed (a JWE has five segments).
    pub(crate) fn split(token: &'a [u8]) -> Result<Self, Error> {
        let dots = |t: &[u8]| memchr::memchr(b'.', t);
        if let Some(first) = dots(token) {
            let rest = &token[first + 1..];
            if let Some(second) = dots(rest)
                && dots(&rest[second + 1..]).is_none()
            {
                return Ok(Self {
                    header: &token[..first],
                    payload: &rest[..second],
                    signature: &rest[second + 1..],
                });
            }
        }
        let count = memchr::memchr_iter(b'.', token).count();
        Err(Error::malformed(format!(
            "a compact JWS has 3 segments, this has {}",
            count + 1
        )))
    }

    /// The length of `header.payload`, the bytes the MAC covers.
    fn signing_input_len(&self) -> usize {
        self.header.len() + 1 + self.payload.len()
    }
}

/// Decodes a segment into `stack` when it fits, else into `heap`'s spare capacity.
pub(crate) fn decode_segment<'b>(
    segment: &[u8],
    stack: &'b mut [MaybeUninit<u8>],
    heap: &'b mut Vec<u8>,
) -> Result<&'b [u8], Error> {
    let len = base64url::decoded_len(segment.len())
        .ok_or_else(|| Error::malformed("invalid base64url"))?;
    if len <= stack.len() {
        base64url::decode_to_uninit(segment, &mut stack[..len])
    } else {
        heap.clear();
        heap.reserve_exact(len);
        base64url::decode_to_uninit(segment, &mut heap.spare_capacity_mut()[..len])
    }
}

fn decode_signature(segment: &[u8]) -> Result<[u8; 32], Error> {
    let mut signature = [0u8; 32];
    if segment.len() == SIGNATURE_B64_LEN {
        base64url::decode_to_slice(segment, &mut signature)?;
        return Ok(signature);
    }
    // Still strict about the encoding, so `malformed` means malformed.
    base64url::decode(segment)?;
    Err(Error::new(
        ErrorKind::BadSignature,
        "bad signature: an HS256 signature is 32 bytes",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key() -> HmacKey {
        HmacKey::from_bytes(&[9; 32]).unwrap().with_kid("k")
    }

    #[test]
    fn round_trip_with_known_and_parsed_headers() {
        let now = NumericDate::from_secs(1_000).unwrap();
        let claims = Claims::default()
            .with_subject("s")
            .expires_after(now, Duration::from_secs(60));
        let v = Validation::new();
        let token = sign(&key(), &claims).unwrap();
        let got = verify_at::<()>(&key(), &token, &v, now).unwrap();
        assert_eq!(got.claims, claims);
        assert_eq!(got.header.kid(), Some("k"));
        assert_eq!(got.header.typ(), Some("JWT"));

        let at = sign_with_type(&key(), "at+jwt", &claims).unwrap();
        assert_eq!(
            verify_at::<()>(&key(), &at, &v, now).unwrap_err().kind(),
            ErrorKind::WrongType
        );
        let got =
            verify_at::<()>(&key(), &at, &Validation::new().with_type("at+jwt"), now).unwrap();
        assert_eq!(got.header.typ(), Some("at+jwt"));
    }

    #[test]
    fn signing_refuses_duplicate_members() {
        let claims = Claims::new(serde_json::json!({"sub": "again"})).with_subject("s");
        assert_eq!(
            sign(&key(), &claims).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        let claims = Claims::new(serde_json::json!({"ok": 1}));
        assert!(sign(&key(), &claims).is_ok());
    }

    #[test]
    fn split_counts_segments() {
        assert!(Parts::split(b"a.b.c").is_ok());
        for bad in [&b"a.b"[..], b"a.b.c.d", b"a.b.c.d.e", b"", b"abc"] {
            assert_eq!(
                Parts::split(bad).err().unwrap().kind(),
                ErrorKind::Malformed
            );
        }
    }
}
