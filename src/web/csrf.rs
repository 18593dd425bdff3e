//! Cross-site request refusal for cookie-authenticated requests.
//!
//! `SameSite=Strict` is not enough: a page on another port of the same host is
//! cross-origin but same-site, and the browser attaches the cookie. So a request is
//! refused when `Sec-Fetch-Site` says `cross-site` or `same-site` (or anything but
//! `same-origin` and `none`), or, without that header (older browsers), when `Origin` is not
//! one of the configured origins. Requests with neither header come from non-browser
//! clients, which no other site can drive, and pass.

use axum::http::HeaderMap;

use crate::web::WebError;

/// Checks `headers` against the allowed `origins` (exact `scheme://host[:port]`).
pub(crate) fn check(headers: &HeaderMap, origins: &[String]) -> Result<(), WebError> {
    let mut sites = headers.get_all("sec-fetch-site").iter();
    if let Some(site) = sites.next() {
        // Two values cannot both be the browser's: refuse rather than choose.
        let ok = sites.next().is_none() && matches!(site.to_str(), Ok("same-origin") | Ok("none"));
        return if ok { Ok(()) } else { Err(WebError::Csrf) };
    }
    let mut given = headers.get_all("origin").iter();
    match (given.next(), given.next()) {
        (None, _) => Ok(()),
        (Some(origin), None)
            if origin
                .to_str()
                .is_ok_and(|o| origins.iter().any(|allowed| allowed == o)) =>
        {
            Ok(())
        }
        _ => Err(WebError::Csrf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn rules() {
        let origins = vec!["http://127.0.0.1:8080".to_owned()];
        let ok = |pairs: &[(&'static str, &'static str)]| check(&headers(pairs), &origins).is_ok();
        assert!(ok(&[]));
        assert!(ok(&[("sec-fetch-site", "same-origin")]));
        assert!(ok(&[("sec-fetch-site", "none")]));
        assert!(!ok(&[("sec-fetch-site", "same-site")]));
        assert!(!ok(&[("sec-fetch-site", "cross-site")]));
        assert!(!ok(&[("sec-fetch-site", "Same-Origin")]));
        assert!(!ok(&[
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "same-origin")
        ]));
        // Sec-Fetch-Site decides when present, whatever Origin says.
        assert!(ok(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://evil.example")
        ]));
        assert!(ok(&[("origin", "http://127.0.0.1:8080")]));
        assert!(!ok(&[("origin", "http://127.0.0.1:8081")]));
        assert!(!ok(&[("origin", "null")]));
        assert!(!ok(&[
            ("origin", "http://127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ]));
    }
}
