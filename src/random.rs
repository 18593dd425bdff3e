//! Randomness from the operating system's CSPRNG, the only source tok uses.

use crate::error::{Error, ErrorKind};

/// Fills `buf` from the OS CSPRNG.
///
/// # Errors
/// [`Random`](ErrorKind::Random) when the OS generator fails; tok never falls back to a
/// weaker source.
pub fn fill(buf: &mut [u8]) -> Result<(), Error> {
    #[cfg(test)]
    if tests::FAIL.get() {
        return Err(failed(getrandom::Error::UNSUPPORTED));
    }
    getrandom::fill(buf).map_err(failed)
}

fn failed(e: getrandom::Error) -> Error {
    Error::new(
        ErrorKind::Random,
        format!("the OS random number generator failed: {e}"),
    )
    .with_source(e)
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
    use crate::ErrorKind;

    thread_local! {
        /// Makes [`super::fill`] fail on this thread, as a broken OS generator would.
        pub(super) static FAIL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// A failing generator is an error of kind `Random` wherever randomness is drawn,
    /// never a key or token made of something weaker.
    #[test]
    fn a_failing_generator_is_a_random_error() {
        FAIL.set(true);
        let results = [
            super::token(16).map(drop),
            crate::HmacKey::generate().map(drop),
        ];
        FAIL.set(false);
        for result in results {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Random);
            assert_eq!(err.code(), "random");
            assert!(std::error::Error::source(&err).is_some());
        }
        assert!(super::token(16).is_ok());
    }

    #[test]
    fn tokens_are_distinct_and_sized() {
        let a = super::token(16).unwrap();
        let b = super::token(16).unwrap();
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
    }
}
