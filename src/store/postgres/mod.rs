//! The shared PostgreSQL store: sessions in the database a multi-host service already runs,
//! backs up and replicates.
//!
//! Every decision is one statement on the server, so that any number of hosts rotating one
//! token get exactly one winner: the common rotation (the live token of a live family) is
//! one `UPDATE … WHERE` the family is in that state; anything else is one call of the
//! `tok_rotate` function (`upgrade_4.sql`), which locks the family's row, decides and
//! writes in one transaction. Both mirror [`decide`](crate::refresh::family::decide) and
//! [`apply`](crate::refresh::family::apply). The presented token's tag is checked first,
//! in Rust, against the family's key id and nonce (a process remembers them in a bounded
//! cache; they change only when the family moves to another key, and a remembered secret
//! that fails the check is read again).
//!
//! Tables (created and versioned by the store in `tok_meta`; see `schema.sql`):
//! `tok_families` (one row per session, constant size: no token or token hash is stored;
//! indexed by id and subject, neither of which changes, so rotations are heap-only
//! updates) and `tok_denylist` (access-token ids until their `exp` plus the retention).
//! Revocations announce themselves with `NOTIFY tok_changes` in their own transaction,
//! which keeps other processes' online-check caches current (see `changes`).
//!
//! Connections come from a [deadpool](deadpool_postgres) pool of tokio-postgres clients,
//! which replaces broken connections. TLS (feature `postgres-tls`, `sslmode=require`, on
//! rustls) always checks the server's certificate and name (see `tls`).

mod changes;
mod options;
mod rows;
mod schema;
mod standbys;
mod store;
mod tls;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::error::{Error, ErrorKind};
use crate::model::secrets::SecretCache;
pub use options::{DEFAULT_HEARTBEAT, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT, PostgresOptions};

/// Families and denylist in a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// How long one operation may take, from waiting for a connection to its answer.
    timeout: Duration,
    /// Family secrets already read (they never change).
    secrets: Arc<SecretCache>,
    /// How other processes' changes are heard, for a cache layered on this store.
    feed: Arc<changes::Plan>,
    /// The server and database, for messages (no credentials).
    target: Arc<str>,
    /// Which writes wait for standbys, and for how many.
    standbys: Option<Arc<standbys::Wait>>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Opens the store at a `postgres://` (or `postgresql://`) URL, creating tok's tables
    /// in that database if it has none. tok's own query parameters are `pool_size=N`
    /// (connections, default [`DEFAULT_POOL_SIZE`]) and `timeout_ms=N` (the longest one
    /// operation may take, default [`DEFAULT_TIMEOUT`]; also the server's
    /// `statement_timeout`), `heartbeat_ms=N`, `wait_replicas=N` and
    /// `wait_on_every_write=true|false` (see [`PostgresOptions`]); the others go to the
    /// client (a multi-host URL with `target_session_attrs=read-write` follows a promoted
    /// standby, (`application_name`,
    /// `connect_timeout`, `options=-c search_path=…` to keep tok's tables in a schema of
    /// their own, …).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// let store = tok::store::PostgresStore::open("postgres://tok@127.0.0.1/sessions").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Config`](ErrorKind::Config) for a malformed URL; [`Store`](ErrorKind::Store) when
    /// the server cannot be reached or the database holds a schema of another version.
    /// No message carries the URL's password.
    pub async fn open(url: &str) -> Result<Self, Error> {
        let (config, options) = options::parse(url)?;
        Self::open_with(config, options).await
    }

    /// Opens the store with a client configuration and options of the caller's.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_with(
        mut config: tokio_postgres::Config,
        options: PostgresOptions,
    ) -> Result<Self, Error> {
        options::apply(&mut config, &options);
        let target = options::describe(&config);
        let connector = tls::connector(&config, &options)?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &connector {
            tls::Connector::Plain => Manager::from_config(config.clone(), NoTls, manager_config),
            #[cfg(feature = "postgres-tls")]
            tls::Connector::Tls(tls) => {
                Manager::from_config(config.clone(), tls.clone(), manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(|e| Error::new(ErrorKind::Config, format!("PostgreSQL pool: {e}")))?;
        let store = Self {
            pool,
            timeout: options.timeout,
            secrets: Arc::new(SecretCache::new()),
            feed: Arc::new(changes::Plan {
                config,
                connector,
                every: options.heartbeat,
            }),
            target: target.into(),
            standbys: (options.wait_replicas > 0).then(|| {
                Arc::new(standbys::Wait::new(
                    options.wait_replicas,
                    options.wait_on_every_write,
                ))
            }),
        };
        let mut client = store.client().await?;
        store.timed(schema::ensure(&mut client)).await?;
        drop(client);
        Ok(store)
    }

    /// Follows this store's LISTEN channel for `listener` (see
    /// [`Store::follow_changes`](crate::store::Store::follow_changes)).
    async fn follow(
        &self,
        listener: crate::store::feed::Listener,
    ) -> Result<crate::model::change::Feed, Error> {
        let link = changes::PgFeed {
            plan: Arc::clone(&self.feed),
            pool: self.pool.clone(),
        };
        let metrics = crate::store::feed::FeedMetrics::new("postgres", self.target.to_string());
        Ok(crate::store::feed::start(link, listener, metrics, self.timeout).await)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<Object, Error> {
        self.pool.get().await.map_err(|e| {
            let cause = match &e {
                deadpool_postgres::PoolError::Backend(e) => with_causes(e),
                deadpool_postgres::PoolError::Timeout(_) => format!(
                    "no connection within {} ms (server unreachable, or every pooled \
                     connection busy)",
                    self.timeout.as_millis()
                ),
                other => other.to_string(),
            };
            Error::new(
                ErrorKind::Store,
                format!("connecting to PostgreSQL at {}: {cause}", self.target),
            )
            .with_source(e)
        })
    }

    /// `work` within the store's timeout (a half-open connection would otherwise wait
    /// forever; a statement the server runs too long is cut by `statement_timeout`).
    async fn timed<T>(&self, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout + Duration::from_millis(500), work).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Store,
                format!(
                    "PostgreSQL at {} did not answer within {} ms",
                    self.target,
                    self.timeout.as_millis()
                ),
            )),
        }
    }
}

/// A failed statement, said with what the store was doing and, for an error the server
/// reported, its message and SQLSTATE (the client's own text says only "db error").
fn pg_error(what: &str, e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::new(
            ErrorKind::Store,
            format!("{what}: {} ({})", db.message(), db.code().code()).replace('\n', "; "),
        )
        .with_source(e),
        None => Error::new(ErrorKind::Store, format!("{what}: {}", with_causes(&e))).with_source(e),
    }
}

/// An error with the chain of its causes (tokio-postgres says "error connecting to server"
/// and keeps the reason, such as "Connection refused", in its source).
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    text.replace('\n', "; ")
}
