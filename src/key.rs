//! HMAC-SHA256 keys: construction with checks, JWK import and export, thumbprints.

use std::fmt;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::base64url;
use crate::error::{Error, ErrorKind};
use crate::header::{self, ALGORITHM, DEFAULT_TYPE, RawHeader};
use crate::json;
use crate::mac::{Mac, MacKey};

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
pub const MIN_KEY_BYTES: usize = 32;

/// The size of a key made by [`HmacKey::generate`].
pub const GENERATED_KEY_BYTES: usize = 32;

/// A secret HS256 key.
///
/// Checked at construction (at least 256 bits), zeroized on drop (the raw bytes and the
/// precomputed HMAC state), printed by `Debug` as `[redacted]`, and neither `Serialize`
/// nor `Display`: the only way out is the explicit [`export_jwk`](HmacKey::export_jwk).
///
/// The HMAC key schedule is computed once here, so signing and verifying each save two
/// SHA-256 compressions.
///
/// ```
/// let key = tok::HmacKey::from_jwk(r#"{"kty":"oct","kid":"k1",
///     "k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#)?;
/// assert_eq!(key.kid(), Some("k1"));
/// assert!(format!("{key:?}").contains("[redacted]"));
/// # Ok::<(), tok::Error>(())
/// ```
#[derive(Clone)]
pub struct HmacKey {
    secret: Zeroizing<Vec<u8>>,
    kid: Option<String>,
    may_sign: bool,
    may_verify: bool,
    /// The HMAC key schedule.
    mac: MacKey,
    /// The base64url header tok writes for this key (`typ` JWT, this key's `kid`).
    header_b64: String,
    /// A computation with `header_b64` and the dot absorbed: signing starts from here.
    header_mac: Mac,
    /// Other issuers' spellings of this key's header, whose parse is known.
    spellings: Vec<header::KnownSpelling>,
}

impl HmacKey {
    /// A key from raw secret bytes, without a `kid`.
    ///
    /// # Errors
    /// [`WeakKey`](ErrorKind::WeakKey) when shorter than [`MIN_KEY_BYTES`].
    pub fn from_bytes(secret: &[u8]) -> Result<Self, Error> {
        Self::build(Zeroizing::new(secret.to_vec()), None, true, true)
    }

    /// A fresh random key of [`GENERATED_KEY_BYTES`] from the OS CSPRNG, whose `kid` is its
    /// RFC 7638 thumbprint.
    ///
    /// # Errors
    /// [`Random`](ErrorKind::Random) when the OS generator fails.
    pub fn generate() -> Result<Self, Error> {
        let mut secret = Zeroizing::new(vec![0u8; GENERATED_KEY_BYTES]);
        crate::random::fill(&mut secret)?;
        let key = Self::build(secret, None, true, true)?;
        let kid = key.thumbprint();
        Ok(key.with_kid(kid))
    }

    /// A key from a JWK (RFC 7517) JSON object: `kty` must be `oct`, `k` the base64url
    /// secret; `kid` is kept; `alg`, when present, must be `HS256`; `use`, when present,
    /// must be `sig`; `key_ops`, when present, limits the key to the listed operations
    /// (`sign`, `verify`).
    ///
    /// # Errors
    /// [`Malformed`](ErrorKind::Malformed) for bad JSON or base64,
    /// [`InvalidKey`](ErrorKind::InvalidKey) for a key that is not an HS256 signing key,
    /// [`WeakKey`](ErrorKind::WeakKey) when the secret is too short.
    pub fn from_jwk(json: &str) -> Result<Self, Error> {
        let jwk: Jwk = Jwk::parse(json, "JWK")?;
        Self::from_parsed_jwk(jwk)
    }

    pub(crate) fn from_parsed_jwk(jwk: Jwk) -> Result<Self, Error> {
        if jwk.kty.as_deref() != Some("oct") {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                "JWK kty must be \"oct\" for an HMAC key",
            ));
        }
        if let Some(alg) = jwk.alg.as_deref().filter(|a| *a != ALGORITHM) {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                format!("JWK alg {:?} is not HS256", header::truncate(alg)),
            ));
        }
        if let Some(usage) = jwk.usage.as_deref().filter(|u| *u != "sig") {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                format!("JWK use {:?} is not \"sig\"", header::truncate(usage)),
            ));
        }
        let (may_sign, may_verify) = match &jwk.key_ops {
            None => (true, true),
            Some(ops) => {
                // RFC 7517 §4.3: duplicate key operation values MUST NOT be present.
                if let Some(twice) = ops
                    .iter()
                    .enumerate()
                    .find_map(|(i, o)| ops[..i].contains(o).then_some(o))
                {
                    return Err(Error::new(
                        ErrorKind::InvalidKey,
                        format!("JWK key_ops lists {:?} twice", header::truncate(twice)),
                    ));
                }
                (
                    ops.iter().any(|o| o == "sign"),
                    ops.iter().any(|o| o == "verify"),
                )
            }
        };
        if !may_sign && !may_verify {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                "JWK key_ops allows neither sign nor verify",
            ));
        }
        let Some(k) = jwk.k else {
            return Err(Error::malformed("JWK has no \"k\" member"));
        };
        let secret = Zeroizing::new(base64url::decode(k.as_bytes())?);
        Self::build(secret, jwk.kid, may_sign, may_verify)
    }

    fn build(
        secret: Zeroizing<Vec<u8>>,
        kid: Option<String>,
        may_sign: bool,
        may_verify: bool,
    ) -> Result<Self, Error> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(Error::new(
                ErrorKind::WeakKey,
                format!(
                    "key is {} bytes; HS256 needs at least {MIN_KEY_BYTES} bytes (256 bits, RFC 7518 section 3.2)",
                    secret.len()
                ),
            ));
        }
        let mac = MacKey::new(&secret);
        let mut key = Self {
            secret,
            kid: None,
            may_sign,
            may_verify,
            header_mac: mac.start(),
            mac,
            header_b64: String::new(),
            spellings: Vec::new(),
        };
        key.set_kid(kid);
        Ok(key)
    }

    fn set_kid(&mut self, kid: Option<String>) {
        let header = header::header_json(DEFAULT_TYPE, kid.as_deref());
        self.header_b64 = base64url::encode(header.as_bytes());
        let mut header_mac = self.mac.start();
        header_mac.update(self.header_b64.as_bytes());
        header_mac.update(b".");
        self.header_mac = header_mac;
        self.spellings = header::known_spellings(kid.as_deref());
        self.kid = kid;
    }

    /// This key with `kid` as its identifier.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.set_kid(Some(kid.into()));
        self
    }

    /// The key identifier, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The RFC 7638 JWK thumbprint: base64url SHA-256 of `{"k":..,"kty":"oct"}`.
    pub fn thumbprint(&self) -> String {
        let k = Zeroizing::new(base64url::encode(&self.secret));
        let mut hasher = Sha256::new();
        // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
        hasher.update(b"{\"k\":\"");
        hasher.update(k.as_bytes());
        hasher.update(b"\",\"kty\":\"oct\"}");
        base64url::encode(&hasher.finalize())
    }

    /// Exports the key, secret included, as a JWK with `kty`, `alg`, `kid` and `k`.
    ///
    /// This is the one way key material leaves a key; call it only to store a new key.
    /// The string is wiped when dropped, and has room for one more byte (a newline) so
    /// that appending it does not leave an unwiped copy behind a reallocation.
    pub fn export_jwk(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.jwk_len() + 1));
        self.write_jwk(&mut out);
        out
    }

    /// The exact length of [`write_jwk`](Self::write_jwk)'s output, so that callers can
    /// reserve it once: a `String` that grows copies the secret into memory it frees
    /// without wiping.
    pub(crate) fn jwk_len(&self) -> usize {
        JWK_HEAD.len()
            + self.kid_json().map_or(0, |k| JWK_KID.len() + k.len())
            + JWK_K.len()
            + base64url_len(self.secret.len())
            + 2
    }

    /// Appends this key's JWK to `out`, which must have room for [`jwk_len`](Self::jwk_len)
    /// more bytes. The secret is base64url-encoded straight into `out`: no other buffer
    /// holds it. (`serde_json::Value` would keep the secret in a `String` nobody wipes.)
    pub(crate) fn write_jwk(&self, out: &mut String) {
        debug_assert!(out.capacity() - out.len() >= self.jwk_len());
        out.push_str(JWK_HEAD);
        if let Some(kid) = self.kid_json() {
            out.push_str(JWK_KID);
            out.push_str(&kid);
        }
        out.push_str(JWK_K);
        base64url::encode_into(&self.secret, out);
        out.push_str("\"}");
    }

    /// The `kid` as a JSON string (quoted and escaped); not secret.
    fn kid_json(&self) -> Option<String> {
        self.kid
            .as_deref()
            .map(|kid| serde_json::Value::from(kid).to_string())
    }

    /// The HMAC-SHA256 tag of `message` under this key. Hidden from the documentation:
    /// test vectors and the fuzz targets forge tokens with it, and an application has no
    /// use for a MAC under its JWT key that is not a JWT (sign one with [`crate::sign`]).
    #[doc(hidden)]
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        self.mac.tag(message)
    }

    /// Checks `tag` against the HMAC-SHA256 of `message`, in constant time (`subtle`).
    /// Hidden from the documentation, as [`mac`](Self::mac).
    /// Only full 32-byte tags are accepted: a truncated tag is never a valid HS256
    /// signature.
    ///
    /// # Errors
    /// [`BadSignature`](ErrorKind::BadSignature) when the tag does not match.
    #[doc(hidden)]
    pub fn verify_mac(&self, message: &[u8], tag: &[u8]) -> Result<(), Error> {
        if self.mac.matches(message, tag) {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::BadSignature, "bad signature"))
        }
    }

    /// Whether this key may sign (its JWK `key_ops` allowed it).
    pub fn may_sign(&self) -> bool {
        self.may_sign
    }

    /// Whether this key may verify (its JWK `key_ops` allowed it).
    pub fn may_verify(&self) -> bool {
        self.may_verify
    }

    /// The HMAC key schedule.
    pub(crate) fn mac_key(&self) -> &MacKey {
        &self.mac
    }

    /// The default header for this key, base64url-encoded.
    pub(crate) fn header_b64(&self) -> &str {
        &self.header_b64
    }

    /// The parse of `header_b64` when it is one of this key's known spellings: tok's own
    /// header, or another issuer's spelling of the same members.
    pub(crate) fn parse_if_known(&self, header_b64: &[u8]) -> Option<RawHeader<'_>> {
        if self.header_b64.as_bytes() == header_b64 {
            return Some(RawHeader::known(true, self.kid.as_deref()));
        }
        self.spellings
            .iter()
            .find(|s| s.b64.as_bytes() == header_b64)
            .map(|s| RawHeader::known(s.typ, if s.kid { self.kid.as_deref() } else { None }))
    }

    /// The HMAC computation after the default header and its dot.
    pub(crate) fn header_mac(&self) -> &Mac {
        &self.header_mac
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("kid", &self.kid)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The length of the unpadded base64url encoding of `n` bytes.
fn base64url_len(n: usize) -> usize {
    n / 3 * 4 + [0, 2, 3][n % 3]
}

/// The members of an exported JWK before `kid` and `k`.
const JWK_HEAD: &str = "{\"kty\":\"oct\",\"alg\":\"HS256\"";
const JWK_KID: &str = ",\"kid\":";
const JWK_K: &str = ",\"k\":\"";

/// A JWK as parsed; the secret is wiped when this is dropped.
///
/// What cannot be wiped: serde_json copies a string with escapes through a scratch buffer
/// it does not wipe (a `k` is base64url and never has escapes, so it is read in place),
/// and the environment keeps its own copy of a key given as a variable.
///
/// A member may be absent, but one that is present must have its type: `"key_ops": null`
/// is refused, not read as "no restriction".
#[derive(Deserialize)]
pub(crate) struct Jwk {
    #[serde(default, deserialize_with = "present")]
    kty: Option<String>,
    #[serde(default, deserialize_with = "present")]
    k: Option<Zeroizing<String>>,
    #[serde(default, deserialize_with = "present")]
    kid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    alg: Option<String>,
    #[serde(rename = "use", default, deserialize_with = "present")]
    usage: Option<String>,
    #[serde(default, deserialize_with = "present")]
    key_ops: Option<Vec<String>>,
}

impl Jwk {
    /// Parses one JWK. Errors quote nothing from the input: it holds a secret.
    pub(crate) fn parse(json: &str, what: &str) -> Result<Self, Error> {
        json::deep_check(json).map_err(|e| json::malformed_secret_json(&e, what))?;
        serde_json::from_str(json).map_err(|e| json::malformed_secret_json(&e, what))
    }
}

/// A member that, when present, holds a `T` (never `null`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A1_K: &str =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

    fn jwk(extra: &str) -> String {
        format!(r#"{{"kty":"oct","k":"{A1_K}"{extra}}}"#)
    }

    #[test]
    fn short_keys_are_weak() {
        assert_eq!(
            HmacKey::from_bytes(&[7; 31]).unwrap_err().kind(),
            ErrorKind::WeakKey
        );
        assert!(HmacKey::from_bytes(&[7; 32]).is_ok());
        let short = format!(r#"{{"kty":"oct","k":"{}"}}"#, base64url::encode(&[1; 16]));
        assert_eq!(
            HmacKey::from_jwk(&short).unwrap_err().kind(),
            ErrorKind::WeakKey
        );
    }

    #[test]
    fn jwk_members_are_respected() {
        assert!(HmacKey::from_jwk(&jwk(r#","alg":"HS256","use":"sig""#)).is_ok());
        for (extra, kind) in [
            (r#","alg":"HS512""#, ErrorKind::InvalidKey),
            (r#","use":"enc""#, ErrorKind::InvalidKey),
            (r#","key_ops":["encrypt"]"#, ErrorKind::InvalidKey),
            (r#","kty":"oct""#, ErrorKind::Malformed),
        ] {
            assert_eq!(
                HmacKey::from_jwk(&jwk(extra)).unwrap_err().kind(),
                kind,
                "{extra}"
            );
        }
        let verify_only = HmacKey::from_jwk(&jwk(r#","key_ops":["verify"]"#)).unwrap();
        assert!(verify_only.may_verify() && !verify_only.may_sign());
        assert_eq!(
            HmacKey::from_jwk(r#"{"kty":"RSA","n":"x","e":"AQAB"}"#)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidKey
        );
        assert_eq!(
            HmacKey::from_jwk(r#"{"kty":"oct"}"#).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        assert_eq!(
            HmacKey::from_jwk(&format!(r#"{{"kty":"oct","k":"{A1_K}="}}"#))
                .unwrap_err()
                .kind(),
            ErrorKind::Malformed
        );
    }

    #[test]
    fn debug_is_redacted() {
        let key = HmacKey::from_jwk(&jwk("")).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("[redacted]"));
        assert!(!debug.contains(&A1_K[..10]));
    }

    #[test]
    fn export_round_trips_and_generated_kid_is_thumbprint() {
        let key = HmacKey::generate().unwrap();
        assert_eq!(key.kid(), Some(key.thumbprint().as_str()));
        let again = HmacKey::from_jwk(&key.export_jwk()).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.thumbprint(), key.thumbprint());
        assert_ne!(HmacKey::generate().unwrap().thumbprint(), key.thumbprint());
    }

    /// The thumbprint of the RFC 7515 A.1 key, computed independently with
    /// `python3 -c 'import hashlib,base64,json; ...'` over `{"k":"<A1_K>","kty":"oct"}`.
    #[test]
    fn thumbprint_matches_rfc7638_construction() {
        let key = HmacKey::from_jwk(&jwk("")).unwrap();
        let mut h = Sha256::new();
        h.update(format!(r#"{{"k":"{A1_K}","kty":"oct"}}"#).as_bytes());
        assert_eq!(key.thumbprint(), base64url::encode(&h.finalize()));
        assert_eq!(
            key.thumbprint(),
            "y_x3gCJnL6oKGBBIXScabduwxTVy2Wd2bzRVEUbdUzc"
        );
    }
}
