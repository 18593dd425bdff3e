//! How a family is written to and read from a Redis hash, and how Redis errors are said.

use std::time::Duration;

use redis::{FromRedisValue, Value};

use crate::error::{Error, ErrorKind};
use crate::model::family::FamilyRecord;
use crate::model::token::{FamilySecret, KeyMove};
use crate::numeric_date::NumericDate;

/// The format of the family hashes this code writes (field `v`). Keys of another
/// format are refused, never decided on.
pub(super) const FORMAT_VERSION: &str = "2";

/// The family fields the scripts return and `family` reads, in this order: HMGET of a
/// fixed list is cheaper than HGETALL. `ttl` is the time (ms) until which the key is
/// kept: at least the family's deadline. `cgen`, the generation of the last claims
/// change, is absent from families written before it existed (read as 0), and so is
/// `label` and `login` (read as empty).
pub(super) const FIELDS: [&str; 18] = [
    "sub", "claims", "created", "expires", "last", "idle", "gen", "kid", "nonce", "prev", "fp",
    "revoked", "ttl", "cgen", "label", "mkid", "mgen", "login",
];

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

pub(super) fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub(super) fn redis_error(what: &str, e: redis::RedisError) -> Error {
    Error::store(what, e)
}

/// A connection error, said in one line: a server that answers but not in Redis's
/// protocol (an HTTP server on that port, say) is named as such.
pub(super) fn connect_error(url: &str, e: redis::RedisError) -> Error {
    if matches!(
        e.kind(),
        redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType
    ) {
        let redacted = crate::store::url::redact_url(url);
        let host = redacted
            .split_once("://")
            .map_or(redacted.as_str(), |(_, rest)| rest);
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let host = host.split(['/', '?']).next().unwrap_or(host);
        return Error::new(
            ErrorKind::Store,
            format!("not a Redis server at {host}: it answered in another protocol"),
        )
        .with_source(e);
    }
    redis_error("connecting to Redis", e)
}

pub(super) fn corrupt(what: &str) -> Error {
    Error::new(
        ErrorKind::Store,
        format!("unexpected data in Redis: {what}"),
    )
}

pub(super) fn ms(t: NumericDate) -> u64 {
    t.as_millis()
}

pub(super) fn date(s: &str) -> Result<NumericDate, Error> {
    s.parse::<u64>()
        .ok()
        .and_then(|m| NumericDate::from_millis(m).ok())
        .ok_or_else(|| corrupt("a time"))
}

/// The fields of a family hash read once with its secret (the format version first),
/// which never change in its life but for the key fields (`kid`, `mkid`, `mgen`), which a
/// rotation moves to another key and then returns: a process that remembers a family
/// from before such a move finds its tag check failing and reads them again.
pub(super) const FIXED: [&str; 11] = [
    "v", "sub", "created", "expires", "idle", "kid", "nonce", "fp", "label", "mkid", "mgen",
];

/// What of a family never changes, remembered by a process once read, and its secret
/// (which changes only when a rotation moves the family to another key).
#[derive(Clone)]
pub(super) struct Fixed {
    pub subject: String,
    pub created_at: NumericDate,
    pub expires_at: NumericDate,
    pub idle_timeout: Duration,
    pub secret: FamilySecret,
    pub fingerprint: Option<[u8; 32]>,
    pub label: String,
}

impl Fixed {
    /// What never changes of `family`.
    pub(super) fn of(family: &FamilyRecord) -> Self {
        Self {
            subject: family.subject.clone(),
            created_at: family.created_at,
            expires_at: family.expires_at,
            idle_timeout: family.idle_timeout,
            secret: family.secret.clone(),
            fingerprint: family.fingerprint,
            label: family.label.clone(),
        }
    }
}

impl AsRef<FamilySecret> for Fixed {
    fn as_ref(&self) -> &FamilySecret {
        &self.secret
    }
}

/// Reads the values of [`FIXED`], in that order; `None` when there is no family (no
/// subject: nothing, or a tombstone).
///
/// # Errors
/// A family of another format (or corrupt) is refused loudly rather than decided on or
/// taken for unknown.
pub(super) fn fixed_from(values: Vec<Option<String>>) -> Result<Option<Fixed>, Error> {
    let Ok(
        [
            version,
            sub,
            created,
            expires,
            idle,
            kid,
            nonce,
            fp,
            label,
            mkid,
            mgen,
        ],
    ) = <[Option<String>; FIXED.len()]>::try_from(values)
    else {
        return Err(corrupt("the family's fields"));
    };
    let Some(subject) = sub else {
        return Ok(None);
    };
    let (Some(FORMAT_VERSION), Some(kid), Some(nonce)) = (version.as_deref(), kid, nonce) else {
        return Err(corrupt(
            "a family written by another tok version (refresh tokens changed format; \
             clear this prefix to start anew)",
        ));
    };
    let field = |v: Option<String>, name: &str| v.ok_or_else(|| corrupt(name));
    Ok(Some(Fixed {
        subject,
        created_at: date(&field(created, "created")?)?,
        expires_at: date(&field(expires, "expires")?)?,
        idle_timeout: Duration::from_millis(
            field(idle, "idle")?.parse().map_err(|_| corrupt("idle"))?,
        ),
        secret: FamilySecret {
            key_id: kid,
            nonce: unhex(&nonce).ok_or_else(|| corrupt("nonce"))?,
            moved: key_move(mkid.as_deref(), mgen.as_deref())?,
        },
        fingerprint: match fp.as_deref() {
            None | Some("") => None,
            Some(v) => Some(unhex(v).ok_or_else(|| corrupt("fp"))?),
        },
        // Absent on families older than labels: no label.
        label: label.unwrap_or_default(),
    }))
}

/// Rebuilds a family from what never changes and what `rotate.lua` answers: generation,
/// claims, last use, previous rotation, the key's expiry, claims generation, the key
/// fields (`kid`, `mkid`, `mgen`) and the login.
pub(super) fn rotated_from(
    family_id: &str,
    fixed: Fixed,
    values: Vec<Value>,
) -> Result<FamilyRecord, Error> {
    let values: Vec<String> = values
        .into_iter()
        .map(|v| String::from_redis_value(v).map_err(|_| corrupt("a rotation's field")))
        .collect::<Result<_, _>>()?;
    let Ok(
        [
            generation,
            claims,
            last,
            prev,
            _kept,
            claims_generation,
            kid,
            mkid,
            mgen,
            login,
        ],
    ) = <[String; 10]>::try_from(values)
    else {
        return Err(corrupt("the rotation's fields"));
    };
    // The key the family's tokens use from now on (a rotation may have moved it).
    let secret = FamilySecret {
        key_id: kid,
        moved: key_move(Some(&mkid), Some(&mgen))?,
        ..fixed.secret
    };
    Ok(FamilyRecord {
        family_id: family_id.to_owned(),
        subject: fixed.subject,
        claims,
        created_at: fixed.created_at,
        expires_at: fixed.expires_at,
        last_used_at: date(&last)?,
        idle_timeout: fixed.idle_timeout,
        generation: generation.parse().map_err(|_| corrupt("gen"))?,
        secret,
        previous_rotated_at: match prev.as_str() {
            "" => None,
            v => Some(date(v)?),
        },
        fingerprint: fixed.fingerprint,
        // A rotation or grace answer is never of a revoked family.
        revoked_at: None,
        claims_generation: claims_generation.parse().map_err(|_| corrupt("cgen"))?,
        label: fixed.label,
        login,
    })
}

/// A family's last move to another key from its `mkid` and `mgen` fields: none while
/// both are absent or empty (a family that never moved).
fn key_move(mkid: Option<&str>, mgen: Option<&str>) -> Result<Option<KeyMove>, Error> {
    match (mkid.unwrap_or_default(), mgen.unwrap_or_default()) {
        ("", "") => Ok(None),
        (from, at) => Ok(Some(KeyMove {
            from_key_id: from.to_owned(),
            at_generation: at.parse().map_err(|_| corrupt("mgen"))?,
        })),
    }
}

/// Rebuilds a family from the values of [`FIELDS`], in that order.
pub(super) fn family_from(family_id: &str, values: Vec<Value>) -> Result<FamilyRecord, Error> {
    let values: Vec<String> = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            // `cgen` is missing on families older than it: no claims change yet; `label`
            // too: no label.
            Value::Nil if FIELDS.get(i) == Some(&"cgen") => Ok("0".to_owned()),
            Value::Nil if matches!(FIELDS.get(i), Some(&"label" | &"login")) => Ok(String::new()),
            // `mkid` and `mgen` are set by a family's first move to another key.
            Value::Nil if matches!(FIELDS.get(i), Some(&"mkid" | &"mgen")) => Ok(String::new()),
            v => String::from_redis_value(v).map_err(|_| corrupt("a family field")),
        })
        .collect::<Result<_, _>>()?;
    let [
        sub,
        claims,
        created,
        expires,
        last,
        idle,
        generation,
        kid,
        nonce,
        prev,
        fp,
        revoked,
        _kept,
        claims_generation,
        label,
        mkid,
        mgen,
        login,
    ] = <[String; FIELDS.len()]>::try_from(values).map_err(|_| corrupt("the family's fields"))?;
    let optional_date = |v: &str| -> Result<Option<NumericDate>, Error> {
        match v {
            "" => Ok(None),
            v => date(v).map(Some),
        }
    };
    Ok(FamilyRecord {
        family_id: family_id.to_owned(),
        subject: sub,
        claims,
        created_at: date(&created)?,
        expires_at: date(&expires)?,
        last_used_at: date(&last)?,
        idle_timeout: Duration::from_millis(idle.parse().map_err(|_| corrupt("idle"))?),
        generation: generation.parse().map_err(|_| corrupt("gen"))?,
        secret: FamilySecret {
            key_id: kid,
            nonce: unhex(&nonce).ok_or_else(|| corrupt("nonce"))?,
            moved: key_move(Some(&mkid), Some(&mgen))?,
        },
        previous_rotated_at: optional_date(&prev)?,
        fingerprint: match fp.as_str() {
            "" => None,
            v => Some(unhex(v).ok_or_else(|| corrupt("fp"))?),
        },
        revoked_at: optional_date(&revoked)?,
        claims_generation: claims_generation.parse().map_err(|_| corrupt("cgen"))?,
        label,
        login,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = crate::model::token::hash(b"x");
        assert_eq!(unhex(&hex(&h)), Some(h));
        assert_eq!(unhex("zz"), None);
    }
}
