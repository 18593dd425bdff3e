//! Key sets for rotation: one key signs, any verifies, chosen by the token's `kid`.

use serde::Deserialize;

use crate::error::{Error, ErrorKind};
use crate::header::{RawHeader, truncate};
use crate::json;
use crate::key::{HmacKey, Jwk};

/// A JWK Set (RFC 7517 §5) of HS256 keys.
///
/// The signing key is the first one unless another is chosen by `kid`; every key verifies.
/// Rotate by [`prepend`](KeySet::prepend)ing a new key: new tokens carry its `kid` while
/// tokens signed by older keys keep verifying until those keys are removed.
///
/// ```
/// use tok::{Claims, HmacKey, KeySet, Validation};
///
/// let old = HmacKey::generate()?;
/// let token = tok::sign(&old, &Claims::default().with_subject("u"))?;
/// let mut set = KeySet::new(old);
/// set.prepend(HmacKey::generate()?)?; // the new key signs from now on
/// let claims = tok::verify::<()>(&set, &token, &Validation::new().allow_missing_expiry())?;
/// assert_eq!(claims.claims.sub.as_deref(), Some("u"));
/// # Ok::<(), tok::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeySet {
    keys: Vec<HmacKey>,
    signer: usize,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

impl KeySet {
    /// A set holding one key, which signs. (One key cannot conflict with another, so
    /// this cannot fail.)
    pub fn new(key: HmacKey) -> Self {
        Self {
            keys: vec![key],
            signer: 0,
        }
    }

    /// A set from keys; the first signs.
    ///
    /// # Errors
    /// [`InvalidKey`](ErrorKind::InvalidKey) for an empty list or two keys with one `kid`.
    pub fn from_keys(keys: Vec<HmacKey>) -> Result<Self, Error> {
        if keys.is_empty() {
            return Err(Error::new(ErrorKind::InvalidKey, "key set has no keys"));
        }
        for (i, key) in keys.iter().enumerate() {
            if let Some(kid) = key.kid()
                && keys[..i].iter().any(|k| k.kid() == Some(kid))
            {
                return Err(Error::new(
                    ErrorKind::InvalidKey,
                    format!("key set has two keys with kid {:?}", truncate(kid)),
                ));
            }
        }
        Ok(Self { keys, signer: 0 })
    }

    /// A set from JWK Set JSON (`{"keys":[...]}`); every key must be an HS256 key.
    ///
    /// # Errors
    /// As [`HmacKey::from_jwk`] for each key, plus those of [`from_keys`](Self::from_keys).
    pub fn from_jwks(json: &str) -> Result<Self, Error> {
        // Key files hold secrets: no message quotes what the file holds.
        json::deep_check(json).map_err(|e| json::malformed_secret_json(&e, "JWK Set"))?;
        let jwks: Jwks =
            serde_json::from_str(json).map_err(|e| json::malformed_secret_json(&e, "JWK Set"))?;
        let keys = jwks
            .keys
            .into_iter()
            .enumerate()
            .map(|(i, jwk)| {
                HmacKey::from_parsed_jwk(jwk).map_err(|e| {
                    Error::new(e.kind(), format!("key {i} of the set: {}", e.detail()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_keys(keys)
    }

    /// Reads either a JWK Set or a single JWK, as key files may hold either.
    ///
    /// # Errors
    /// As [`from_jwks`](Self::from_jwks) or [`HmacKey::from_jwk`].
    pub fn from_jwk_or_jwks(json: &str) -> Result<Self, Error> {
        json::deep_check(json).map_err(|e| json::malformed_secret_json(&e, "key JSON"))?;
        let value: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| json::malformed_secret_json(&e, "key JSON"))?;
        if value.contains_key("keys") {
            Self::from_jwks(json)
        } else {
            Ok(Self::new(HmacKey::from_jwk(json)?))
        }
    }

    /// Makes the key with `kid` the signing key.
    ///
    /// # Errors
    /// [`UnknownKey`](ErrorKind::UnknownKey) when no key has that `kid`.
    pub fn with_signing_kid(mut self, kid: &str) -> Result<Self, Error> {
        self.signer = self
            .keys
            .iter()
            .position(|k| k.kid() == Some(kid))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::UnknownKey,
                    format!("no key with kid {:?} in the set", truncate(kid)),
                )
            })?;
        Ok(self)
    }

    /// Puts `key` first and makes it the signing key.
    ///
    /// # Errors
    /// [`InvalidKey`](ErrorKind::InvalidKey) when its `kid` is already in the set.
    pub fn prepend(&mut self, key: HmacKey) -> Result<(), Error> {
        let mut keys = Vec::with_capacity(self.keys.len() + 1);
        keys.push(key);
        keys.extend(self.keys.iter().cloned());
        *self = Self::from_keys(keys)?;
        Ok(())
    }

    /// The key that signs.
    pub fn signing_key(&self) -> &HmacKey {
        &self.keys[self.signer]
    }

    /// The key with `kid`, if any.
    pub fn find(&self, kid: &str) -> Option<&HmacKey> {
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }

    /// All keys, the first being the default signer.
    pub fn keys(&self) -> &[HmacKey] {
        &self.keys
    }

    /// Exports the set, secrets included, as JWK Set JSON (one key a line). Call it only
    /// to store keys. The string is wiped when dropped and was written into one buffer
    /// reserved up front, so no reallocation left a copy of a secret behind.
    pub fn export_jwks(&self) -> zeroize::Zeroizing<String> {
        const HEAD: &str = "{\"keys\": [\n";
        const TAIL: &str = "\n]}\n";
        let len =
            HEAD.len() + TAIL.len() + self.keys.iter().map(|k| k.jwk_len() + 4).sum::<usize>();
        let mut out = zeroize::Zeroizing::new(String::with_capacity(len));
        out.push_str(HEAD);
        for (i, key) in self.keys.iter().enumerate() {
            out.push_str(if i == 0 { "  " } else { ",\n  " });
            key.write_jwk(&mut out);
        }
        out.push_str(TAIL);
        debug_assert!(out.len() <= len);
        out
    }
}

/// The keys that may verify a token, chosen from its `kid`. Public only in name: this
/// module is private and the type is not re-exported.
#[doc(hidden)]
pub enum Candidates<'a> {
    /// The one key to try.
    One(&'a HmacKey),
    /// Every key, each tried.
    All(&'a [HmacKey]),
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::key::HmacKey {}
    impl Sealed for super::KeySet {}
}

/// What [`verify`](crate::verify) accepts: a single [`HmacKey`] or a [`KeySet`].
pub trait VerifyingKeys: sealed::Sealed {
    #[doc(hidden)]
    /// Chooses the keys for a token with `kid`.
    fn candidates(&self, kid: Option<&str>, try_all_keys: bool) -> Result<Candidates<'_>, Error>;

    #[doc(hidden)]
    /// The parse of `header_b64` when a key knows its spelling (tok's own header, or
    /// another issuer's spelling of the same members), without decoding or parsing it.
    fn known_header(&self, header_b64: &[u8]) -> Option<RawHeader<'_>>;
}

fn unknown_kid(kid: &str) -> Error {
    Error::new(
        ErrorKind::UnknownKey,
        format!("no key with kid {:?}", truncate(kid)),
    )
}

impl VerifyingKeys for HmacKey {
    fn known_header(&self, header_b64: &[u8]) -> Option<RawHeader<'_>> {
        self.parse_if_known(header_b64)
    }

    fn candidates(&self, kid: Option<&str>, _: bool) -> Result<Candidates<'_>, Error> {
        match (kid, self.kid()) {
            // A token naming another key was not meant for this one.
            (Some(token_kid), Some(own)) if token_kid != own => Err(unknown_kid(token_kid)),
            _ => Ok(Candidates::One(self)),
        }
    }
}

impl VerifyingKeys for KeySet {
    fn known_header(&self, header_b64: &[u8]) -> Option<RawHeader<'_>> {
        // The parse depends only on the bytes: any key that knows them gives it.
        self.keys.iter().find_map(|k| k.parse_if_known(header_b64))
    }

    fn candidates(&self, kid: Option<&str>, try_all_keys: bool) -> Result<Candidates<'_>, Error> {
        // A key whose `key_ops` forbid verifying is no candidate: a token naming it is
        // rejected like one naming no key (so a token cannot turn its rejection into a
        // key error). Only a set where no key verifies is a key error, for every token.
        if !self.keys.iter().any(HmacKey::may_verify) {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                "key_ops of every key in the set forbid verifying",
            ));
        }
        let verifying = |k: &&HmacKey| k.may_verify();
        match kid {
            Some(kid) => match (self.find(kid).filter(verifying), self.keys.as_slice()) {
                (Some(key), _) => Ok(Candidates::One(key)),
                // A lone key without a kid claims no identity, exactly like a bare HmacKey.
                (None, [only]) if only.kid().is_none() => Ok(Candidates::One(only)),
                (None, _) => Err(unknown_kid(kid)),
            },
            None if self.keys.len() == 1 => Ok(Candidates::One(&self.keys[0])),
            None => {
                // A token without a kid was signed by a key without one: when the set
                // holds exactly one such key (a kid-less key file that a rotation added
                // a named key to), that key is the token's, and no other is tried.
                let mut anonymous = self.keys.iter().filter(|k| k.kid().is_none());
                match (anonymous.next(), anonymous.next()) {
                    (Some(key), None) if key.may_verify() => Ok(Candidates::One(key)),
                    _ if try_all_keys => Ok(Candidates::All(&self.keys)),
                    _ => Err(Error::new(
                        ErrorKind::UnknownKey,
                        "token has no kid and the key set has several keys, none of them alone without a kid",
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens verify through a set and through a single key, whatever header spelling
    /// (the fast path's parse must be the real one), and kids pick keys as documented.
    #[test]
    fn verification_through_sets_and_keys() {
        use crate::{Claims, Validation};
        let v = Validation::new().allow_missing_expiry();
        let a = HmacKey::from_bytes(&[1; 32]).unwrap().with_kid("a");
        let b = HmacKey::from_bytes(&[2; 32]).unwrap().with_kid("b");
        let claims = Claims::default().with_subject("s");
        let set = KeySet::from_keys(vec![a.clone(), b.clone()]).unwrap();
        let by_b = crate::sign(&b, &claims).unwrap();
        assert_eq!(
            crate::verify::<()>(&set, &by_b, &v)
                .unwrap()
                .claims
                .sub
                .as_deref(),
            Some("s")
        );
        assert!(crate::verify::<()>(&b, &by_b, &v).is_ok());
        // A single key refuses a token naming another kid, before any MAC work.
        assert_eq!(
            crate::verify::<()>(&a, &by_b, &v).unwrap_err().kind(),
            ErrorKind::UnknownKey
        );
        // A lone key without a kid claims no identity: any kid selects it.
        let anon = KeySet::new(HmacKey::from_bytes(&[2; 32]).unwrap());
        assert!(crate::verify::<()>(&anon, &by_b, &v).is_ok());
        // A lone key *with* another kid does not.
        let other = KeySet::new(HmacKey::from_bytes(&[2; 32]).unwrap().with_kid("z"));
        assert_eq!(
            crate::verify::<()>(&other, &by_b, &v).unwrap_err().kind(),
            ErrorKind::UnknownKey
        );
        // No kid, one key: that key; several keys: an opt-in.
        let plain = crate::sign(&HmacKey::from_bytes(&[1; 32]).unwrap(), &claims).unwrap();
        assert!(
            crate::verify::<()>(
                &KeySet::new(HmacKey::from_bytes(&[1; 32]).unwrap()),
                &plain,
                &v
            )
            .is_ok()
        );
        assert_eq!(
            crate::verify::<()>(&set, &plain, &v).unwrap_err().kind(),
            ErrorKind::UnknownKey
        );
        assert!(crate::verify::<()>(&set, &plain, &v.try_all_keys_without_kid()).is_ok());
    }

    #[test]
    fn selection_by_kid() {
        let a = HmacKey::from_bytes(&[1; 32]).unwrap().with_kid("a");
        let b = HmacKey::from_bytes(&[2; 32]).unwrap().with_kid("b");
        let set = KeySet::from_keys(vec![a, b]).unwrap();
        assert_eq!(set.signing_key().kid(), Some("a"));
        assert!(
            matches!(set.candidates(Some("b"), false), Ok(Candidates::One(k)) if k.kid() == Some("b"))
        );
        assert_eq!(
            set.candidates(Some("../../etc/passwd"), false)
                .err()
                .unwrap()
                .kind(),
            ErrorKind::UnknownKey
        );
        assert_eq!(
            set.candidates(None, false).err().unwrap().kind(),
            ErrorKind::UnknownKey
        );
        assert!(matches!(set.candidates(None, true), Ok(Candidates::All(k)) if k.len() == 2));
        let lone = KeySet::new(HmacKey::from_bytes(&[3; 32]).unwrap());
        assert!(matches!(
            lone.candidates(Some("any"), false),
            Ok(Candidates::One(_))
        ));
        let set = set.with_signing_kid("b").unwrap();
        assert_eq!(set.signing_key().kid(), Some("b"));
    }

    #[test]
    fn set_rules() {
        let a = HmacKey::from_bytes(&[1; 32]).unwrap().with_kid("a");
        assert_eq!(
            KeySet::from_keys(vec![a.clone(), a.clone()])
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidKey
        );
        assert_eq!(
            KeySet::from_keys(vec![]).unwrap_err().kind(),
            ErrorKind::InvalidKey
        );
        assert_eq!(
            KeySet::from_jwks(r#"{"keys":[]}"#).unwrap_err().kind(),
            ErrorKind::InvalidKey
        );
        let mut set = KeySet::new(a.clone());
        assert_eq!(set.prepend(a).unwrap_err().kind(), ErrorKind::InvalidKey);
        let json = set.export_jwks();
        let back = KeySet::from_jwk_or_jwks(&json).unwrap();
        assert_eq!(back.keys().len(), 1);
        // Several keys, kids that need escaping, no kid at all: all round-trip, and the
        // buffer reserved up front was never outgrown.
        let keys = vec![
            HmacKey::from_bytes(&[3; 64])
                .unwrap()
                .with_kid("q\"uote\\ \u{e9}"),
            HmacKey::from_bytes(&[4; 33]).unwrap(),
            HmacKey::from_bytes(&[5; 32]).unwrap().with_kid("c"),
        ];
        let set = KeySet::from_keys(keys).unwrap();
        let json = set.export_jwks();
        let back = KeySet::from_jwk_or_jwks(&json).unwrap();
        assert_eq!(back.keys().len(), 3);
        assert_eq!(back.keys()[0].kid(), Some("q\"uote\\ \u{e9}"));
        assert_eq!(back.keys()[1].kid(), None);
        for (a, b) in set.keys().iter().zip(back.keys()) {
            assert_eq!(a.thumbprint(), b.thumbprint());
            let one = a.export_jwk();
            assert_eq!(one.len(), a.jwk_len());
            assert!(one.capacity() > one.len(), "room for a newline");
            assert_eq!(
                HmacKey::from_jwk(&one).unwrap().thumbprint(),
                a.thumbprint()
            );
        }
    }
}
