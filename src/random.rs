//! Randomness from the operating system's CSPRNG, the only source tok uses.

use crate::error::{Error, ErrorKind};

/// Fills `buf` from the OS CSPRNG.
///
/// # Errors
/// [`Random`](ErrorKind::Random) when the OS generator fails; tok never falls back to a
/// weaker source.
pub fn fill(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|e| {
        Error::new(
            ErrorKind::Random,
            format!("the OS random number generator failed: {e}"),
        )
    })
}

/// `n` random bytes, base64url-encoded (for `jti` values and token secrets).
///
/// # Errors
/// [`Random`](ErrorKind::Random) when the OS generator fails.
pub fn token(n: usize) -> Result<String, Error> {
    let mut buf = zeroize::Zeroizing::new(vec![0u8; n]);
    fill(&mut buf)?;
    Ok(crate::base64url::encode(&buf))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_distinct_and_sized() {
        let a = super::token(16).unwrap();
        let b = super::token(16).unwrap();
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
    }
}
