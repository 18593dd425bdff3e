//! The refresh token format: `FAMILY.GENERATION.TAG`, derived rather than stored.
//!
//! - `FAMILY`: 128 random bits, base64url (22 characters); also the access tokens' `sid`.
//! - `GENERATION`: the rotation count, canonical decimal (no sign, no leading zero).
//! - `TAG`: `HMAC-SHA256(refresh key, label || FAMILY || GENERATION as u64 big-endian ||
//!   family nonce)`, base64url (43 characters).
//!
//! The refresh key is derived from a key of the [`KeySet`] (an HMAC of a fixed label under
//! it, so it never equals the JWT key and no JWS signing input can collide with a tag
//! input). The nonce is 256 random bits drawn when the family starts and kept only in the
//! store. Hence every token a family ever minted can be checked from constant state (key
//! id, nonce, current generation), and:
//! - a store dump alone (nonces, generations, public family ids) cannot mint a token: the
//!   key is not in it;
//! - the key alone cannot mint a token for an existing family: its nonce is not public;
//! - a valid tag cannot be moved to another family or generation: both are MAC'd.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::keyset::KeySet;
use crate::mac::MacKey;

/// Random bytes in a family id.
const FAMILY_BYTES: usize = 16;
/// Length of the base64url family id.
pub(crate) const FAMILY_LEN: usize = 22;
/// Bytes of a tag (HMAC-SHA256).
const TAG_BYTES: usize = 32;
/// Length of the base64url tag.
const TAG_LEN: usize = 43;
/// Digits of the largest generation (`u64::MAX`).
const MAX_GENERATION_DIGITS: usize = 20;
/// Bytes of a family nonce.
pub const NONCE_BYTES: usize = 32;

/// Derives a refresh key from a JWT key: distinct from it, and one-way.
const KEY_LABEL: &[u8] = b"tok/refresh/key/v1";
/// Derives a public id for a refresh key (what a family records), from the refresh key.
const KEY_ID_LABEL: &[u8] = b"tok/refresh/key-id/v1";
/// Prefixes every tag input. The NUL cannot occur in a JWS signing input (base64url and
/// dots only), so no tag input is ever a JWS signing input.
const TAG_LABEL: &[u8] = b"tok/refresh/tag/v1\0";

/// The SHA-256 of a client fingerprint: all a store keeps of it.
pub type TokenHash = [u8; 32];

/// A family's nonce.
pub type Nonce = [u8; NONCE_BYTES];

/// What a store keeps so that a family's tokens can be checked: which refresh key the
/// family uses, its random nonce, and the key it used before its last move to another
/// key (see [`KeyMove`]). `Debug` redacts the nonce.
#[derive(Clone, PartialEq, Eq)]
pub struct FamilySecret {
    /// The public id of the refresh key (derived one-way from it) of the family's
    /// current tokens.
    pub key_id: String,
    /// The family's random nonce: with the key, it gives every tag of the family.
    pub nonce: Nonce,
    /// The family's last move to another refresh key, if it ever moved.
    pub moved: Option<KeyMove>,
}

/// A family's move to another refresh key: made at a rotation when the key set's
/// signing key is no longer the family's (a routine key rotation), so that an active
/// session outlives the removal of the key it began with. Tokens the family minted
/// before the move were tagged with the key it left: they are still recognised (as
/// reuse, or inside the grace window) while that key is in the set, and are unknown once
/// it is gone. Only the last move is kept: a family stays constant in size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMove {
    /// The public id of the refresh key the family left.
    pub from_key_id: String,
    /// The first generation tagged with the new key; earlier ones used the old.
    pub at_generation: u64,
}

impl FamilySecret {
    /// The id of the refresh key that tagged the family's token of `generation`.
    pub fn key_id_for(&self, generation: u64) -> &str {
        match &self.moved {
            Some(moved) if generation < moved.at_generation => &moved.from_key_id,
            _ => &self.key_id,
        }
    }

    /// This secret after a rotation to `generation` under the refresh key `signing`:
    /// moved to it when the family's key is another.
    pub fn rotated_to(&self, generation: u64, signing: &str) -> Self {
        let mut next = self.clone();
        if self.key_id != signing {
            next.moved = Some(KeyMove {
                from_key_id: std::mem::replace(&mut next.key_id, signing.to_owned()),
                at_generation: generation,
            });
        }
        next
    }
}

impl AsRef<FamilySecret> for FamilySecret {
    fn as_ref(&self) -> &FamilySecret {
        self
    }
}

impl fmt::Debug for FamilySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FamilySecret")
            .field("key_id", &self.key_id)
            .field("nonce", &"[redacted]")
            .field("moved", &self.moved)
            .finish()
    }
}

/// One refresh key: an HMAC-SHA256 state keyed once (the `hmac` crate) and cloned per tag.
#[derive(Clone)]
struct RefreshKey {
    id: String,
    mac: MacKey,
}

/// The refresh keys of a [`KeySet`]: one derived from each of its keys. New families use
/// the one derived from the signing key; a family moves to the signing key's at its next
/// rotation (see [`FamilySecret`]), and removing a key from the set ends the families
/// still on it. `Debug` shows only the key ids.
#[derive(Clone)]
pub(crate) struct RefreshKeys {
    keys: Vec<RefreshKey>,
    signer: usize,
}

impl fmt::Debug for RefreshKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("RefreshKeys")
            .field("key_ids", &ids)
            .finish()
    }
}

impl RefreshKeys {
    /// Derives the refresh keys of `set`.
    pub(crate) fn from_key_set(set: &KeySet) -> Self {
        let signing = set.signing_key();
        let mut signer = 0;
        let keys = set
            .keys()
            .iter()
            .enumerate()
            .map(|(i, key)| {
                if std::ptr::eq(key, signing) {
                    signer = i;
                }
                let derived = Zeroizing::new(key.mac(KEY_LABEL));
                let mac = MacKey::new(&derived[..]);
                let id_bytes = mac.tag(KEY_ID_LABEL);
                RefreshKey {
                    id: crate::base64url::encode(&id_bytes[..12]),
                    mac,
                }
            })
            .collect();
        Self { keys, signer }
    }

    /// The id of the key new families use.
    pub(crate) fn signing_key_id(&self) -> &str {
        &self.keys[self.signer].id
    }

    /// The refresh key ids, in the order of the set's keys they derive from.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    fn find(&self, id: &str) -> Option<&RefreshKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// A new family's secret: the signing refresh key's id and a fresh nonce.
    ///
    /// # Errors
    /// [`Random`](ErrorKind::Random) when the OS generator fails.
    pub(crate) fn new_family_secret(&self) -> Result<FamilySecret, Error> {
        let mut nonce = [0u8; NONCE_BYTES];
        crate::random::fill(&mut nonce)?;
        Ok(FamilySecret {
            key_id: self.signing_key_id().to_owned(),
            nonce,
            moved: None,
        })
    }

    /// The token of `generation` in the family, or `None` when the family's key is no
    /// longer in the set.
    pub(crate) fn mint(
        &self,
        family_id: &str,
        generation: u64,
        secret: &FamilySecret,
    ) -> Option<Zeroizing<String>> {
        let key = self.find(secret.key_id_for(generation))?;
        let tag = Zeroizing::new(tag(key, family_id, generation, &secret.nonce));
        let encoded = Zeroizing::new(crate::base64url::encode(&tag[..]));
        let mut token = Zeroizing::new(String::with_capacity(
            FAMILY_LEN + MAX_GENERATION_DIGITS + TAG_LEN + 2,
        ));
        token.push_str(family_id);
        token.push('.');
        token.push_str(&generation.to_string());
        token.push('.');
        token.push_str(&encoded);
        Some(token)
    }
}

fn tag(key: &RefreshKey, family_id: &str, generation: u64, nonce: &Nonce) -> [u8; TAG_BYTES] {
    let mut mac = key.mac.start();
    mac.update(TAG_LABEL);
    mac.update(family_id.as_bytes());
    mac.update(&generation.to_be_bytes());
    mac.update(nonce);
    mac.finish()
}

/// A new family id.
pub(crate) fn new_family_id() -> Result<String, Error> {
    crate::random::token(FAMILY_BYTES)
}

/// SHA-256 of `bytes` (client fingerprints, index keys).
pub fn hash(bytes: &[u8]) -> TokenHash {
    Sha256::digest(bytes).into()
}

/// A presented refresh token, parsed strictly. Whether a family minted it is for the
/// store to say ([`PresentedToken::is_minted_by`]), since only the store has the nonce.
/// `Debug` redacts the tag.
#[derive(Clone)]
pub struct PresentedToken {
    family_id: String,
    generation: u64,
    tag: Zeroizing<[u8; TAG_BYTES]>,
    keys: Arc<RefreshKeys>,
}

impl fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentedToken")
            .field("family_id", &self.family_id)
            .field("generation", &self.generation)
            .field("tag", &"[redacted]")
            .finish()
    }
}

impl PresentedToken {
    /// Parses `token`: exactly three parts, a 22-character canonical base64url family id,
    /// a canonical decimal generation, a 43-character canonical base64url tag.
    ///
    /// # Errors
    /// [`Malformed`](ErrorKind::Malformed) for anything tok did not mint.
    pub(crate) fn parse(token: &str, keys: Arc<RefreshKeys>) -> Result<Self, Error> {
        let malformed = || Error::new(ErrorKind::Malformed, "not a tok refresh token");
        let mut parts = token.split('.');
        let (Some(family_id), Some(generation), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        if family_id.len() != FAMILY_LEN || tag.len() != TAG_LEN {
            return Err(malformed());
        }
        // Decoding proves the id is canonical base64url; its bytes are not needed.
        crate::base64url::decode(family_id.as_bytes()).map_err(|_| malformed())?;
        let generation = parse_generation(generation).ok_or_else(malformed)?;
        let bytes =
            Zeroizing::new(crate::base64url::decode(tag.as_bytes()).map_err(|_| malformed())?);
        let tag: [u8; TAG_BYTES] = bytes[..].try_into().map_err(|_| malformed())?;
        Ok(Self {
            family_id: family_id.to_owned(),
            generation,
            tag: Zeroizing::new(tag),
            keys,
        })
    }

    /// The family the token names.
    pub fn family_id(&self) -> &str {
        &self.family_id
    }

    /// The generation the token names.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the family with `secret` minted this token (its key and nonce give this
    /// tag for this family and generation), compared in constant time.
    ///
    /// The key is the one the family used for this token's generation (see [`KeyMove`]).
    /// With `None` (no such family) or a key no longer in the set, the same MAC is still
    /// computed (under another key or a zero nonce) so that "no such family" takes as long
    /// to say as "wrong tag": the answer is `false` either way.
    pub fn is_minted_by(&self, secret: Option<&FamilySecret>) -> bool {
        const NO_NONCE: Nonce = [0; NONCE_BYTES];
        let known = secret.and_then(|s| {
            let key_id = s.key_id_for(self.generation);
            Some((self.keys.find(key_id)?, &s.nonce))
        });
        let (key, nonce) = known.unwrap_or((&self.keys.keys[self.keys.signer], &NO_NONCE));
        let expected = Zeroizing::new(tag(key, &self.family_id, self.generation, nonce));
        let equal: bool = expected.ct_eq(&*self.tag).into();
        equal && known.is_some()
    }
}

/// `0` or a decimal number without leading zeros that fits a `u64`.
fn parse_generation(s: &str) -> Option<u64> {
    let canonical = !s.is_empty()
        && s.len() <= MAX_GENERATION_DIGITS
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HmacKey;

    fn keys(secret: u8) -> Arc<RefreshKeys> {
        let set = KeySet::new(HmacKey::from_bytes(&[secret; 32]).unwrap());
        Arc::new(RefreshKeys::from_key_set(&set))
    }

    #[test]
    fn minted_tokens_parse_and_check_against_their_family_only() {
        let k = keys(1);
        let id = new_family_id().unwrap();
        let secret = k.new_family_secret().unwrap();
        let token = k.mint(&id, 7, &secret).unwrap();
        let p = PresentedToken::parse(&token, Arc::clone(&k)).unwrap();
        assert_eq!((p.family_id(), p.generation()), (id.as_str(), 7));
        assert!(p.is_minted_by(Some(&secret)));
        assert!(!p.is_minted_by(None));
        let other = k.new_family_secret().unwrap();
        assert!(!p.is_minted_by(Some(&other)), "another nonce");
        let foreign = PresentedToken::parse(&token, keys(2)).unwrap();
        let foreign_secret = FamilySecret {
            key_id: keys(2).signing_key_id().to_owned(),
            nonce: secret.nonce,
            moved: None,
        };
        assert!(!foreign.is_minted_by(Some(&foreign_secret)), "another key");
        let retired = FamilySecret {
            key_id: "gone".into(),
            nonce: secret.nonce,
            moved: None,
        };
        assert!(!p.is_minted_by(Some(&retired)));
        // Deterministic: the same family and generation give the same token.
        assert_eq!(k.mint(&id, 7, &secret).unwrap(), token);
        assert_ne!(k.mint(&id, 8, &secret).unwrap(), token);
    }

    /// A family that moved from key 1 to key 2 at generation 3: tokens before 3 are
    /// checked (and minted) with key 1, the rest with key 2; a move to the key it has
    /// changes nothing.
    #[test]
    fn a_moved_family_checks_each_generation_with_its_key() {
        let set = {
            let mut set = KeySet::new(HmacKey::from_bytes(&[1; 32]).unwrap());
            set.prepend(HmacKey::from_bytes(&[2; 32]).unwrap()).unwrap();
            set
        };
        let both = Arc::new(RefreshKeys::from_key_set(&set));
        let (old, new) = (keys(1), keys(2));
        let id = new_family_id().unwrap();
        let before = old.new_family_secret().unwrap();
        let after = before.rotated_to(3, new.signing_key_id());
        assert_eq!(after.key_id, new.signing_key_id());
        assert_eq!(after.nonce, before.nonce);
        assert_eq!(
            after.moved,
            Some(KeyMove {
                from_key_id: old.signing_key_id().to_owned(),
                at_generation: 3
            })
        );
        assert_eq!(after.rotated_to(4, new.signing_key_id()), after);
        for (generation, minter) in [(2, &old), (3, &new), (4, &new)] {
            let token = minter.mint(&id, generation, &after).unwrap();
            assert!(
                PresentedToken::parse(&token, Arc::clone(&both))
                    .unwrap()
                    .is_minted_by(Some(&after))
            );
            assert_eq!(both.mint(&id, generation, &after).unwrap(), token);
        }
        // Generation 2 tagged with the new key, or 3 with the old: not the family's.
        let wrong = new.mint(&id, 2, &before.rotated_to(0, new.signing_key_id()));
        let p = PresentedToken::parse(&wrong.unwrap(), Arc::clone(&both)).unwrap();
        assert!(!p.is_minted_by(Some(&after)));
        let wrong = old.mint(&id, 3, &before).unwrap();
        assert!(
            !PresentedToken::parse(&wrong, Arc::clone(&both))
                .unwrap()
                .is_minted_by(Some(&after))
        );
        // Without the old key, the old generations are not known.
        let token = old.mint(&id, 2, &before).unwrap();
        assert!(
            !PresentedToken::parse(&token, Arc::clone(&new))
                .unwrap()
                .is_minted_by(Some(&after))
        );
    }

    #[test]
    fn fingerprints_hash_with_sha256() {
        // FIPS 180-2 "abc".
        let h = hash(b"abc");
        assert_eq!(h[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert_eq!(h[28..], [0xf2, 0x00, 0x15, 0xad]);
    }

    #[test]
    fn key_ids_differ_per_key_and_reveal_nothing_of_it() {
        assert_ne!(keys(1).signing_key_id(), keys(2).signing_key_id());
        assert_eq!(keys(1).signing_key_id(), keys(1).signing_key_id());
        assert_eq!(keys(1).signing_key_id().len(), 16);
        // Debug shows the public ids and hides the keyed state.
        let k = keys(1);
        let shown = format!("{k:?}");
        assert!(shown.contains(k.signing_key_id()), "{shown}");
        assert!(!shown.contains("mac"), "{shown}");
        // A family secret shows its key id and redacts the nonce.
        let secret = k.new_family_secret().unwrap();
        let shown = format!("{secret:?}");
        assert!(
            shown.contains(&secret.key_id) && shown.contains("[redacted]"),
            "{shown}"
        );
        assert!(
            !shown.contains(
                &format!("{:?}", &secret.nonce[..4])
                    .trim_end_matches(']')
                    .to_owned()
            ),
            "{shown}"
        );
    }

    #[test]
    fn rejects_anything_else() {
        let k = keys(1);
        let id = new_family_id().unwrap();
        let good = k
            .mint(&id, 12, &k.new_family_secret().unwrap())
            .unwrap()
            .to_string();
        let tag = good.rsplit('.').next().unwrap().to_owned();
        for bad in [
            String::new(),
            "..".into(),
            id.clone(),
            format!("{good}="),
            format!("{good}A"),
            format!("{good}."),
            good.replacen('.', "..", 1),
            format!("{id}.012.{tag}"),
            format!("{id}.+12.{tag}"),
            format!("{id}.-1.{tag}"),
            format!("{id}..{tag}"),
            format!("{id}.18446744073709551616.{tag}"),
            format!("{id}.1 2.{tag}"),
            format!("{}.12.{tag}", &id[..21]),
            format!("{id}.12.{}", &tag[..42]),
            // Canonical base64url, but a family id of 24 characters: only its length is
            // wrong.
            format!("{id}AA.12.{tag}"),
            // Non-canonical base64url: the last character carries unused bits.
            format!("{id}.12.{}B", &tag[..42]),
        ] {
            assert!(
                PresentedToken::parse(&bad, Arc::clone(&k)).is_err(),
                "{bad}"
            );
        }
        assert_eq!(parse_generation("18446744073709551615"), Some(u64::MAX));
        // What parses, shows its family and generation and hides its tag.
        let p = PresentedToken::parse(&good, Arc::clone(&k)).unwrap();
        let shown = format!("{p:?}");
        assert!(shown.contains(&id) && shown.contains("12") && shown.contains("[redacted]"));
        assert!(!shown.contains(&tag[..10]), "{shown}");
        assert_eq!(parse_generation("0"), Some(0));
    }
}
