//! The session routes, to mount under a prefix: `POST /refresh`, `POST /logout`,
//! `POST /logout-all`, `GET /sessions`, `POST /end`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post};

use crate::error::{Error, ErrorKind};
use crate::layer::Cached;
use crate::store::{AnyStore, Store};
use crate::web::{API_POLICY, OnlineBearer, WebError, WebSessions, harden};

/// The session routes for [`WebSessions`] over any shipped store, cached
/// ([`Cached`]`<`[`AnyStore`]`>`).
///
/// - `POST /refresh`: rotates the refresh cookie; 200 token response, new cookie.
/// - `POST /logout`: ends the cookie's session; 204, cookies cleared.
/// - `POST /logout-all`: with a valid bearer token (checked online) *and* the refresh
///   cookie of that token's session, ends every session of its subject; 200
///   `{"revoked": N}`, cookies cleared.
///
/// - `GET /sessions`: with a valid bearer token (online), the caller's subject's live
///   sessions, the caller's own marked `current`.
/// - `POST /end` `{"id": SESSION_ID}`: with a valid bearer token *and* the refresh cookie
///   of that token's session (rotated to prove it), ends that session of the caller's
///   subject (a devices page's "end" button); 200 with the rotation's token response and
///   `"ended": true|false`.
///
/// Every answer carries the headers of [`harden`](crate::web::harden) with a policy that
/// loads nothing (`default-src 'none'`): these routes answer JSON only.
pub fn session_router<S>() -> Router<S>
where
    Arc<WebSessions>: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    session_router_for::<Cached<AnyStore>, S>()
}

/// [`session_router`] for [`WebSessions`] over a store of type `St`.
pub fn session_router_for<St, S>() -> Router<S>
where
    St: Store + 'static,
    Arc<WebSessions<St>>: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/refresh", post(refresh::<St>))
        .route("/logout", post(logout::<St>))
        .route("/logout-all", post(logout_all::<St>))
        .route("/sessions", get(devices::<St>))
        .route("/end", post(end::<St>))
        .layer(axum::middleware::map_response(json_only))
}

async fn json_only(mut response: Response) -> Response {
    harden(response.headers_mut(), HeaderValue::from_static(API_POLICY));
    response
}

async fn refresh<St: Store>(
    State(web): State<Arc<WebSessions<St>>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    web.refresh(&headers).await
}

async fn logout<St: Store>(
    State(web): State<Arc<WebSessions<St>>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    web.logout(&headers).await
}

/// The caller's subject and session id, from its verified access token.
fn caller<'a, St: Store>(
    web: &WebSessions<St>,
    user: &'a OnlineBearer<serde_json::Map<String, serde_json::Value>, St>,
) -> Result<(&'a str, &'a str), WebError> {
    let missing = |claim: &str| WebError::InvalidToken {
        realm: web.realm().to_owned(),
        error: Error::new(ErrorKind::MissingClaim, format!("the token has no {claim}")),
    };
    let subject = user.claims.sub.as_deref().ok_or_else(|| missing("sub"))?;
    let sid = crate::refresh::session_id(&user.claims.custom)
        .ok()
        .flatten()
        .ok_or_else(|| missing("sid"))?;
    Ok((subject, sid))
}

async fn logout_all<St: Store + 'static>(
    State(web): State<Arc<WebSessions<St>>>,
    user: OnlineBearer<serde_json::Map<String, serde_json::Value>, St>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let (subject, sid) = caller(&web, &user)?;
    web.logout_everywhere(&headers, subject, sid).await
}

async fn devices<St: Store + 'static>(
    State(web): State<Arc<WebSessions<St>>>,
    user: OnlineBearer<serde_json::Map<String, serde_json::Value>, St>,
) -> Result<Response, WebError> {
    let (subject, sid) = caller(&web, &user)?;
    web.list_sessions(subject, sid).await
}

/// The session id of a `POST /end` body: one JSON object whose `id` member is a string,
/// read with tok's JSON rule (no member name repeated at any depth). Public, hidden, for
/// the fuzz target that holds it to that property.
#[doc(hidden)]
pub fn end_body_id(body: &[u8]) -> Option<String> {
    // Read as an object, not through a derived struct: serde's derive also takes a JSON
    // array (`["ID"]`) as the struct's fields in order.
    let text = std::str::from_utf8(body).ok()?;
    let mut object: serde_json::Map<String, serde_json::Value> =
        crate::json::from_json_strict(text).ok()?;
    match object.remove("id")? {
        serde_json::Value::String(id) => Some(id),
        _ => None,
    }
}

async fn end<St: Store + 'static>(
    State(web): State<Arc<WebSessions<St>>>,
    user: OnlineBearer<serde_json::Map<String, serde_json::Value>, St>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, WebError> {
    let (subject, sid) = caller(&web, &user)?;
    // A hostile body is a 400 with a code, never a panic or a 5xx.
    let id = end_body_id(&body).ok_or_else(|| WebError::InvalidRequest {
        realm: web.realm().to_owned(),
        reason: "the body must be {\"id\": SESSION_ID}",
    })?;
    web.end_session(&headers, subject, sid, &id).await
}
