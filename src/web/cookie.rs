//! Hardened cookies for refresh tokens and client fingerprints, built and parsed with the
//! `cookie` crate.
//!
//! Every cookie carries the hijacking defences, and nothing loosens them: the `__Host-` prefix (the browser then insists on
//! `Secure`, `Path=/` and no `Domain`, so no subdomain can plant or read it), `HttpOnly`
//! (no script can read it), `SameSite=Strict`, and a `Max-Age` no longer than the session
//! family, or none at all for a login not remembered (a session cookie, which the browser
//! drops when its session ends).

use std::time::Duration;

use cookie::Cookie;

use crate::error::Error;

/// The name tok's cookie `name` travels under: with the `__Host-` prefix, so that the
/// browser insists on `Secure`, `Path=/` and no `Domain`.
///
/// No option loosens the prefix, the path or `SameSite=Strict`: a page refreshes by a
/// same-origin `fetch`, which `SameSite=Strict` never blocks, and every route of
/// [`session_router`](crate::web::session_router) needs both cookies.
pub fn full_name(name: &str) -> String {
    format!("__Host-{name}")
}

/// A `Set-Cookie` header value for `name=value` that lives `max_age`.
///
/// ```
/// let header = tok::web::cookie::set_cookie("refresh", "abc.def", std::time::Duration::from_secs(60))?;
/// assert_eq!(header, "__Host-refresh=abc.def; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=60");
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// [`Malformed`](crate::error::ErrorKind::Malformed) when the name is not a cookie token or the
/// value has characters a cookie cannot carry (RFC 6265 §4.1.1).
pub fn set_cookie(name: &str, value: &str, max_age: Duration) -> Result<String, Error> {
    build(name, value, Some(max_age))
}

/// A `Set-Cookie` header value for `name=value` as a session cookie: no `Max-Age` and no
/// `Expires`, so the browser drops it when its session ends (a login not remembered).
///
/// ```
/// let header = tok::web::cookie::set_session_cookie("refresh", "abc.def")?;
/// assert_eq!(header, "__Host-refresh=abc.def; HttpOnly; SameSite=Strict; Secure; Path=/");
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// As [`set_cookie`].
pub fn set_session_cookie(name: &str, value: &str) -> Result<String, Error> {
    build(name, value, None)
}

fn build(name: &str, value: &str, max_age: Option<Duration>) -> Result<String, Error> {
    // The cookie crate builds what it is given; what may be given is checked here.
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
    let mut cookie = Cookie::build((full_name(name), value.to_owned()))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(true)
        .path("/");
    if let Some(max_age) = max_age {
        let secs = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        cookie = cookie.max_age(time::Duration::seconds(secs));
    }
    Ok(cookie.build().to_string())
}

/// A `Set-Cookie` header value that deletes the cookie (logout): empty, `Max-Age=0`, with
/// the attributes it was set with (a browser deletes only the cookie they match).
///
/// ```
/// let header = tok::web::cookie::clear_cookie("refresh")?;
/// assert!(header.starts_with("__Host-refresh=;") && header.ends_with("Max-Age=0"));
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// As [`set_cookie`].
pub fn clear_cookie(name: &str) -> Result<String, Error> {
    set_cookie(name, "", Duration::ZERO)
}

/// The value of the cookie `full_name` in `Cookie` request header values, if sent.
///
/// ```
/// let value = tok::web::cookie::read(["theme=dark; __Host-refresh=abc.0.def"], "__Host-refresh")?;
/// assert_eq!(value.as_deref(), Some("abc.0.def"));
/// assert!(tok::web::cookie::read(["__Host-refresh=a; __Host-refresh=b"], "__Host-refresh").is_err());
/// # Ok::<(), tok::Error>(())
/// ```
///
/// Pairs that cannot be `full_name` are skipped whatever their shape: a nameless cookie
/// (which browsers send as its bare value, with no `=`) or any pair of another
/// application's is none of tok's business, and must not break tok's routes.
///
/// ```
/// let value = tok::web::cookie::read(["planted; =x; __Host-refresh=abc.0.def"], "__Host-refresh")?;
/// assert_eq!(value.as_deref(), Some("abc.0.def"));
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// [`Malformed`](crate::error::ErrorKind::Malformed) when the cookie is sent twice (a
/// planted duplicate must not be resolved by guessing).
pub fn read<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    full_name: &str,
) -> Result<Option<String>, Error> {
    let mut found = None;
    for header in header_values {
        // A pair that does not parse has no name (or no `=`), so it is not `full_name`.
        for cookie in Cookie::split_parse(header).flatten() {
            if cookie.name() == full_name {
                if found.is_some() {
                    return Err(Error::malformed(format!(
                        "cookie {full_name} is sent more than once"
                    )));
                }
                found = Some(cookie.value().to_owned());
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardened_by_default_and_validated() {
        let h = set_cookie("fp", "x", Duration::from_secs(5)).unwrap();
        let parsed = Cookie::parse(h.as_str()).unwrap();
        assert_eq!((parsed.name(), parsed.value()), ("__Host-fp", "x"));
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.http_only(), Some(true));
        assert_eq!(parsed.same_site(), Some(cookie::SameSite::Strict));
        assert_eq!(parsed.path(), Some("/"));
        assert_eq!(parsed.max_age(), Some(time::Duration::seconds(5)));
        assert_eq!(parsed.domain(), None);
        for (name, value) in [
            ("", "v"),
            ("a b", "v"),
            ("a;", "v"),
            ("a", "v;x"),
            ("a", "v x"),
            ("a", "v\""),
        ] {
            assert!(
                set_cookie(name, value, Duration::ZERO).is_err(),
                "{name}={value}"
            );
        }
        assert_eq!(
            clear_cookie("r").unwrap(),
            "__Host-r=; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=0"
        );
    }

    #[test]
    fn reading_finds_one_cookie_and_refuses_duplicates() {
        let name = "__Host-refresh";
        assert_eq!(
            read(["a=1; __Host-refresh=t.0.x"], name)
                .unwrap()
                .as_deref(),
            Some("t.0.x")
        );
        assert_eq!(
            read(["a=1", "__Host-refresh=y"], name).unwrap().as_deref(),
            Some("y")
        );
        assert_eq!(read(["a=1"], name).unwrap(), None);
        assert_eq!(read(Vec::<&str>::new(), name).unwrap(), None);
        assert!(read(["__Host-refresh=a; __Host-refresh=b"], name).is_err());
        assert!(read(["__Host-refresh=a", "__Host-refresh=a"], name).is_err());
        // Only the exact name: the unprefixed cookie a subdomain could plant is not it.
        assert_eq!(read(["refresh=planted"], name).unwrap(), None);
        // Nameless and empty-named pairs of other applications are skipped, in any place.
        for header in [
            "nameless; __Host-refresh=t.0.x",
            "__Host-refresh=t.0.x; nameless",
            "=v; __Host-refresh=t.0.x;;",
            "a=1;  ; __Host-refresh=t.0.x",
        ] {
            assert_eq!(
                read([header], name).unwrap().as_deref(),
                Some("t.0.x"),
                "{header}"
            );
        }
        assert_eq!(read(["nameless", "=x"], name).unwrap(), None);
        assert!(read(["nameless; __Host-refresh=a", "__Host-refresh=b; x"], name).is_err());
    }
}
