//! A family as a row of `tok_families`, and the statements that read and write it.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::model::change::Change;
use crate::model::family::FamilyRecord;
use crate::model::token::{FamilySecret, KeyMove};
use crate::numeric_date::NumericDate;
use crate::store::sqlite::changes;

pub(super) fn ms(t: NumericDate) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

pub(super) fn date(ms: i64) -> rusqlite::Result<NumericDate> {
    u64::try_from(ms)
        .ok()
        .and_then(|m| NumericDate::from_millis(m).ok())
        .ok_or_else(|| rusqlite::Error::IntegralValueOutOfRange(0, ms))
}

/// A stored duration in milliseconds (a negative one, which tok never writes, as 0).
pub(super) fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub(super) fn blob32(blob: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    let len = blob.len();
    blob.try_into().map_err(|_| {
        rusqlite::Error::InvalidColumnType(
            0,
            format!("a 32-byte value of {len} bytes"),
            rusqlite::types::Type::Blob,
        )
    })
}

pub(super) fn family_from_row(row: &Row<'_>) -> rusqlite::Result<FamilyRecord> {
    Ok(FamilyRecord {
        family_id: row.get(0)?,
        subject: row.get(1)?,
        claims: row.get(2)?,
        created_at: date(row.get(3)?)?,
        expires_at: date(row.get(4)?)?,
        last_used_at: date(row.get(5)?)?,
        idle_timeout: millis(row.get(6)?),
        generation: u64::try_from(row.get::<_, i64>(7)?).unwrap_or(0),
        secret: FamilySecret {
            key_id: row.get(8)?,
            nonce: blob32(row.get(9)?)?,
            moved: match (
                row.get::<_, Option<String>>(15)?,
                row.get::<_, Option<i64>>(16)?,
            ) {
                (Some(from_key_id), Some(at)) => Some(KeyMove {
                    from_key_id,
                    at_generation: u64::try_from(at).unwrap_or(0),
                }),
                _ => None,
            },
        },
        previous_rotated_at: row.get::<_, Option<i64>>(10)?.map(date).transpose()?,
        fingerprint: row.get::<_, Option<Vec<u8>>>(11)?.map(blob32).transpose()?,
        revoked_at: row.get::<_, Option<i64>>(12)?.map(date).transpose()?,
        claims_generation: u64::try_from(row.get::<_, i64>(13)?).unwrap_or(0),
        label: row.get(14)?,
        login: row.get(17)?,
    })
}

pub(super) fn read_family(conn: &Connection, id: &str) -> rusqlite::Result<Option<FamilyRecord>> {
    // Cached statements: compiling SQL on every rotation would lengthen the time the
    // write lock is held, which is what bounds throughput under concurrency.
    conn.prepare_cached(SELECT_FAMILY)?
        .query_row([id], family_from_row)
        .optional()
}

pub(super) const SELECT_FAMILY: &str = "SELECT id, subject, claims, created_ms, expires_ms, last_used_ms, idle_ms, \
     generation, key_id, nonce, prev_rotated_ms, fingerprint, revoked_ms, claims_gen, label, \
     moved_from_key, moved_at_gen, login FROM tok_families WHERE id = ?1";

/// Every unrevoked family's refresh key and lifetime fields (counting families per key).
pub(super) const SELECT_KEY_LIFETIMES: &str =
    "SELECT key_id, last_used_ms, expires_ms, idle_ms FROM tok_families WHERE revoked_ms IS NULL";

/// A subject's unrevoked families, oldest first, by the subject index.
pub(super) const SELECT_SUBJECT: &str = "SELECT id, subject, claims, created_ms, expires_ms, last_used_ms, \
     idle_ms, generation, key_id, nonce, prev_rotated_ms, fingerprint, revoked_ms, claims_gen, \
     label, moved_from_key, moved_at_gen, login FROM tok_families WHERE subject = ?1 AND revoked_ms IS NULL ORDER BY created_ms LIMIT ?2";

pub(super) const INSERT_FAMILY: &str = "INSERT INTO tok_families (id, subject, claims, created_ms, expires_ms, \
     last_used_ms, idle_ms, generation, key_id, nonce, prev_rotated_ms, fingerprint, revoked_ms, \
     claims_gen, label, login) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

pub(super) fn gen_i64(g: u64) -> i64 {
    i64::try_from(g).unwrap_or(i64::MAX)
}

/// Whether `e` is a primary-key or unique constraint violation (by SQLite's extended
/// code, not by message text).
pub(super) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// Persists a rotation's outcome. The guard on the generation is redundant under
/// IMMEDIATE and kept so that the update can never apply to a state other than the one
/// decided on.
pub(super) fn write_family(
    tx: &Connection,
    before: &FamilyRecord,
    next: &FamilyRecord,
) -> rusqlite::Result<()> {
    let changed = tx
        .prepare_cached(
            "UPDATE tok_families SET claims = ?2, last_used_ms = ?3, generation = ?4,
                 prev_rotated_ms = ?5, revoked_ms = ?6, claims_gen = ?8, key_id = ?9,
                 moved_from_key = ?10, moved_at_gen = ?11, login = ?12
             WHERE id = ?1 AND generation = ?7",
        )?
        .execute(params![
            next.family_id,
            next.claims,
            ms(next.last_used_at),
            gen_i64(next.generation),
            next.previous_rotated_at.map(ms),
            next.revoked_at.map(ms),
            gen_i64(before.generation),
            gen_i64(next.claims_generation),
            next.secret.key_id,
            next.secret.moved.as_ref().map(|m| m.from_key_id.as_str()),
            next.secret.moved.as_ref().map(|m| gen_i64(m.at_generation)),
            next.login,
        ])?;
    // A family that ended, or whose claims changed, is announced to other processes'
    // online-check caches in this transaction.
    if next.revoked_at.is_some() || next.claims_generation != before.claims_generation {
        changes::record(tx, &Change::Family(next.family_id.clone()))?;
    }
    if changed == 1 {
        Ok(())
    } else {
        Err(rusqlite::Error::StatementChangedRows(changed))
    }
}

/// Marks family `id` revoked at `now` unless it already is; returns whether it was live.
/// A revocation goes in the change log in the same transaction.
pub(super) fn revoke(conn: &Connection, id: &str, now: NumericDate) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE tok_families SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
        )?
        .execute(params![id, ms(now)])?;
    if changed == 1 {
        changes::record(conn, &Change::Family(id.to_owned()))?;
    }
    Ok(changed == 1)
}
