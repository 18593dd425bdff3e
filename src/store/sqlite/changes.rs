//! How processes sharing one SQLite file learn of each other's revocations, to keep their
//! online-check caches current: a short change log written in the transaction of each
//! write that ends a family or denylists a `jti`, and a watcher thread per store that
//! reads it whenever `PRAGMA data_version` says another connection committed.
//!
//! The watcher never lets a cache answer while it could have missed a change: when it
//! cannot read the log, when the log was trimmed past what it had read, or when the file
//! at the store's path is no longer the file the store opened (replaced or moved), the
//! cache stops serving until the watcher has caught up (or, for a replaced file, for
//! good: the store's own connections still hold the old one).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};

use crate::error::Error;
use crate::model::change::{Change, ChangeListener, SubjectDigest};

/// The listener a watcher tells; weak, so that the watcher ends with it.
type Listener = std::sync::Weak<dyn ChangeListener>;

/// The change log's table, created with the schema.
pub(super) const SCHEMA: &str = "
CREATE TABLE tok_changes (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind  INTEGER NOT NULL,
    key   TEXT NOT NULL
) STRICT;
";

/// How many entries the log keeps: a watcher further behind than this drops its whole
/// cache instead of reading what it missed.
const KEEP: i64 = 4096;

/// How often a watcher looks for other connections' commits: the bound on how long
/// another process may still accept a session revoked here.
pub const POLL: Duration = Duration::from_millis(2);

/// A change as a row of the log. The log is a local table with no size limit, so a
/// subject is kept whole (kind 2); a digest (kind 5) is written only for a change that
/// arrived as one.
fn encode(change: &Change) -> (i64, std::borrow::Cow<'_, str>) {
    match change {
        Change::Family(id) => (1, id.into()),
        Change::Subject(subject) => (2, subject.into()),
        Change::Jti(jti) => (3, jti.into()),
        Change::Everything => (4, "".into()),
        Change::SubjectDigest(digest) => (5, digest.to_hex().into()),
    }
}

fn decode(kind: i64, key: String) -> Change {
    match kind {
        1 => Change::Family(key),
        2 => Change::Subject(key),
        3 => Change::Jti(key),
        5 => SubjectDigest::from_hex(&key).map_or(Change::Everything, Change::SubjectDigest),
        // Unknown kinds (a newer tok on the same file) are read as the safest answer.
        _ => Change::Everything,
    }
}

/// Records `change` inside the transaction of the write that made it.
pub(super) fn record(conn: &Connection, change: &Change) -> rusqlite::Result<()> {
    let (kind, key) = encode(change);
    conn.prepare_cached("INSERT INTO tok_changes (kind, key) VALUES (?1, ?2)")?
        .execute(params![kind, key.as_ref()])?;
    let seq = conn.last_insert_rowid();
    conn.prepare_cached("DELETE FROM tok_changes WHERE seq <= ?1")?
        .execute([seq - KEEP])?;
    Ok(())
}

/// The identity of the file at `path` (device and inode), to notice a replaced file.
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok((0, 0))
    }
}

/// A watcher's place in the log.
struct Watcher {
    path: PathBuf,
    file: (u64, u64),
    conn: Option<Connection>,
    data_version: i64,
    seq: i64,
}

impl Watcher {
    /// Connects and reads where the log stands; the cache then starts from nothing.
    fn connect(&mut self) -> rusqlite::Result<()> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(1))?;
        self.data_version = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        self.seq = conn.query_row("SELECT coalesce(max(seq), 0) FROM tok_changes", [], |r| {
            r.get(0)
        })?;
        self.conn = Some(conn);
        Ok(())
    }

    /// The changes committed since the last look; `Everything` when some may be lost.
    fn poll(&mut self) -> rusqlite::Result<Vec<Change>> {
        let Some(conn) = &self.conn else {
            return Ok(Vec::new());
        };
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if version == self.data_version {
            return Ok(Vec::new());
        }
        self.data_version = version;
        let mut statement = conn.prepare_cached(
            "SELECT seq, kind, key FROM tok_changes WHERE seq >= ?1 ORDER BY seq",
        )?;
        let rows = statement
            .query_map([self.seq.max(1)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // The first row must be the last one read (or the log's first ever): otherwise
        // the log was trimmed past this watcher's place.
        let expected = self.seq.max(1);
        let mut changes = Vec::new();
        if rows.first().is_some_and(|(seq, _, _)| *seq != expected) {
            changes.push(Change::Everything);
        }
        for (seq, kind, key) in rows {
            if seq > self.seq {
                changes.push(decode(kind, key));
                self.seq = seq;
            }
        }
        Ok(changes)
    }
}

/// Starts the watcher of the store at `path` for `listener`: a thread that ends when the
/// listener is dropped. Connects before returning, and only then sets the listener
/// hearing: nothing is answered before the watcher is in place.
pub(super) fn watch(path: &Path, listener: Listener) -> Result<std::thread::JoinHandle<()>, Error> {
    let fail = |e: rusqlite::Error| Error::store("watching the SQLite change log", e);
    let file = identity(path).map_err(|e| Error::store("watching the SQLite change log", e))?;
    let mut watcher = Watcher {
        path: path.to_owned(),
        file,
        conn: None,
        data_version: 0,
        seq: 0,
    };
    watcher.connect().map_err(fail)?;
    if let Some(listener) = listener.upgrade() {
        listener.set_hearing(true);
    }
    std::thread::Builder::new()
        .name("tok-sqlite-changes".into())
        .spawn(move || run(watcher, &listener))
        .map_err(|e| Error::store("starting the SQLite change watcher", e))
}

fn run(mut watcher: Watcher, listener: &Listener) {
    loop {
        std::thread::sleep(POLL);
        let Some(listener) = listener.upgrade() else {
            return;
        };
        if identity(&watcher.path).ok() != Some(watcher.file) {
            // Another file now stands at the path: this store's connections read the old
            // one, so nothing this watcher could read would describe them. Never serve
            // again.
            tracing::warn!(
                target: "tok::store",
                path = %watcher.path.display(),
                "the SQLite file was replaced or moved; online checks now always read the store"
            );
            listener.set_hearing(false);
            return;
        }
        if watcher.conn.is_none() {
            if watcher.connect().is_ok() {
                listener.set_hearing(true);
            }
            continue;
        }
        match watcher.poll() {
            Ok(changes) => {
                for change in &changes {
                    listener.changed(change);
                }
            }
            Err(e) => {
                tracing::warn!(target: "tok::store", error = %e, "the SQLite change log cannot be read; online checks read the store until it can");
                listener.set_hearing(false);
                watcher.conn = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> (tempfile::TempDir, PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL").unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        (dir, path, conn)
    }

    fn watcher(path: &Path) -> Watcher {
        let mut w = Watcher {
            path: path.to_owned(),
            file: identity(path).unwrap(),
            conn: None,
            data_version: 0,
            seq: 0,
        };
        w.connect().unwrap();
        w
    }

    #[test]
    fn another_connections_changes_are_read_once_in_order() {
        let (_dir, path, writer) = log();
        let mut w = watcher(&path);
        assert_eq!(w.poll().unwrap(), []);
        for change in [
            Change::Family("f".into()),
            Change::Subject("s".into()),
            Change::Jti("j".into()),
            Change::Everything,
            Change::SubjectDigest(crate::model::change::subject_digest("s")),
        ] {
            record(&writer, &change).unwrap();
        }
        assert_eq!(
            w.poll().unwrap(),
            [
                Change::Family("f".into()),
                Change::Subject("s".into()),
                Change::Jti("j".into()),
                Change::Everything,
                Change::SubjectDigest(crate::model::change::subject_digest("s")),
            ]
        );
        assert_eq!(w.poll().unwrap(), [], "nothing twice");
        record(&writer, &Change::Family("g".into())).unwrap();
        assert_eq!(w.poll().unwrap(), [Change::Family("g".into())]);
        assert_eq!(decode(9, "x".into()), Change::Everything);
    }

    #[test]
    fn a_watcher_left_behind_by_trimming_drops_everything() {
        let (_dir, path, writer) = log();
        record(&writer, &Change::Family("first".into())).unwrap();
        let mut w = watcher(&path);
        for i in 0..KEEP + 2 {
            record(&writer, &Change::Family(format!("f{i}"))).unwrap();
        }
        let count: i64 = writer
            .query_row("SELECT count(*) FROM tok_changes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, KEEP, "the log is trimmed");
        let changes = w.poll().unwrap();
        assert_eq!(changes.first(), Some(&Change::Everything));
        // Not behind: no Everything.
        record(&writer, &Change::Jti("j".into())).unwrap();
        assert_eq!(w.poll().unwrap(), [Change::Jti("j".into())]);
    }
}
