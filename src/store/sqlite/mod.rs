//! The embedded store: one SQLite file (rusqlite, bundled).
//!
//! WAL journal, `synchronous=FULL` (a rotation the caller saw succeed survives a crash or
//! power cut), a busy timeout so writers queue instead of failing, and every write inside a
//! `BEGIN IMMEDIATE` transaction: the write lock is taken before the family is read, so two
//! processes on one file can never both see the same live token. Concurrent writes of one
//! process share durable transactions (group commit, see `writer`); reads use a small pool
//! of connections. The schema is created and versioned by the store.

mod busy;
mod changes;
mod file;
mod pool;
mod rows;
mod writer;

pub use writer::WriterStopped;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Error;
use std::sync::Weak;

use crate::model::change::{Change, ChangeListener, Feed};
use crate::model::family::{FamilyRecord, Logout, ended_by_lifetime};
use crate::model::resolve::{resolve_logout, resolve_rotation};
use crate::model::store::{
    Created, FamiliesByKey, LogoutRequest, MAX_LISTED, OnlineState, RotationOutcome,
    RotationRequest, Store, deny_until, listed,
};
use crate::numeric_date::NumericDate;
use busy::retry_busy;
use file::{check_shareable, init_schema, open_connection, prepare_file};
use pool::{Pool, blocking};
use rows::{INSERT_FAMILY, gen_i64, is_unique_violation, ms, read_family, revoke, write_family};

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a reported rotation survives power loss (default).
    Full,
    /// `synchronous=NORMAL`: survives a process crash; the last commits may be lost on
    /// power loss. Faster.
    Normal,
    /// `synchronous=OFF`: for benchmarks that measure CPU cost without the disk. A power
    /// loss (not a process crash) can lose commits or corrupt the file. Never for sessions
    /// that matter.
    OffForBenchmarks,
}

/// The default number of connections: enough for concurrent rotations from one process
/// to queue at SQLite's own write lock rather than at a single connection.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// How often a store looks for other processes' revocations in the file's change log.
pub use changes::POLL as CHANGE_POLL;

/// Families and denylist in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    /// Connections for reads.
    pool: Arc<Pool>,
    /// The one writer thread (which ends when every clone is dropped).
    writer: writer::Writer,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` with [`Durability::Full`]. The file
    /// is created with mode 0600; its folder must exist (a mistyped path is a
    /// [`Config`](crate::ErrorKind::Config) error naming the folder, never a tree of new
    /// folders).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = tok::store::SqliteStore::open(dir.path().join("tok.db")).await?;
    /// assert!(store.path().exists());
    /// let typo = tok::store::SqliteStore::open(dir.path().join("sesions/tok.db")).await;
    /// assert_eq!(typo.unwrap_err().kind(), tok::ErrorKind::Config);
    /// let err = tok::store::SqliteStore::open(":memory:").await.unwrap_err();
    /// assert_eq!(err.kind(), tok::ErrorKind::Config);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store) when the file cannot be opened or carries a newer
    /// schema; [`Config`](crate::ErrorKind::Config) when its folder does not exist.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(path, Durability::Full).await
    }

    /// Opens the store with the given durability.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, Error> {
        Self::open_pooled(path, durability, DEFAULT_POOL_SIZE).await
    }

    /// Opens the store with the given durability and at most `connections` connections
    /// (at least 1).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_pooled(
        path: impl AsRef<Path>,
        durability: Durability,
        connections: usize,
    ) -> Result<Self, Error> {
        let path = path.as_ref().to_owned();
        check_shareable(&path)?;
        let opened = path.clone();
        // The writer's connection creates or checks the schema before anyone uses the
        // store; the first read connection is opened beside it.
        let (writer_conn, first) = blocking(move || {
            prepare_file(&opened)?;
            let writer_conn = open_connection(&opened, durability)?;
            init_schema(&writer_conn, &opened)?;
            Ok((writer_conn, open_connection(&opened, durability)?))
        })
        .await?;
        let writer = writer::Writer::start(writer_conn)
            .map_err(|e| Error::store("starting the SQLite writer", e))?;
        Ok(Self {
            pool: Arc::new(Pool::new(path.clone(), durability, connections, first)),
            writer,
            path,
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the read `f` with a pooled connection on the blocking thread pool.
    async fn with<R: Send + 'static>(
        &self,
        what: &'static str,
        f: impl Fn(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, Error> {
        let pool = Arc::clone(&self.pool);
        blocking(move || {
            let mut conn = pool.take()?;
            let result = retry_busy(|| f(&mut conn)).map_err(|e| Error::store(what, e));
            // Every statement runs alone or in a transaction that rolled back when
            // dropped, so the connection is clean to reuse.
            pool.give_back(conn);
            result
        })
        .await
    }

    /// Queues the write `f` for the writer thread, which runs it in its own savepoint of
    /// a shared `BEGIN IMMEDIATE` transaction; answers after that transaction committed.
    async fn write<R: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, Error> {
        self.writer.submit(what, f).await
    }
}

impl Store for SqliteStore {
    async fn create_family(&self, f: &FamilyRecord, _now: NumericDate) -> Result<Created, Error> {
        let f = f.clone();
        self.write("creating a family", move |conn: &Connection| {
            let inserted = conn.prepare_cached(INSERT_FAMILY)?.execute(params![
                f.family_id,
                f.subject,
                f.claims,
                ms(f.created_at),
                ms(f.expires_at),
                ms(f.last_used_at),
                i64::try_from(f.idle_timeout.as_millis()).unwrap_or(i64::MAX),
                gen_i64(f.generation),
                f.secret.key_id,
                &f.secret.nonce[..],
                f.previous_rotated_at.map(ms),
                f.fingerprint.as_ref().map(|h| &h[..]),
                f.revoked_at.map(ms),
                gen_i64(f.claims_generation),
                f.label,
                f.login,
            ]);
            // An id that collided is reported so the caller draws a new one; never
            // overwritten.
            match inserted {
                Ok(_) => Ok(Created::Stored),
                Err(e) if is_unique_violation(&e) => Ok(Created::IdTaken),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn rotate(&self, request: &RotationRequest) -> Result<RotationOutcome, Error> {
        let r = request.clone();
        self.write("rotating a refresh token", move |conn: &Connection| {
            let family = read_family(conn, r.presented.family_id())?;
            let resolved = resolve_rotation(family.as_ref(), &r);
            if let (Some(before), Some(next)) = (&family, resolved.to_write()) {
                write_family(conn, before, next)?;
            }
            Ok(resolved.outcome)
        })
        .await
    }

    async fn logout(&self, r: &LogoutRequest) -> Result<Logout, Error> {
        let r = r.clone();
        self.write("logging out", move |conn: &Connection| {
            let family = read_family(conn, r.presented.family_id())?;
            let (revokes, outcome) = resolve_logout(family.as_ref(), &r);
            if revokes {
                revoke(conn, r.presented.family_id(), r.now)?;
            }
            Ok(outcome)
        })
        .await
    }

    async fn revoke_family(&self, family_id: &str, now: NumericDate) -> Result<bool, Error> {
        let id = family_id.to_owned();
        self.write("revoking a family", move |conn: &Connection| {
            revoke(conn, &id, now)
        })
        .await
    }

    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, Error> {
        let owned = subject.to_owned();
        self.write("revoking a subject", move |conn: &Connection| {
            let n = conn.execute(
                "UPDATE tok_families SET revoked_ms = ?2 WHERE subject = ?1 AND revoked_ms IS NULL",
                params![owned, ms(now)],
            )?;
            if n > 0 {
                changes::record(conn, &Change::Subject(owned))?;
            }
            Ok(n as u64)
        })
        .await
    }

    async fn deny_jti(&self, jti: &str, exp: NumericDate, _now: NumericDate) -> Result<(), Error> {
        let owned = jti.to_owned();
        let until = ms(deny_until(exp));
        self.write("denylisting a jti", move |conn: &Connection| {
            conn.execute(
                "INSERT INTO tok_denylist (jti, until_ms) VALUES (?1, ?2)
                     ON CONFLICT (jti) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)",
                params![owned, until],
            )?;
            changes::record(conn, &Change::Jti(owned))?;
            Ok(())
        })
        .await
    }

    async fn is_jti_denied(&self, jti: &str, now: NumericDate) -> Result<bool, Error> {
        let jti = jti.to_owned();
        self.with("reading the denylist", move |conn| {
            conn.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM tok_denylist WHERE jti = ?1 AND until_ms > ?2)",
            )?
            .query_row(params![jti, ms(now)], |r| r.get::<_, bool>(0))
        })
        .await
    }

    async fn family(&self, family_id: &str) -> Result<Option<FamilyRecord>, Error> {
        let id = family_id.to_owned();
        self.with("reading a family", move |conn| read_family(conn, &id))
            .await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// The file's change log, read by a watcher thread whenever another connection
    /// committed (see `changes`); the thread is joined when the returned feed is dropped.
    async fn follow_changes(&self, listener: Weak<dyn ChangeListener>) -> Result<Feed, Error> {
        let path = self.path.clone();
        let watcher = blocking(move || changes::watch(&path, listener)).await?;
        Ok(Feed::Following(Box::new(writer::Joined::new(watcher))))
    }

    async fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> Result<Vec<FamilyRecord>, Error> {
        let (subject_name, subject) = (subject, subject.to_owned());
        let found = self
            .with("listing a subject's sessions", move |conn| {
                // Unrevoked ones by the subject index; which are live is the model's rule.
                let mut statement = conn.prepare_cached(rows::SELECT_SUBJECT)?;
                let families = statement
                    .query_map(
                        params![subject, MAX_LISTED as i64 * 2],
                        rows::family_from_row,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(families)
            })
            .await?;
        Ok(listed(found, subject_name, now))
    }

    /// Every unrevoked family's key and lifetime fields, the lifetime rule the model's.
    async fn families_by_key(&self, now: NumericDate) -> Result<FamiliesByKey, Error> {
        self.with("counting sessions by key", move |conn| {
            let mut statement = conn.prepare_cached(rows::SELECT_KEY_LIFETIMES)?;
            let mut found = statement.query([])?;
            let mut counts = FamiliesByKey::new();
            while let Some(row) = found.next()? {
                let idle = rows::millis(row.get(3)?);
                if !ended_by_lifetime(
                    rows::date(row.get(1)?)?,
                    rows::date(row.get(2)?)?,
                    idle,
                    now,
                ) {
                    *counts.entry(row.get::<_, String>(0)?).or_default() += 1;
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn end_session(
        &self,
        subject: &str,
        family_id: &str,
        now: NumericDate,
    ) -> Result<bool, Error> {
        let (owned_subject, id) = (subject.to_owned(), family_id.to_owned());
        self.write("ending a session", move |conn: &Connection| {
            // The subject is checked in the same statement that revokes.
            let owner: Option<String> = conn
                .prepare_cached("SELECT subject FROM tok_families WHERE id = ?1")?
                .query_row([&id], |r| r.get(0))
                .optional()?;
            if owner.as_deref() != Some(owned_subject.as_str()) {
                return Ok(false);
            }
            revoke(conn, &id, now)
        })
        .await
    }

    async fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> Result<OnlineState, Error> {
        let (sid, jti) = (sid.map(str::to_owned), jti.map(str::to_owned));
        // Both reads in one hop to the blocking pool, on one connection.
        self.with("reading a session's state", move |conn| {
            let jti_denied = match &jti {
                Some(jti) => conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM tok_denylist WHERE jti = ?1 AND until_ms > ?2)",
                    )?
                    .query_row(params![jti, ms(now)], |r| r.get::<_, bool>(0))?,
                None => false,
            };
            let family = match &sid {
                Some(sid) => read_family(conn, sid)?,
                None => None,
            };
            Ok(OnlineState { jti_denied, family })
        })
        .await
    }

    async fn purge_expired(&self, now: NumericDate) -> Result<u64, Error> {
        let now = crate::model::store::purge_horizon(now);
        self.write("purging expired records", move |conn: &Connection| {
            let tx = conn;
            let now = ms(now);
            // Mirrors `FamilyRecord::is_expired`: dead once `max(now, last_used)` reaches its
            // absolute or idle end.
            let families = tx.execute(
                "DELETE FROM tok_families WHERE max(?1, last_used_ms) >= min(expires_ms, last_used_ms + idle_ms)",
                [now],
            )?;
            let denied = tx.execute("DELETE FROM tok_denylist WHERE until_ms <= ?1", [now])?;
            Ok((families + denied) as u64)
        })
        .await
    }
}
