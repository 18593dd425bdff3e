//! The embedded store: one SQLite file (rusqlite, bundled).
//!
//! WAL journal, `synchronous=FULL` (a rotation the caller saw succeed survives a crash or
//! power cut), a busy timeout so writers queue instead of failing, and every write inside a
//! `BEGIN IMMEDIATE` transaction: the write lock is taken before the family is read, so two
//! processes on one file can never both see the same live token. Concurrent writes of one
//! process share durable transactions (group commit, see `writer`); reads use a small pool
//! of connections. The schema is created and versioned by the store.

mod changes;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::error::{Error, ErrorKind};
use crate::model::cache::{Change, DEFAULT_CACHE_CAPACITY, OnlineCache, OnlineState};
use crate::model::family::{FamilyRecord, Logout};
use crate::model::resolve::{resolve_logout, resolve_rotation};
use crate::model::store::{
    Created, LogoutRequest, RotationOutcome, RotationRequest, Store, deny_until,
};
use crate::model::token::FamilySecret;
use crate::numeric_date::NumericDate;

/// The schema version this code writes and reads. Version 1 kept one row per refresh
/// token ever minted; version 2 derives tokens and keeps one row per family; version 3
/// adds the change log (`changes`), which a version-2 file gains when opened.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
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
    /// Online-check answers, kept current by this store's writes and its change watcher.
    cache: Option<Arc<OnlineCache>>,
}

/// Connections for reads, opened on demand up to `max`, handed out one caller at a time.
#[derive(Debug)]
struct Pool {
    path: PathBuf,
    durability: Durability,
    max: usize,
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Debug)]
struct PoolState {
    idle: Vec<Connection>,
    open: usize,
}

impl Pool {
    /// Takes an idle connection, opens one if under `max`, or waits for one.
    fn take(&self) -> Result<Connection, Error> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(conn);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                let opened = open_connection(&self.path, self.durability);
                if opened.is_err() {
                    self.state.lock().unwrap_or_else(|p| p.into_inner()).open -= 1;
                    self.returned.notify_one();
                }
                return opened;
            }
            state = self.returned.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give_back(&self, conn: Connection) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .idle
            .push(conn);
        self.returned.notify_one();
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` with [`Durability::Full`]. A
    /// missing folder is created (mode 0700), the file with mode 0600.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = tok::store::SqliteStore::open(dir.path().join("sessions/tok.db")).await?;
    /// assert!(store.path().exists());
    /// let err = tok::store::SqliteStore::open(":memory:").await.unwrap_err();
    /// assert_eq!(err.kind(), tok::ErrorKind::Config);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) when the file cannot be opened or carries a newer
    /// schema.
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
        let cache = Arc::new(OnlineCache::new(DEFAULT_CACHE_CAPACITY));
        let (watched, weak) = (path.clone(), Arc::downgrade(&cache));
        blocking(move || changes::watch(&watched, weak)).await?;
        Ok(Self {
            cache: Some(cache),
            pool: Arc::new(Pool {
                path: path.clone(),
                durability,
                max: connections.max(1),
                state: Mutex::new(PoolState {
                    idle: vec![first],
                    open: 1,
                }),
                returned: Condvar::new(),
            }),
            writer,
            path,
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Without an online-check cache: every online check reads the file. (The cache
    /// answers from memory, and learns of other processes' revocations within
    /// [`CHANGE_POLL`] plus the time to read them.)
    pub fn without_online_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    fn tell(&self, change: impl FnOnce() -> Change) {
        OnlineCache::tell(self.cache.as_deref(), change);
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

/// How long an operation keeps retrying when SQLite reports the database busy.
const BUSY_DEADLINE: Duration = Duration::from_secs(10);

/// Runs `op`, retrying on `SQLITE_BUSY`. SQLite may return BUSY without consulting the
/// busy timeout when waiting could deadlock; each operation is a single transaction that
/// rolled back entirely, so running it again is safe.
fn retry_busy<R>(mut op: impl FnMut() -> rusqlite::Result<R>) -> rusqlite::Result<R> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match op() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && start.elapsed() < BUSY_DEADLINE =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::store("SQLite worker stopped", e))?
}

/// Refuses paths under which every pooled connection would get a private database:
/// SQLite's `:memory:`, the empty path (a temporary file per connection) and URI
/// filenames (`file:...`, which may say `mode=memory`). A store must be one shared file.
fn check_shareable(path: &Path) -> Result<(), Error> {
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
fn prepare_file(path: &Path) -> Result<(), Error> {
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
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(parent)
            .map_err(|e| io("creating the folder of", e))?;
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
fn open_connection(path: &Path, durability: Durability) -> Result<Connection, Error> {
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
fn init_schema(conn: &Connection, path: &Path) -> Result<(), Error> {
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
        tx.execute_batch(changes::SCHEMA)?;
        tx.execute(
            "INSERT INTO tok_schema (version) VALUES (?1)",
            [SCHEMA_VERSION],
        )?;
    }
    let mut version: i64 = tx.query_row("SELECT version FROM tok_schema", [], |r| r.get(0))?;
    if version == 2 {
        // The one upgrade: a table added, nothing existing touched, in this transaction.
        tx.execute_batch(changes::SCHEMA)?;
        tx.execute("UPDATE tok_schema SET version = ?1", [SCHEMA_VERSION])?;
        version = SCHEMA_VERSION;
    }
    tx.commit()?;
    Ok(version)
}

fn ms(t: NumericDate) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

fn date(ms: i64) -> rusqlite::Result<NumericDate> {
    u64::try_from(ms)
        .ok()
        .and_then(|m| NumericDate::from_millis(m).ok())
        .ok_or_else(|| rusqlite::Error::IntegralValueOutOfRange(0, ms))
}

fn blob32(blob: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    let len = blob.len();
    blob.try_into().map_err(|_| {
        rusqlite::Error::InvalidColumnType(
            0,
            format!("a 32-byte value of {len} bytes"),
            rusqlite::types::Type::Blob,
        )
    })
}

fn family_from_row(row: &Row<'_>) -> rusqlite::Result<FamilyRecord> {
    Ok(FamilyRecord {
        family_id: row.get(0)?,
        subject: row.get(1)?,
        claims: row.get(2)?,
        created_at: date(row.get(3)?)?,
        expires_at: date(row.get(4)?)?,
        last_used_at: date(row.get(5)?)?,
        idle_timeout: Duration::from_millis(u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0)),
        generation: u64::try_from(row.get::<_, i64>(7)?).unwrap_or(0),
        secret: FamilySecret {
            key_id: row.get(8)?,
            nonce: blob32(row.get(9)?)?,
        },
        previous_rotated_at: row.get::<_, Option<i64>>(10)?.map(date).transpose()?,
        fingerprint: row.get::<_, Option<Vec<u8>>>(11)?.map(blob32).transpose()?,
        revoked_at: row.get::<_, Option<i64>>(12)?.map(date).transpose()?,
    })
}

fn read_family(conn: &Connection, id: &str) -> rusqlite::Result<Option<FamilyRecord>> {
    // Cached statements: compiling SQL on every rotation would lengthen the time the
    // write lock is held, which is what bounds throughput under concurrency.
    conn.prepare_cached(SELECT_FAMILY)?
        .query_row([id], family_from_row)
        .optional()
}

const SELECT_FAMILY: &str = "SELECT id, subject, claims, created_ms, expires_ms, last_used_ms, idle_ms, \
     generation, key_id, nonce, prev_rotated_ms, fingerprint, revoked_ms FROM tok_families WHERE id = ?1";

const INSERT_FAMILY: &str = "INSERT INTO tok_families (id, subject, claims, created_ms, expires_ms, \
     last_used_ms, idle_ms, generation, key_id, nonce, prev_rotated_ms, fingerprint, revoked_ms) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

fn gen_i64(g: u64) -> i64 {
    i64::try_from(g).unwrap_or(i64::MAX)
}

/// Whether `e` is a primary-key or unique constraint violation (by SQLite's extended
/// code, not by message text).
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// Persists a rotation's outcome. The guard on the generation is redundant under
/// IMMEDIATE and kept so that the update can never apply to a state other than the one
/// decided on.
fn write_family(
    tx: &Connection,
    before: &FamilyRecord,
    next: &FamilyRecord,
) -> rusqlite::Result<()> {
    let changed = tx
        .prepare_cached(
            "UPDATE tok_families SET claims = ?2, last_used_ms = ?3, generation = ?4,
                 prev_rotated_ms = ?5, revoked_ms = ?6
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
        ])?;
    if changed == 1 {
        Ok(())
    } else {
        Err(rusqlite::Error::StatementChangedRows(changed))
    }
}

/// Marks family `id` revoked at `now` unless it already is; returns whether it was live.
/// A revocation goes in the change log in the same transaction.
fn revoke(conn: &Connection, id: &str, now: NumericDate) -> rusqlite::Result<bool> {
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
        let outcome = self
            .write("rotating a refresh token", move |conn: &Connection| {
                let family = read_family(conn, r.presented.family_id())?;
                let resolved = resolve_rotation(family.as_ref(), &r);
                if let (Some(before), Some(next)) = (&family, resolved.to_write()) {
                    write_family(conn, before, next)?;
                    if next.revoked_at.is_some() {
                        changes::record(conn, &Change::Family(next.family_id.clone()))?;
                    }
                }
                Ok(resolved.outcome)
            })
            .await;
        if !matches!(
            outcome,
            Ok(RotationOutcome::Rotated(_) | RotationOutcome::Grace(_))
        ) {
            self.tell(|| Change::Family(request.presented.family_id().to_owned()));
        }
        outcome
    }

    async fn logout(&self, r: &LogoutRequest) -> Result<Logout, Error> {
        let id = r.presented.family_id().to_owned();
        let r = r.clone();
        let outcome = self
            .write("logging out", move |conn: &Connection| {
                let family = read_family(conn, r.presented.family_id())?;
                let (revokes, outcome) = resolve_logout(family.as_ref(), &r);
                if revokes {
                    revoke(conn, r.presented.family_id(), r.now)?;
                }
                Ok(outcome)
            })
            .await;
        self.tell(|| Change::Family(id));
        outcome
    }

    async fn revoke_family(&self, family_id: &str, now: NumericDate) -> Result<bool, Error> {
        let id = family_id.to_owned();
        let revoked = self
            .write("revoking a family", move |conn: &Connection| {
                revoke(conn, &id, now)
            })
            .await;
        self.tell(|| Change::Family(family_id.to_owned()));
        revoked
    }

    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, Error> {
        let owned = subject.to_owned();
        let count = self
            .write("revoking a subject", move |conn: &Connection| {
                let n = conn.execute(
                    "UPDATE tok_families SET revoked_ms = ?2 WHERE subject = ?1 AND revoked_ms IS NULL",
                    params![owned, ms(now)],
                )?;
                if n > 0 {
                    changes::record(conn, &Change::Subject(owned))?;
                }
                Ok(n as u64)
            })
            .await;
        self.tell(|| Change::Subject(subject.to_owned()));
        count
    }

    async fn deny_jti(&self, jti: &str, exp: NumericDate, _now: NumericDate) -> Result<(), Error> {
        let owned = jti.to_owned();
        let until = ms(deny_until(exp));
        let denied = self
            .write("denylisting a jti", move |conn: &Connection| {
                conn.execute(
                    "INSERT INTO tok_denylist (jti, until_ms) VALUES (?1, ?2)
                     ON CONFLICT (jti) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)",
                    params![owned, until],
                )?;
                changes::record(conn, &Change::Jti(owned))?;
                Ok(())
            })
            .await;
        self.tell(|| Change::Jti(jti.to_owned()));
        denied
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

    fn online_cache(&self) -> Option<&OnlineCache> {
        self.cache.as_deref()
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(err.detail().contains("only version 3"), "{err}");
    }

    /// A version-2 file (before the change log) gains the log and opens, its families
    /// intact; nothing else about it changes.
    #[test]
    fn a_version_2_file_gains_the_change_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch(
            "INSERT INTO tok_schema VALUES (2);
             INSERT INTO tok_denylist VALUES ('j', 5);",
        )
        .unwrap();
        drop(conn);
        let conn = open_connection(&path, Durability::Full).unwrap();
        init_schema(&conn, &path).unwrap();
        let (version, denied, log): (i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT version FROM tok_schema), (SELECT count(*) FROM tok_denylist),
                        (SELECT count(*) FROM tok_changes)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((version, denied, log), (3, 1, 0));
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
