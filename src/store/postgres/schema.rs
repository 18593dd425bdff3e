//! The schema the store creates and checks: tables, indexes and the functions that are its
//! atomic steps (`schema.sql`), under a version of its own in `tok_meta`.

use tokio_postgres::Client;

use crate::error::{Error, ErrorKind};

/// The schema version this code creates and reads.
pub(super) const VERSION: i32 = 4;

/// The schema of version 1.
const SCHEMA: &str = include_str!("schema.sql");

/// What version 2 changes (a subject's change message by digest); run on a new database
/// after [`SCHEMA`], and alone on a version 1 schema to upgrade it.
const UPGRADE_2: &str = include_str!("upgrade_2.sql");

/// What version 3 changes (a family's move to another refresh key); run after
/// [`UPGRADE_2`] on a new database, and on a version 2 schema, each time followed by
/// [`UPGRADE_4`], which defines `tok_rotate`.
const UPGRADE_3: &str = include_str!("upgrade_3.sql");

/// What version 4 changes (a family's login, and `tok_create` and `tok_rotate` that
/// write it); run after [`UPGRADE_3`] on a new database, and alone on a version 3 schema.
const UPGRADE_4: &str = include_str!("upgrade_4.sql");

/// Any lock id of our own: the first stores opening one empty database at once take turns,
/// so exactly one creates the schema.
const SCHEMA_LOCK: i64 = 0x746f_6b5f_7363_6865; // "tok_sche"

/// Creates the schema in an empty database, or checks the one there is.
///
/// # Errors
/// [`Store`](ErrorKind::Store) when the database fails, holds a schema of another version,
/// or holds tables named like tok's without tok's version record.
pub(super) async fn ensure(client: &mut Client) -> Result<(), Error> {
    let fail = |e| Error::store("creating the PostgreSQL schema", e);
    let tx = client.transaction().await.map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(fail)?;
    let row = tx
        .query_one(
            "SELECT to_regclass('tok_meta') IS NOT NULL, to_regclass('tok_families') IS NOT NULL",
            &[],
        )
        .await
        .map_err(fail)?;
    let (has_meta, has_families): (bool, bool) = (row.get(0), row.get(1));
    if !has_meta {
        if has_families {
            return Err(Error::new(
                ErrorKind::Store,
                "this database has a tok_families table but no tok_meta: not a schema this \
                 tok created; use another database or schema",
            ));
        }
        tx.batch_execute(SCHEMA).await.map_err(fail)?;
        tx.batch_execute(UPGRADE_2).await.map_err(fail)?;
        tx.batch_execute(UPGRADE_3).await.map_err(fail)?;
        tx.batch_execute(UPGRADE_4).await.map_err(fail)?;
        tx.execute(
            "INSERT INTO tok_meta (schema_version) VALUES ($1)",
            &[&VERSION],
        )
        .await
        .map_err(fail)?;
        return tx.commit().await.map_err(fail);
    }
    let found: Option<i32> = tx
        .query_opt("SELECT schema_version FROM tok_meta", &[])
        .await
        .map_err(fail)?
        .map(|r| r.get(0));
    if matches!(found, Some(1..=3)) {
        // Under the same lock: one store upgrades, the others then find this version.
        if found == Some(1) {
            tx.batch_execute(UPGRADE_2).await.map_err(fail)?;
        }
        if matches!(found, Some(1 | 2)) {
            tx.batch_execute(UPGRADE_3).await.map_err(fail)?;
        }
        tx.batch_execute(UPGRADE_4).await.map_err(fail)?;
        tx.execute("UPDATE tok_meta SET schema_version = $1", &[&VERSION])
            .await
            .map_err(fail)?;
        return tx.commit().await.map_err(fail);
    }
    tx.commit().await.map_err(fail)?;
    check_version(found)
}

/// Whether a store of this code may use a schema of version `found`.
fn check_version(found: Option<i32>) -> Result<(), Error> {
    match found {
        Some(VERSION) => Ok(()),
        Some(v) if v > VERSION => Err(Error::new(
            ErrorKind::Store,
            format!(
                "the PostgreSQL schema is version {v}, newer than this tok's ({VERSION}): \
                 upgrade tok"
            ),
        )),
        Some(v) => Err(Error::new(
            ErrorKind::Store,
            format!(
                "the PostgreSQL schema is version {v}, older than this tok's ({VERSION}) \
                 and not upgradable: use a new database or schema"
            ),
        )),
        None => Err(Error::new(
            ErrorKind::Store,
            "tok_meta holds no schema version: not a schema this tok created",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_version(Some(VERSION)).is_ok());
        let newer = check_version(Some(VERSION + 1)).unwrap_err();
        assert!(newer.detail().contains("upgrade tok"), "{newer}");
        let older = check_version(Some(VERSION - 1)).unwrap_err();
        assert!(older.detail().contains("older"), "{older}");
        assert!(check_version(None).is_err());
    }
}
