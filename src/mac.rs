//! HMAC-SHA256 for tokens, on RustCrypto's `hmac` crate: each key is keyed once (the two
//! key-schedule compressions), and every tag starts from a clone of that state.
//!
//! Built with the crates' `zeroize` feature, so the keyed states (which let their holder
//! compute tags) are wiped when dropped.

use hmac::{Hmac, KeyInit, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The length in bytes of a tag.
pub(crate) const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// A key, keyed once.
#[derive(Clone)]
pub(crate) struct MacKey(HmacSha256);

impl MacKey {
    /// Keys HMAC-SHA256 with `key` (any length, as RFC 2104 allows).
    pub(crate) fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of every length, so this cannot fail.
        Self(<HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!()))
    }

    /// A computation with only the key absorbed.
    pub(crate) fn start(&self) -> Mac {
        Mac(self.0.clone())
    }

    /// The tag of `message`.
    pub(crate) fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.start();
        mac.update(message);
        mac.finish()
    }

    /// Whether `tag` is the tag of `message`, compared in constant time. A tag of any
    /// length but [`TAG_LEN`] never matches (no truncated tags).
    pub(crate) fn matches(&self, message: &[u8], tag: &[u8]) -> bool {
        let Ok(tag) = <&[u8; TAG_LEN]>::try_from(tag) else {
            return false;
        };
        // `subtle` over four words rather than 32 bytes: the same guarantee (no branch on
        // the data, an optimisation barrier per element), a quarter of the barriers.
        bool::from(words(&self.tag(message)).ct_eq(&words(tag)))
    }
}

/// An HMAC computation in progress.
#[derive(Clone)]
pub(crate) struct Mac(HmacSha256);

impl Mac {
    /// Absorbs `data`.
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The tag.
    pub(crate) fn finish(self) -> [u8; TAG_LEN] {
        self.0.finalize().into_bytes().into()
    }
}

/// A tag as four machine words, for comparison.
fn words(tag: &[u8; TAG_LEN]) -> [u64; 4] {
    let mut words = [0u64; 4];
    for (word, chunk) in words.iter_mut().zip(tag.chunks_exact(8)) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        *word = u64::from_ne_bytes(bytes);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2_and_tag_lengths() {
        // RFC 4231 §4.3: key "Jefe".
        let key = MacKey::new(b"Jefe");
        let tag = key.tag(b"what do ya want for nothing?");
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(key.matches(b"what do ya want for nothing?", &tag));
        assert!(!key.matches(b"what do ya want for nothing?", &tag[..31]));
        let mut wrong = tag;
        wrong[31] ^= 1;
        assert!(!key.matches(b"what do ya want for nothing?", &wrong));
        // Split updates give the one-shot tag.
        let mut mac = key.start();
        mac.update(b"what do ya ");
        mac.update(b"want for nothing?");
        assert_eq!(mac.finish(), tag);
    }
}
