//! Connections for reads, and how a blocking SQLite call is run from async code.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

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

pub(super) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::store("SQLite worker stopped", e))?
}
