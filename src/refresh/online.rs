//! The online part of access-token verification: what makes a signed token revocable.
//! Called after the signature and claims checked out.

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::model::store::{OnlineQuery, Store, Verdict, deny_until};
use crate::numeric_date::NumericDate;

/// The claim that carries the family id in access tokens.
pub const SESSION_CLAIM: &str = "sid";

/// The claim that carries the family's generation at the moment an access token was
/// minted: an online check refuses the token once the family's claims changed after it.
pub const GENERATION_CLAIM: &str = "sgen";

/// The family generation an access token was minted at (`sgen`); 0 for a token without
/// one (minted before tok wrote it), which is then outdated by any privilege change.
///
/// ```
/// let claims = serde_json::json!({"sid": "abc", "sgen": 3});
/// assert_eq!(tok::refresh::minted_at(claims.as_object().unwrap())?, 3);
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// [`Malformed`](ErrorKind::Malformed) when `sgen` is there but not a whole number.
pub fn minted_at(claims: &Map<String, Value>) -> Result<u64, Error> {
    match claims.get(GENERATION_CLAIM) {
        None => Ok(0),
        Some(value) => value
            .as_u64()
            .ok_or_else(|| Error::malformed("claim \"sgen\" is not a whole number")),
    }
}

/// The session (family) id an access token carries in `sid`, if any.
///
/// ```
/// let claims = serde_json::json!({"sid": "abc", "role": "user"});
/// let map = claims.as_object().unwrap();
/// assert_eq!(tok::refresh::session_id(map)?, Some("abc"));
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// [`Malformed`](ErrorKind::Malformed) when `sid` is there but not a string.
pub fn session_id(claims: &Map<String, Value>) -> Result<Option<&str>, Error> {
    match claims.get(SESSION_CLAIM) {
        None => Ok(None),
        Some(Value::String(sid)) => Ok(Some(sid)),
        Some(_) => Err(Error::malformed("claim \"sid\" is not a string")),
    }
}

/// The online part of verification for a token whose signature and claims already
/// checked out: not too far past `exp` for the denylist to vouch for it, `jti` not
/// denylisted, session family `sid` (if any) live, and its claims not changed since the
/// token was minted at generation `minted_at` (its `sgen`, see [`minted_at`]), as the
/// store [`remembered`](Store::remembered) it (a store in a
/// [`Cached`](crate::layer::Cached) layer that knows the answer: no round trip), or else
/// as its [`online_check`](Store::online_check) reads it.
///
/// # Errors
/// [`Expired`](ErrorKind::Expired), [`Revoked`](ErrorKind::Revoked),
/// [`Store`](ErrorKind::Store).
pub async fn check_online(
    store: &impl Store,
    exp: Option<NumericDate>,
    sid: Option<&str>,
    minted_at: u64,
    jti: Option<&str>,
    now: NumericDate,
) -> Result<(), Error> {
    if let Some(exp) = exp
        && now >= deny_until(exp)
    {
        return Err(Error::new(
            ErrorKind::Expired,
            "expired longer ago than revocations are kept; an online check cannot accept it",
        )
        .at(exp));
    }
    let query = OnlineQuery {
        sid,
        jti,
        minted_at,
        exp,
        now,
    };
    let verdict = match store.remembered(&query) {
        Some(verdict) => {
            crate::refresh::metrics::online_check(verdict, true);
            verdict
        }
        None => {
            let verdict = store.online_check(&query).await?;
            crate::refresh::metrics::online_check(verdict, false);
            verdict
        }
    };
    match verdict {
        Verdict::Accepted => Ok(()),
        Verdict::Denied => Err(Error::new(
            ErrorKind::Revoked,
            "the access token was revoked",
        )),
        Verdict::Ended => Err(Error::new(
            ErrorKind::Revoked,
            "the session of this access token has ended",
        )),
        // Refused as revoked: the token's claims were revoked; its session can mint one
        // with the current claims (a refresh).
        Verdict::Outdated => Err(Error::new(
            ErrorKind::Revoked,
            "the session's claims changed after this access token was minted; refresh it",
        )),
    }
}
