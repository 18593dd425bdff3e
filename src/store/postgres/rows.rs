//! A family as a row of `tok_families`: the column list every statement reads, and the
//! conversions between the record and its columns.

use std::time::Duration;

use tokio_postgres::Row;

use crate::error::{Error, ErrorKind};
use crate::model::family::FamilyRecord;
use crate::model::token::{FamilySecret, KeyMove};
use crate::numeric_date::NumericDate;

/// The family's columns, in the order [`family_from`] reads them: a macro, so that the
/// statements that name them are constants (`concat!`) rather than strings built on every
/// rotation and online check.
macro_rules! columns {
    () => {
        "id, subject, claims, created_ms, expires_ms, last_used_ms, idle_ms, generation, \
         key_id, nonce, previous_rotated_ms, fingerprint, revoked_ms, claims_gen, label, \
         moved_from_key, moved_at_gen, login"
    };
}
pub(super) use columns;

/// The largest duration stored, in milliseconds: far beyond any date tok accepts, and
/// small enough that `last_used_ms + idle_ms` in SQL can never overflow a bigint.
const MAX_DURATION_MS: i64 = 1 << 62;

/// An instant as stored.
pub(super) fn ms(t: NumericDate) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

/// A duration as stored (capped at [`MAX_DURATION_MS`]).
pub(super) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).map_or(MAX_DURATION_MS, |ms| ms.min(MAX_DURATION_MS))
}

/// A generation as stored (generations never reach 2^63: each is one rotation).
pub(super) fn generation(g: u64) -> i64 {
    i64::try_from(g).unwrap_or(i64::MAX)
}

/// Data this store did not write (a hand-edited row, another program's table).
pub(super) fn corrupt(what: &str) -> Error {
    Error::new(
        ErrorKind::Store,
        format!("unexpected data in PostgreSQL: {what}"),
    )
}

fn date(ms: i64) -> Result<NumericDate, Error> {
    u64::try_from(ms)
        .ok()
        .and_then(|m| NumericDate::from_millis(m).ok())
        .ok_or_else(|| corrupt("a time out of range"))
}

fn bytes32(bytes: Vec<u8>) -> Result<[u8; 32], Error> {
    bytes
        .try_into()
        .map_err(|_| corrupt("a nonce or fingerprint hash that is not 32 bytes"))
}

fn count(n: i64) -> Result<u64, Error> {
    u64::try_from(n).map_err(|_| corrupt("a negative generation or duration"))
}

/// The family in `row`'s columns from `at` on (in [`columns!`] order); `None` when its id
/// is NULL (a function that answered without a family).
/// A family's last move to another key from its `moved_from_key` and `moved_at_gen`
/// columns (both NULL until its first move).
pub(super) fn key_move(from: Option<String>, at: Option<i64>) -> Result<Option<KeyMove>, Error> {
    match (from, at) {
        (None, None) => Ok(None),
        (Some(from_key_id), Some(at)) => Ok(Some(KeyMove {
            from_key_id,
            at_generation: count(at)?,
        })),
        _ => Err(corrupt("a key move with one of its two columns")),
    }
}

pub(super) fn family_from(row: &Row, at: usize) -> Result<Option<FamilyRecord>, Error> {
    let read = |e| Error::store("reading a family row", e);
    let Some(family_id) = row.try_get::<_, Option<String>>(at).map_err(read)? else {
        return Ok(None);
    };
    let int = |i: usize| row.try_get::<_, i64>(at + i).map_err(read);
    let opt_int = |i: usize| row.try_get::<_, Option<i64>>(at + i).map_err(read);
    Ok(Some(FamilyRecord {
        family_id,
        subject: row.try_get(at + 1).map_err(read)?,
        claims: row.try_get(at + 2).map_err(read)?,
        created_at: date(int(3)?)?,
        expires_at: date(int(4)?)?,
        last_used_at: date(int(5)?)?,
        idle_timeout: Duration::from_millis(count(int(6)?)?),
        generation: count(int(7)?)?,
        secret: FamilySecret {
            key_id: row.try_get(at + 8).map_err(read)?,
            nonce: bytes32(row.try_get(at + 9).map_err(read)?)?,
            moved: key_move(row.try_get(at + 15).map_err(read)?, opt_int(16)?)?,
        },
        previous_rotated_at: opt_int(10)?.map(date).transpose()?,
        fingerprint: row
            .try_get::<_, Option<Vec<u8>>>(at + 11)
            .map_err(read)?
            .map(bytes32)
            .transpose()?,
        revoked_at: opt_int(12)?.map(date).transpose()?,
        claims_generation: count(int(13)?)?,
        label: row.try_get(at + 14).map_err(read)?,
        login: row.try_get(at + 17).map_err(read)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_numbers_never_overflow_in_sql() {
        assert_eq!(duration_ms(Duration::MAX), MAX_DURATION_MS);
        assert_eq!(duration_ms(Duration::from_secs(7)), 7000);
        assert_eq!(generation(u64::MAX), i64::MAX);
        assert_eq!(generation(3), 3);
        let latest = NumericDate::from_secs(253_402_300_799).unwrap();
        assert!(ms(latest).checked_add(MAX_DURATION_MS).is_some());
        assert!(count(-1).is_err());
        assert!(date(-1).is_err());
        assert!(bytes32(vec![0; 31]).is_err());
    }
}
