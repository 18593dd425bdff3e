//! What to do when SQLite answers "busy": another connection holds a lock.

use std::time::Duration;

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
