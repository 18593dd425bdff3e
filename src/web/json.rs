//! Every JSON answer of the web layer, built one way: the body, `Content-Type:
//! application/json`, and `Cache-Control: no-store` (an answer about a session, a token or
//! a refusal is never for a cache to keep).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// `body` as a JSON answer with `status`.
pub(super) fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
