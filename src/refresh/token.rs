//! The refresh token format: `<family id>.<secret>`, both base64url.
//!
//! The family id (128 random bits) lets a store find the family in one lookup and, on
//! Redis, pins all of a family's keys to one cluster slot. The secret is 256 random bits
//! that no store ever sees: stores keep only its SHA-256, so a store dump logs no one in.
//! A plain hash suffices (no slow KDF) because the secret has full entropy.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};

/// Random bytes in a family id.
const FAMILY_BYTES: usize = 16;
/// Random bytes in a refresh secret.
const SECRET_BYTES: usize = 32;
/// Length of the base64url family id.
pub(crate) const FAMILY_LEN: usize = 22;
/// Length of the base64url secret.
const SECRET_LEN: usize = 43;

/// The SHA-256 of a refresh secret (or of a client fingerprint): all a store keeps.
pub type TokenHash = [u8; 32];

/// A freshly minted refresh token. The string is wiped from memory when dropped.
pub(crate) struct Minted {
    pub(crate) token: Zeroizing<String>,
    pub(crate) hash: TokenHash,
}

/// A presented refresh token, parsed and hashed.
pub(crate) struct Presented<'a> {
    pub(crate) family_id: &'a str,
    pub(crate) hash: TokenHash,
}

/// A new family id.
pub(crate) fn new_family_id() -> Result<String, Error> {
    crate::random::token(FAMILY_BYTES)
}

/// A new refresh token for `family_id`.
pub(crate) fn mint(family_id: &str) -> Result<Minted, Error> {
    let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
    crate::random::fill(&mut secret[..])?;
    let encoded = Zeroizing::new(crate::base64url::encode(&secret[..]));
    let mut token = Zeroizing::new(String::with_capacity(FAMILY_LEN + 1 + SECRET_LEN));
    token.push_str(family_id);
    token.push('.');
    token.push_str(&encoded);
    Ok(Minted {
        hash: hash(encoded.as_bytes()),
        token,
    })
}

/// SHA-256 of `bytes`.
pub fn hash(bytes: &[u8]) -> TokenHash {
    Sha256::digest(bytes).into()
}

/// Parses a presented refresh token strictly: exact lengths, canonical base64url.
///
/// # Errors
/// [`Malformed`](ErrorKind::Malformed) for anything tok did not mint.
pub(crate) fn parse(token: &str) -> Result<Presented<'_>, Error> {
    let malformed = || Error::new(ErrorKind::Malformed, "not a tok refresh token");
    let (family_id, secret) = token.split_once('.').ok_or_else(malformed)?;
    if family_id.len() != FAMILY_LEN || secret.len() != SECRET_LEN {
        return Err(malformed());
    }
    // Decoding proves both parts are canonical base64url; the bytes themselves are unused.
    crate::base64url::decode(family_id.as_bytes()).map_err(|_| malformed())?;
    let secret_bytes =
        Zeroizing::new(crate::base64url::decode(secret.as_bytes()).map_err(|_| malformed())?);
    debug_assert_eq!(secret_bytes.len(), SECRET_BYTES);
    Ok(Presented {
        family_id,
        hash: hash(secret.as_bytes()),
    })
}

/// The family id of a refresh token, for revoking by token.
///
/// # Errors
/// [`Malformed`](ErrorKind::Malformed) for anything tok did not mint.
pub fn family_of(token: &str) -> Result<&str, Error> {
    parse(token).map(|p| p.family_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_parse_and_hash_their_secret() {
        let family = new_family_id().unwrap();
        assert_eq!(family.len(), FAMILY_LEN);
        let minted = mint(&family).unwrap();
        let presented = parse(&minted.token).unwrap();
        assert_eq!(presented.family_id, family);
        assert_eq!(presented.hash, minted.hash);
        assert_ne!(mint(&family).unwrap().hash, minted.hash);
    }

    #[test]
    fn rejects_anything_else() {
        let family = new_family_id().unwrap();
        let good = mint(&family).unwrap().token.to_string();
        for bad in [
            String::new(),
            ".".into(),
            family.clone(),
            format!("{good}="),
            format!("{good}A"),
            good.replace('.', ""),
            format!("{}.{}", &family[..21], &good[23..]),
            good.replacen('.', "..", 1),
            format!("{good}.x"),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }
}
