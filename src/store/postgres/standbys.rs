//! Writes confirmed only once standbys have them ([`PostgresOptions::wait_replicas`]).
//!
//! PostgreSQL's streaming replication is asynchronous unless the server is told otherwise
//! (`synchronous_standby_names`), so a logout it confirmed may be missing from the standby
//! that a failover promotes: the session lives again. Asked to, the store follows such a
//! write with a look at `pg_stat_replication` until enough standbys have flushed past the
//! server's WAL position taken after the write, as Redis's `WAIT` does. Unlike a
//! synchronous commit that a timeout cancels (the server then answers COMMIT with only a
//! warning, "the transaction has already committed locally"), a write too few standbys
//! acknowledged in time is an error here: applied on the primary, but not confirmed.
//!
//! [`PostgresOptions::wait_replicas`]: super::PostgresOptions::wait_replicas

use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::store::postgres::{PostgresStore, pg_error};

/// How many standbys must acknowledge which writes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wait {
    pub replicas: u32,
    pub every_write: bool,
}

/// How many times the standbys are looked at again at once before pausing.
const QUICK_LOOKS: u32 = 8;

/// The longest pause between two looks at the standbys.
const MAX_PAUSE: Duration = Duration::from_millis(10);

impl PostgresStore {
    /// After a revoking write: returns once the standbys asked for have it.
    pub(super) async fn replicated(&self, what: &str) -> Result<(), Error> {
        match self.standbys {
            Some(wait) => self.acknowledged(what, wait.replicas).await,
            None => Ok(()),
        }
    }

    /// After a login or a rotation: as [`replicated`](Self::replicated) when every write
    /// waits.
    pub(super) async fn replicated_write(&self, what: &str) -> Result<(), Error> {
        match self.standbys {
            Some(wait) if wait.every_write => self.acknowledged(what, wait.replicas).await,
            _ => Ok(()),
        }
    }

    async fn acknowledged(&self, what: &str, replicas: u32) -> Result<(), Error> {
        let deadline = Instant::now() + self.timeout;
        let client = self.client().await?;
        // The position after the write, and a first look, in one round trip.
        let first = client
            .prepare_cached(
                "SELECT l::text, (SELECT count(*) FROM pg_stat_replication WHERE flush_lsn >= l) \
                 FROM pg_current_wal_lsn() AS l",
            )
            .await
            .map_err(|e| pg_error(what, e))?;
        let row = client
            .query_one(&first, &[])
            .await
            .map_err(|e| pg_error(what, e))?;
        let lsn: String = row.get(0);
        let mut have: i64 = row.get(1);
        let count = client
            .prepare_cached(
                "SELECT count(*) FROM pg_stat_replication WHERE flush_lsn >= $1::text::pg_lsn",
            )
            .await
            .map_err(|e| pg_error(what, e))?;
        // A standby on a fast link flushes within a few hundred microseconds: look again
        // at once a few times (each look is one round trip) before sleeping, since the
        // runtime's timer sleeps a whole millisecond at least.
        let mut looks = 0u32;
        let mut pause = Duration::from_millis(1);
        loop {
            if have >= i64::from(replicas) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Store,
                    format!(
                        "{what}: done on the primary, but {have} of {replicas} standbys had it \
                         within {} ms, so it is not confirmed (a failover now could undo it; \
                         the store's role needs pg_monitor to see the standbys)",
                        self.timeout.as_millis()
                    ),
                ));
            }
            looks += 1;
            if looks > QUICK_LOOKS {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            have = client
                .query_one(&count, &[&lsn])
                .await
                .map_err(|e| pg_error(what, e))?
                .get(0);
        }
    }
}
