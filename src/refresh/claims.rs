//! The access claims a family keeps: whatever the application serializes, less the names
//! tok sets on every access token itself.

use serde::Serialize;
use serde_json::Value;

use crate::claims::{LOGIN_CLAIMS, REGISTERED};
use crate::error::Error;
use crate::refresh::online::{GENERATION_CLAIM, SESSION_CLAIM};

/// The access claims as stored: a JSON object without the names tok sets itself.
pub(super) fn claims_json(claims: &impl Serialize) -> Result<String, Error> {
    let value = serde_json::to_value(claims)
        .map_err(|e| Error::malformed(format!("access claims: {e}")).with_source(e))?;
    let Value::Object(map) = value else {
        return Err(Error::malformed(
            "access claims must serialize to a JSON object (a struct or a map)",
        ));
    };
    if let Some(name) = map.keys().find(|k| {
        REGISTERED.contains(&k.as_str())
            || LOGIN_CLAIMS.contains(&k.as_str())
            || *k == SESSION_CLAIM
            || *k == GENERATION_CLAIM
    }) {
        let instead = match name.as_str() {
            "sub" => "the subject argument",
            "exp" | "iat" => "RefreshPolicy::with_access_ttl",
            "iss" => "RefreshPolicy::with_issuer",
            "aud" => "RefreshPolicy::with_audience",
            "jti" => "nothing: each access token gets a random jti",
            "sid" => "nothing: it is the session (family) id",
            "sgen" => "nothing: it is the session's generation when the token was minted",
            "auth_time" | "amr" | "acr" => {
                "LoginDetails at login and Sessions::reauthenticate: the session records them"
            }
            _ => "nothing: tok sets it",
        };
        return Err(Error::malformed(format!(
            "access claims may not set {name:?}: tok sets it on every access token; \
             remove the field from your claims type (set it with {instead})"
        )));
    }
    Ok(Value::Object(map).to_string())
}
