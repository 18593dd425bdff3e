//! Connections for reads, and how a blocking SQLite call is run from async code.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::error::Error;
use crate::store::sqlite::Durability;
use crate::store::sqlite::file::open_connection;

/// Connections for reads, opened on demand up to `max`, handed out one caller at a time.
#[derive(Debug)]
pub(super) struct Pool {
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
    /// A pool of at most `max` connections (at least 1), starting with `first`.
    pub(super) fn new(
        path: PathBuf,
        durability: Durability,
        max: usize,
        first: Connection,
    ) -> Self {
        Self {
            path,
            durability,
            max: max.max(1),
            state: Mutex::new(PoolState {
                idle: vec![first],
                open: 1,
            }),
            returned: Condvar::new(),
        }
    }

    /// Takes an idle connection, opens one if under `max`, or waits for one.
    pub(super) fn take(&self) -> Result<Connection, Error> {
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

    pub(super) fn give_back(&self, conn: Connection) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .idle
            .push(conn);
        self.returned.notify_one();
    }
}

/// How long an operation keeps retrying when SQLite reports the database busy.
const BUSY_DEADLINE: Duration = Duration::from_secs(10);

/// Runs `op`, retrying on `SQLITE_BUSY`. SQLite may return BUSY without consulting the
/// busy timeout when waiting could deadlock; each operation is a single transaction that
/// rolled back entirely, so running it again is safe.
pub(super) fn retry_busy<R>(mut op: impl FnMut() -> rusqlite::Result<R>) -> rusqlite::Result<R> {
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

pub(super) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::store("SQLite worker stopped", e))?
}
