//! The database file: where it may be, how it is created (privately), how a connection
//! is set up, and the schema, created and versioned by the writer's connection only.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, ErrorKind};
use crate::store::sqlite::Durability;
use crate::store::sqlite::busy::retry_busy;
use crate::store::sqlite::changes;

/// The schema version this code writes and reads. Version 1 kept one row per refresh
/// token ever minted; version 2 derives tokens and keeps one row per family; version 3
/// adds the change log (`changes`), which a version-2 file gains when opened; version 4
/// adds each session's label, which a version-2 or -3 file gains when opened; version 5
/// adds each family's last move to another refresh key, which older files gain too;
/// version 6 adds each family's login (when its user last proved who they are).
pub(super) const SCHEMA_VERSION: i64 = 6;

/// What version 3 adds to version 2: the change log, and the generation of each
/// family's last claims change (0 for families that never changed claims).
fn upgrade_3() -> String {
    format!(
        "{}\nALTER TABLE tok_families ADD COLUMN claims_gen INTEGER NOT NULL DEFAULT 0;",
        changes::SCHEMA
    )
}

/// What version 4 adds to version 3: the label the application gave a session at login
/// (empty for sessions from before).
const UPGRADE_4: &str = "ALTER TABLE tok_families ADD COLUMN label TEXT NOT NULL DEFAULT '';";

/// What version 5 adds to version 4: a family's last move to another refresh key (the
/// key it left, and the first generation of the new one), none for families from before.
const UPGRADE_5: &str = "ALTER TABLE tok_families ADD COLUMN moved_from_key TEXT;
ALTER TABLE tok_families ADD COLUMN moved_at_gen INTEGER;";

/// What version 6 adds to version 5: the family's login
/// ([`Login::to_stored`](crate::refresh::login::Login::to_stored)); empty for families from
/// before, which read as a remembered login at creation.
const UPGRADE_6: &str = "ALTER TABLE tok_families ADD COLUMN login TEXT NOT NULL DEFAULT '';";

/// Version 2's schema; a new file gets it and then [`upgrade_3`], [`UPGRADE_4`],
/// [`UPGRADE_5`] and [`UPGRADE_6`].
pub(super) const SCHEMA: &str = "
CREATE TABLE tok_schema (version INTEGER NOT NULL);
CREATE TABLE tok_families (
    id               TEXT PRIMARY KEY,
    subject          TEXT NOT NULL,
    claims           TEXT NOT NULL,
    created_ms       INTEGER NOT NULL,
    expires_ms       INTEGER NOT NULL,
    last_used_ms     INTEGER NOT NULL,
    idle_ms          INTEGER NOT NULL,
    generation       INTEGER NOT NULL,
    key_id           TEXT NOT NULL,
    nonce            BLOB NOT NULL,
    prev_rotated_ms  INTEGER,
    fingerprint      BLOB,
    revoked_ms       INTEGER
) STRICT;
CREATE INDEX tok_families_subject ON tok_families (subject);
CREATE TABLE tok_denylist (
    jti         TEXT PRIMARY KEY,
    until_ms    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
";

/// Refuses paths under which every pooled connection would get a private database:
/// SQLite's `:memory:`, the empty path (a temporary file per connection) and URI
/// filenames (`file:...`, which may say `mode=memory`). A store must be one shared file.
pub(super) fn check_shareable(path: &Path) -> Result<(), Error> {
    let text = path.to_string_lossy();
    if text.is_empty() || text == ":memory:" || text.starts_with("file:") {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "sqlite:{text} would give every connection its own private database; \
                 name a file (sqlite:PATH), or use memory: for an in-process store"
            ),
        ));
    }
    Ok(())
}

/// Creates a missing parent folder (mode 0700) and a missing database file (mode 0600)
/// before SQLite opens it: SQLite creates files with the process umask (often 0644), and
/// gives its `-wal` and `-shm` files the mode of the database file.
///
/// An existing file is not opened here at all: closing any descriptor of a file drops
/// every POSIX lock the process holds on it, including those of SQLite connections this
/// process already has open on the same file (a second store on one file), and another
/// process could then take the database for unused and rebuild its WAL index under them.
/// `create_new` opens only a file that did not exist, which no connection can hold.
///
/// A symbolic link in place of the file (or of its `-wal` or `-shm`) is refused: through
/// a dangling one, `create_new` fails as "exists" and SQLite would then create the
/// target, and its `-wal` and `-shm`, with the umask's mode (often world-readable).
pub(super) fn prepare_file(path: &Path) -> Result<(), Error> {
    let io = |what: &str, e: std::io::Error| Error::store(&format!("{what} {}", path.display()), e);
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let candidate = Path::new(&name);
        if std::fs::symlink_metadata(candidate).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{} is a symbolic link; a store opens only a real file (through a link, \
                     SQLite could create files that other users can read): name the file \
                     itself",
                    candidate.display()
                ),
            ));
        }
    }
    // The folder must exist, as for the `sqlite3` shell: creating a mistyped path's
    // folders (as root, anywhere) would start a store nobody meant. Only the CLI and the
    // example app create their own default location.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "the folder {} of the SQLite store does not exist (or is not a folder): \
                 create it first, or check the path",
                parent.display()
            ),
        ));
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io("creating", e)),
    }
}

/// Opens a connection with the store's settings. It takes no lock: read connections are
/// opened while another process may hold the write lock, and must not wait for it (only
/// the writer's connection creates or checks the schema, in [`init_schema`]).
pub(super) fn open_connection(path: &Path, durability: Durability) -> Result<Connection, Error> {
    let fail = |e: rusqlite::Error| Error::store(&format!("opening {}", path.display()), e);
    let conn = Connection::open(path).map_err(fail)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(fail)?;
    // Room for every statement the store runs (data and transaction control), so none
    // is evicted and parsed again on the hot path.
    conn.set_prepared_statement_cache_capacity(32);
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
        Durability::OffForBenchmarks => "OFF",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(fail)?;
    Ok(conn)
}

/// Switches the file to WAL and creates or checks the schema, on the writer's connection
/// only.
pub(super) fn init_schema(conn: &Connection, path: &Path) -> Result<(), Error> {
    let fail = |e: rusqlite::Error| Error::store(&format!("opening {}", path.display()), e);
    // Several processes may open a new file at once; switching to WAL and creating the
    // schema can meet SQLITE_BUSY outside the busy timeout, and both are safe to repeat.
    let version: i64 = retry_busy(|| {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        migrate(conn)
    })
    .map_err(fail)?;
    if version != SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::Store,
            format!(
                "{} has tok schema version {version}; this tok reads only version \
                 {SCHEMA_VERSION} (refresh tokens changed format, and old ones could not be \
                 checked): move the file away to start a new store",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Creates the schema in a new file; returns the version of the file's schema. An
/// existing schema is altered only by adding what a newer version adds (version 2 to 3),
/// in one transaction; an older file is refused rather than half-migrated.
fn migrate(conn: &Connection) -> rusqlite::Result<i64> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tok_schema')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(&upgrade_3())?;
        tx.execute_batch(UPGRADE_4)?;
        tx.execute_batch(UPGRADE_5)?;
        tx.execute_batch(UPGRADE_6)?;
        tx.execute(
            "INSERT INTO tok_schema (version) VALUES (?1)",
            [SCHEMA_VERSION],
        )?;
    }
    let mut version: i64 = tx.query_row("SELECT version FROM tok_schema", [], |r| r.get(0))?;
    // The upgrades add tables and columns with defaults, change nothing existing, and
    // run in this transaction.
    if version == 2 {
        tx.execute_batch(&upgrade_3())?;
        version = 3;
    }
    if version == 3 {
        tx.execute_batch(UPGRADE_4)?;
        version = 4;
    }
    if version == 4 {
        tx.execute_batch(UPGRADE_5)?;
        tx.execute_batch(UPGRADE_6)?;
        tx.execute("UPDATE tok_schema SET version = ?1", [SCHEMA_VERSION])?;
        version = SCHEMA_VERSION;
    }
    tx.commit()?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A process kill cannot tell FULL from NORMAL; only the pragma can. FULL is what
    /// makes a reported rotation survive a power cut (the WAL is fsynced at each commit).
    #[test]
    fn connections_run_with_the_durability_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        prepare_file(&path).unwrap();
        init_schema(&open_connection(&path, Durability::Full).unwrap(), &path).unwrap();
        for (durability, level) in [(Durability::Full, 2), (Durability::Normal, 1)] {
            let conn = open_connection(&path, durability).unwrap();
            let sync: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            let journal: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!((sync, journal.as_str()), (level, "wal"), "{durability:?}");
        }
    }

    #[test]
    fn an_old_schema_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE tok_schema (version INTEGER NOT NULL); INSERT INTO tok_schema VALUES (1);
             CREATE TABLE tok_tokens (family_id TEXT, hash BLOB, generation INTEGER);",
        )
        .unwrap();
        drop(conn);
        let conn = open_connection(&path, Durability::Full).unwrap();
        let err = init_schema(&conn, &path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store);
        assert!(err.detail().contains("schema version 1"), "{err}");
        assert!(err.detail().contains("only version 6"), "{err}");
    }

    /// A version-2 file (before the change log, labels and key moves) gains the log and
    /// the columns and opens, its families intact; nothing else about it changes.
    #[test]
    fn a_version_2_file_gains_the_change_log_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch(
            "INSERT INTO tok_schema VALUES (2);
             INSERT INTO tok_denylist VALUES ('j', 5);
             INSERT INTO tok_families VALUES ('f', 's', '{}', 1, 2, 1, 5, 0, 'k', x'00', NULL,
                                              NULL, NULL);",
        )
        .unwrap();
        drop(conn);
        let conn = open_connection(&path, Durability::Full).unwrap();
        init_schema(&conn, &path).unwrap();
        type Read = (i64, i64, i64, String, Option<String>, String);
        let (version, denied, log, label, moved, login): Read = conn
            .query_row(
                "SELECT (SELECT version FROM tok_schema), (SELECT count(*) FROM tok_denylist),
                        (SELECT count(*) FROM tok_changes), (SELECT label FROM tok_families),
                        (SELECT moved_from_key FROM tok_families),
                        (SELECT login FROM tok_families)",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            (version, denied, log, label.as_str(), moved, login.as_str()),
            (6, 1, 0, "", None, "")
        );
    }

    #[test]
    fn private_databases_are_refused() {
        for path in ["", ":memory:", "file::memory:?cache=shared", "file:x.db"] {
            let err = check_shareable(Path::new(path)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{path}");
        }
        check_shareable(Path::new("tok.db")).unwrap();
    }
}
