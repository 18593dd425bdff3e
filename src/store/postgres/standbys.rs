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

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::store::postgres::{PostgresStore, pg_error};

/// How many standbys must acknowledge which writes, and whether they were missing last
/// time.
#[derive(Debug)]
pub(super) struct Wait {
    replicas: u32,
    every_write: bool,
    /// Set when a write was not acknowledged in time, cleared when one is again. While
    /// set, a rotation that must wait is refused, before it is applied, unless the
    /// standbys acknowledge what is written so far.
    missing: AtomicBool,
}

impl Wait {
    pub(super) fn new(replicas: u32, every_write: bool) -> Self {
        Self {
            replicas,
            every_write,
            missing: AtomicBool::new(false),
        }
    }
}

/// How long the standbys may take to acknowledge what is written so far, when they
/// were missing last time, before a rotation is refused (a healthy standby on a local
/// network takes a millisecond or two).
const PROBE: Duration = Duration::from_millis(100);

/// How many times the standbys are looked at again at once before pausing.
const QUICK_LOOKS: u32 = 8;

/// The longest pause between two looks at the standbys.
const MAX_PAUSE: Duration = Duration::from_millis(10);

impl PostgresStore {
    /// After a revoking write: returns once the standbys asked for have it.
    pub(super) async fn replicated(&self, what: &str) -> Result<(), Error> {
        match &self.standbys {
            Some(wait) => self.acknowledged(what, wait, self.timeout).await,
            None => Ok(()),
        }
    }

    /// After a login or a rotation: as [`replicated`](Self::replicated) when every write
    /// waits.
    pub(super) async fn replicated_write(&self, what: &str) -> Result<(), Error> {
        match &self.standbys {
            Some(wait) if wait.every_write => self.acknowledged(what, wait, self.timeout).await,
            _ => Ok(()),
        }
    }

    /// Before a rotation that will wait: refused, and not applied, while the last wait
    /// found too few standbys and too few stream now. A rotation applied and then not
    /// confirmed leaves its client holding the previous token, which only the grace
    /// window answers; a standby outage longer than that window would end every session
    /// that kept retrying as reuse. Checked only after a failed wait, so it costs
    /// nothing while the standbys keep up.
    pub(super) async fn standbys_ready(&self, what: &str) -> Result<(), Error> {
        let Some(wait) = &self.standbys else {
            return Ok(());
        };
        if !wait.every_write || !wait.missing.load(Ordering::Acquire) {
            return Ok(());
        }
        // The probe: can the standbys acknowledge what is written so far, now?
        let bound = self.timeout.min(PROBE);
        self.acknowledged(what, wait, bound).await.map_err(|_| {
            Error::new(
                ErrorKind::Store,
                format!(
                    "{what}: fewer than {} standbys acknowledge writes, so it could not be \
                     confirmed; not applied",
                    wait.replicas
                ),
            )
        })
    }

    async fn acknowledged(&self, what: &str, wait: &Wait, bound: Duration) -> Result<(), Error> {
        let replicas = wait.replicas;
        let deadline = Instant::now() + bound;
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
                wait.missing.store(false, Ordering::Release);
                return Ok(());
            }
            if Instant::now() >= deadline {
                wait.missing.store(true, Ordering::Release);
                return Err(Error::new(
                    ErrorKind::Store,
                    format!(
                        "{what}: done on the primary, but {have} of {replicas} standbys had it \
                         within {} ms, so it is not confirmed (a failover now could undo it; \
                         the store's role needs pg_monitor to see the standbys)",
                        bound.as_millis()
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
