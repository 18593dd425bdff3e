//! The response headers a hardened application sends: no framing (clickjacking), no
//! content sniffing, no referrer leaking a URL, and a content security policy.

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};

/// The policy of the session routes, which answer JSON only: nothing may load, nothing may
/// frame them.
pub const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// A policy for an application's own pages: scripts, styles and requests from its own
/// origin only (no inline script, so an injected `<script>` does not run), no plugins,
/// forms posting only to itself, and no framing by any page, same-site ones included.
pub const PAGE_POLICY: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Adds the hardening headers to `headers`, keeping any the handler set itself:
/// `Content-Security-Policy: {policy}` (which should hold `frame-ancestors 'none'`),
/// `X-Frame-Options: DENY` for browsers without CSP level 2, `X-Content-Type-Options:
/// nosniff` and `Referrer-Policy: no-referrer`.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue};
/// let mut headers = HeaderMap::new();
/// tok::web::harden(&mut headers, HeaderValue::from_static(tok::web::PAGE_POLICY));
/// assert_eq!(headers["x-frame-options"], "DENY");
/// assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
/// ```
pub fn harden(headers: &mut HeaderMap, policy: HeaderValue) {
    let set = [
        (CONTENT_SECURITY_POLICY, policy),
        (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ];
    for (name, value) in set {
        headers.entry(name).or_insert(value);
    }
}
