//! Store URLs in messages: what every error about a store URL shows of it. A leaf the
//! backends and the opener share, so that no backend imports the opener above it.

/// A store URL with its secrets replaced by `***`, for messages: any userinfo
/// (`user:password@`) and the value of every query parameter whose name, percent-decoded
/// and in any case, holds `password` (`?password=`, `sslpassword=`, `PassWord=`,
/// `pass%77ord=`), wherever it stands. Every error tok writes about a store URL goes
/// through this.
///
/// ```
/// use tok::store::redact_url;
/// assert_eq!(redact_url("redis://default:S3cret@h:6379/0"), "redis://***@h:6379/0");
/// assert_eq!(
///     redact_url("postgres://tok@db/x?sslmode=require&Password=S3cret"),
///     "postgres://***@db/x?sslmode=require&Password=***"
/// );
/// assert_eq!(redact_url("sqlite:/tmp/a@b.db"), "sqlite:/tmp/a@b.db");
/// ```
pub fn redact_url(url: &str) -> String {
    let (mut out, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    // The userinfo ends at the last `@` before the path. A `?` or `#` is not taken as its
    // end: an unencoded one inside a password would otherwise leave the password shown.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => {
            out.push_str("***");
            &rest[at..]
        }
        None => rest,
    };
    // Everything after the first `?` is query (a `#` inside a password would otherwise
    // end it early).
    let Some((base, query)) = rest.split_once('?') else {
        out.push_str(rest);
        return out;
    };
    out.push_str(base);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        if names_a_password(name) {
            out.push_str(name);
            out.push_str("=***");
        } else {
            out.push_str(pair);
        }
    }
    out
}

/// Whether a query parameter's name, percent-decoded and in any case, holds `password`.
fn names_a_password(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                // Two hex digits are below 256.
                decoded.push(u8::try_from(high * 16 + low).unwrap_or(0));
                i += 3;
            }
            (b'+', ..) => {
                decoded.push(b' ');
                i += 1;
            }
            (b, ..) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    decoded
        .to_ascii_lowercase()
        .windows(8)
        .any(|w| w == b"password")
}

/// A store URL's `true`/`false` parameter (no other spelling: a typo must not turn a
/// safety option off), or an error of `kind` naming it.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn flag(
    name: &str,
    value: &str,
    kind: crate::error::ErrorKind,
) -> Result<bool, crate::error::Error> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(crate::error::Error::new(
            kind,
            format!("{name}={value} is neither true nor false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted() {
        for (url, want) in [
            ("REDIS://default:S3cretPass@h:1", "REDIS://***@h:1"),
            ("redis://:pw@h:1/0?prefix=a", "redis://***@h:1/0?prefix=a"),
            ("redis://h:1/0?x=a@b", "redis://h:1/0?x=a@b"),
            ("rediss://u:p@w@h:1", "rediss://***@h:1"),
            ("memory:", "memory:"),
        ] {
            assert_eq!(redact_url(url), want);
        }
    }

    #[test]
    fn password_parameters_are_redacted_anywhere() {
        for (url, want) in [
            (
                "postgres://tok@127.0.0.1:1/x?password=S3cret&sslmode=bogus",
                "postgres://***@127.0.0.1:1/x?password=***&sslmode=bogus",
            ),
            (
                "postgres://h/x?sslmode=require&PASSWORD=S3cret",
                "postgres://h/x?sslmode=require&PASSWORD=***",
            ),
            (
                "postgres://h/x?pass%77ord=S3cret",
                "postgres://h/x?pass%77ord=***",
            ),
            (
                "postgres://h/x?%50assword=S3cret",
                "postgres://h/x?%50assword=***",
            ),
            (
                "postgres://h/x?sslpassword=S3cret&a=b",
                "postgres://h/x?sslpassword=***&a=b",
            ),
            ("postgres://h/x?password", "postgres://h/x?password=***"),
            (
                "postgres://h/x?a=1&password=S3c#ret&b=2",
                "postgres://h/x?a=1&password=***&b=2",
            ),
            ("postgres://h/x?pass=1", "postgres://h/x?pass=1"),
            ("postgres://u:p?s#s@h/x", "postgres://***@h/x"),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }
}
