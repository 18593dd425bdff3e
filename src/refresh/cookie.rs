//! Hardened `Set-Cookie` headers for refresh tokens and client fingerprints.
//!
//! Defaults follow the seed's hijacking defences: the `__Host-` prefix (the browser then
//! insists on `Secure`, `Path=/` and no `Domain`, so no subdomain can plant or read it),
//! `HttpOnly` (no script can read it), `SameSite=Strict`, and a `Max-Age` no longer than
//! the session family.

use std::time::Duration;

use crate::error::Error;

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent only on same-site requests (default).
    Strict,
    /// Also sent on top-level cross-site navigations.
    Lax,
}

/// How to write a cookie. Strict by default.
#[derive(Debug, Clone)]
pub struct CookieOptions {
    host_prefix: bool,
    same_site: SameSite,
    path: String,
}

impl Default for CookieOptions {
    fn default() -> Self {
        Self {
            host_prefix: true,
            same_site: SameSite::Strict,
            path: "/".into(),
        }
    }
}

impl CookieOptions {
    /// `SameSite=Lax` instead of `Strict` (for sites entered through cross-site links).
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Drops the `__Host-` prefix and sets `Path` (e.g. `/auth` to send the refresh
    /// cookie only to the refresh endpoint). `Secure` and `HttpOnly` stay.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.host_prefix = false;
        self.path = path.into();
        self
    }
}

/// A `Set-Cookie` header value for `name=value` that lives `max_age`.
///
/// ```
/// let header = tok::cookie::set_cookie("refresh", "abc.def", std::time::Duration::from_secs(60), &Default::default())?;
/// assert_eq!(header, "__Host-refresh=abc.def; Max-Age=60; Path=/; Secure; HttpOnly; SameSite=Strict");
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// [`Malformed`](crate::ErrorKind::Malformed) when the name is not a cookie token or the
/// value has characters a cookie cannot carry (RFC 6265 §4.1.1).
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: Duration,
    options: &CookieOptions,
) -> Result<String, Error> {
    let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token_char) {
        return Err(Error::malformed(format!(
            "{name:?} is not a valid cookie name"
        )));
    }
    let octet = |c: char| matches!(c, '\x21' | '\x23'..='\x2b' | '\x2d'..='\x3a' | '\x3c'..='\x5b' | '\x5d'..='\x7e');
    if !value.chars().all(octet) {
        return Err(Error::malformed(
            "cookie value has characters a cookie cannot carry",
        ));
    }
    if !options.path.starts_with('/')
        || options.path.contains(';')
        || options.path.chars().any(char::is_control)
    {
        return Err(Error::malformed(
            "cookie path must start with / and have no ; or controls",
        ));
    }
    let prefix = if options.host_prefix { "__Host-" } else { "" };
    let same_site = match options.same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
    };
    Ok(format!(
        "{prefix}{name}={value}; Max-Age={}; Path={}; Secure; HttpOnly; SameSite={same_site}",
        max_age.as_secs(),
        options.path
    ))
}

/// A `Set-Cookie` header value that deletes the cookie (logout).
///
/// # Errors
/// As [`set_cookie`].
pub fn clear_cookie(name: &str, options: &CookieOptions) -> Result<String, Error> {
    set_cookie(name, "", Duration::ZERO, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardened_by_default_and_validated() {
        let d = CookieOptions::default();
        let h = set_cookie("fp", "x", Duration::from_secs(5), &d).unwrap();
        for part in [
            "__Host-fp=x",
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=5",
        ] {
            assert!(h.contains(part), "{h}");
        }
        assert!(!h.contains("Domain"));
        let lax = set_cookie(
            "a",
            "b",
            Duration::ZERO,
            &d.clone().with_same_site(SameSite::Lax).with_path("/auth"),
        )
        .unwrap();
        assert_eq!(
            lax,
            "a=b; Max-Age=0; Path=/auth; Secure; HttpOnly; SameSite=Lax"
        );
        for (name, value) in [
            ("", "v"),
            ("a b", "v"),
            ("a;", "v"),
            ("a", "v;x"),
            ("a", "v x"),
            ("a", "v\""),
        ] {
            assert!(
                set_cookie(name, value, Duration::ZERO, &d).is_err(),
                "{name}={value}"
            );
        }
        assert!(set_cookie("a", "b", Duration::ZERO, &d.with_path("/x;Domain=evil")).is_err());
        assert_eq!(
            clear_cookie("r", &CookieOptions::default()).unwrap(),
            "__Host-r=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"
        );
    }
}
