//! Store URLs in messages: what every error about a store URL shows of it. A leaf the
//! backends and the opener share, so that no backend imports the opener above it.

/// A store URL with any userinfo (`user:password@`) replaced by `***@`, for messages.
/// Every error tok writes about a store URL goes through this.
///
/// ```
/// assert_eq!(tok::store::redact_url("redis://default:S3cret@h:6379/0"), "redis://***@h:6379/0");
/// assert_eq!(tok::store::redact_url("sqlite:/tmp/a@b.db"), "sqlite:/tmp/a@b.db");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
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
}
