//! Strict, unpadded base64url (RFC 4648 §5) as JWS requires (RFC 7515 §2).
//!
//! A token has exactly one spelling: `=` padding, characters outside the URL-safe alphabet,
//! whitespace and non-canonical encodings (non-zero unused trailing bits) are all rejected.
//! Were any of them accepted, two different strings would carry the same signature, which
//! breaks denylists and caches keyed by the token text.
//!
//! Built on `base64-simd`, whose `URL_SAFE_NO_PAD` decoder enforces all of the above (the
//! tests below prove it) and runs about three times faster than the `base64` crate on
//! token-sized input, which matters on a path every request takes.

use std::mem::MaybeUninit;

use base64_simd::{Out, URL_SAFE_NO_PAD as ENGINE};

use crate::error::Error;

/// Encodes `input` as unpadded base64url.
pub fn encode(input: &[u8]) -> String {
    ENGINE.encode_to_string(input)
}

/// Appends the unpadded base64url encoding of `input` to `out`.
pub fn encode_into(input: &[u8], out: &mut String) {
    ENGINE.encode_append(input, out);
}

/// Decodes strict unpadded base64url.
///
/// # Errors
/// [`Malformed`](crate::ErrorKind::Malformed) for anything but the one canonical spelling.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, Error> {
    ENGINE.decode_to_vec(input).map_err(invalid)
}

fn invalid(e: base64_simd::Error) -> Error {
    Error::malformed("invalid base64url").with_source(e)
}

/// The number of bytes `len` base64url characters decode to, or `None` when no canonical
/// unpadded encoding has that length (a remainder of one character never occurs).
pub(crate) const fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        rem => Some(len / 4 * 3 + rem.saturating_sub(1)),
    }
}

/// Decodes `input` into `out`, which must be at least [`decoded_len`] bytes long, and
/// returns the filled prefix.
pub(crate) fn decode_to_slice<'a>(input: &[u8], out: &'a mut [u8]) -> Result<&'a [u8], Error> {
    match ENGINE.decode(input, Out::from_slice(out)) {
        Ok(decoded) => Ok(decoded),
        Err(e) => Err(invalid(e)),
    }
}

/// Like [`decode_to_slice`] into uninitialized memory, which the decoder writes before it
/// is read (through `base64-simd`'s safe `Out` type): the verify path's stack buffers then
/// need no zeroing on every call.
pub(crate) fn decode_to_uninit<'a>(
    input: &[u8],
    out: &'a mut [MaybeUninit<u8>],
) -> Result<&'a [u8], Error> {
    match ENGINE.decode(input, Out::from_uninit_slice(out)) {
        Ok(decoded) => Ok(decoded),
        Err(e) => Err(invalid(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10, in the URL-safe alphabet and without padding.
    #[test]
    fn rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(encode(plain.as_bytes()), encoded);
            assert_eq!(decode(encoded.as_bytes()).unwrap(), plain.as_bytes());
            assert_eq!(decoded_len(encoded.len()), Some(plain.len()));
        }
    }

    #[test]
    fn url_safe_alphabet() {
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode(b"-_8").unwrap(), vec![0xfb, 0xff]);
        // The standard alphabet's `+` and `/` are not base64url.
        assert!(decode(b"+/8").is_err());
    }

    #[test]
    fn rejects_every_non_canonical_spelling() {
        for bad in [
            &b"Zg=="[..],
            b"Zg=",
            b"Zm9v\n",
            b" Zm9v",
            b"Zm 9v",
            b"Zh",  // trailing bits set: same byte as "Zg"
            b"Zm9", // non-zero trailing bits
            b"Z",   // impossible length
            b"Zm9v*",
            b"Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFy\0",
        ] {
            assert!(
                decode(bad).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
            let mut buf = [0u8; 64];
            assert!(decode_to_slice(bad, &mut buf).is_err());
        }
    }

    #[test]
    fn long_inputs_take_the_vector_path_and_stay_strict() {
        let data: Vec<u8> = (0..=255).collect();
        let encoded = encode(&data);
        assert_eq!(decode(encoded.as_bytes()).unwrap(), data);
        let mut bad = encoded.clone().into_bytes();
        bad[100] = b'+';
        assert!(decode(&bad).is_err());
    }

    #[test]
    fn decode_to_slice_matches_decode() {
        let mut buf = [0u8; 6];
        let n = decoded_len(8).unwrap();
        assert_eq!(
            decode_to_slice(b"Zm9vYmFy", &mut buf[..n]).unwrap(),
            b"foobar"
        );
        assert_eq!(decoded_len(5), None);
    }
}
