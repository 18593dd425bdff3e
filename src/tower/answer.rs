//! A refused request's answer, in the words its client understands: gRPC's status codes
//! for gRPC, RFC 6750's for everything else.

use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response};

use crate::bearer::Refusal;

/// gRPC's `UNAUTHENTICATED`: no valid credentials for the call.
pub const GRPC_UNAUTHENTICATED: u16 = 16;
/// gRPC's `UNAVAILABLE`: a transient failure; clients may retry.
pub const GRPC_UNAVAILABLE: u16 = 14;

/// Whether `headers` are a gRPC call's (`content-type: application/grpc`, alone or with
/// a `+format` or parameters).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v == "application/grpc"
                || v.starts_with("application/grpc+")
                || v.starts_with("application/grpc;")
        })
}

/// The answer to a request (its `headers`) refused for `refusal`.
pub(crate) fn refusal<B: Default>(
    headers: &HeaderMap,
    refusal: &Refusal,
    realm: &str,
) -> Response<B> {
    if let Refusal::Unavailable(error) = refusal {
        tracing::warn!(target: "tok::tower", event = "store_unavailable", error = %error);
    }
    let mut response = Response::new(B::default());
    let out = response.headers_mut();
    if is_grpc(headers) {
        // A trailers-only response (gRPC over HTTP/2): HTTP 200, the status in the
        // headers, no message.
        let status = match refusal {
            Refusal::Unavailable(_) => GRPC_UNAVAILABLE,
            _ => GRPC_UNAUTHENTICATED,
        };
        out.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        out.insert("grpc-status", HeaderValue::from(status));
        // tok's codes are ASCII letters, digits, `-` and `_`: nothing to percent-encode.
        if let Ok(code) = HeaderValue::from_str(refusal.code()) {
            out.insert("grpc-message", code);
        }
        return response;
    }
    *response.status_mut() = refusal.status();
    let out = response.headers_mut();
    if let Some(challenge) = refusal.challenge(realm) {
        out.insert(WWW_AUTHENTICATE, challenge);
    }
    if let Refusal::Unavailable(_) = refusal {
        out.insert(
            RETRY_AFTER,
            HeaderValue::from(crate::bearer::RETRY_AFTER.as_secs()),
        );
    }
    response
}
