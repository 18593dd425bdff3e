//! The store's URL: tok's own query parameters taken out, the rest read by tokio-postgres.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::store::url::redact_url;

/// The default number of pooled connections: enough for concurrent rotations to queue in
/// the server's group commit rather than for a connection.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The default longest time one operation may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default interval of the change feed's heartbeats (see
/// [`PostgresOptions::heartbeat`]): a lost LISTEN connection serves a revoked session for
/// under a second.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(200);

/// tok's own settings of a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Pooled connections (at least 1).
    pub pool_size: usize,
    /// The longest one operation may take, from waiting for a connection to its answer;
    /// also the server's `statement_timeout` for the store's connections.
    pub timeout: Duration,
    /// A PEM file of the certificate authority the server's certificate must chain to
    /// (besides the system's roots): URL parameter `sslrootcert=PATH`. Setting it asks
    /// for TLS (feature `postgres-tls`).
    pub root_certificate: Option<PathBuf>,
    /// How often the change feed proves it hears this store's writes: the LISTEN
    /// connection must answer a query, from the same server the pool writes to (URL
    /// parameter `heartbeat_ms=`, 5 to 60000). A proof that fails or takes two intervals
    /// stops the online-check cache answering (checks read the database) and the store
    /// listens anew, so a lost, black-holed or stranded LISTEN connection serves a
    /// revoked session for about three intervals at most.
    pub heartbeat: Duration,
    /// How many streaming standbys must have flushed a revoking write (a logout, revoking
    /// a family, a subject or a session, denylisting a `jti`) before it is confirmed (URL
    /// parameter `wait_replicas=`, 0 to 64). Replication is asynchronous by default, so
    /// without this a confirmed logout that had not reached the standby is undone when
    /// the standby is promoted. With it, a write fewer standbys had within
    /// [`timeout`](Self::timeout) is an error (applied on the primary, not confirmed).
    /// The store's role needs `pg_monitor` to see the standbys. 0 (the default): do not
    /// wait.
    pub wait_replicas: u32,
    /// With [`wait_replicas`](Self::wait_replicas): also wait on logins and rotations
    /// (URL parameter `wait_on_every_write=true`).
    pub wait_on_every_write: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: DEFAULT_POOL_SIZE,
            timeout: DEFAULT_TIMEOUT,
            root_certificate: None,
            heartbeat: DEFAULT_HEARTBEAT,
            wait_replicas: 0,
            wait_on_every_write: false,
        }
    }
}

/// The client configuration and tok's options a store URL names.
pub(super) fn parse(url: &str) -> Result<(tokio_postgres::Config, PostgresOptions), Error> {
    let mut options = PostgresOptions::default();
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut rest = Vec::new();
    let number = |name: &str, value: &str| {
        value.parse::<u64>().map_err(|_| {
            Error::new(
                ErrorKind::Config,
                format!("{name}={value} is not a whole number"),
            )
        })
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("pool_size", n)) => {
                options.pool_size =
                    usize::try_from(number("pool_size", n)?.max(1)).unwrap_or(DEFAULT_POOL_SIZE);
            }
            Some(("timeout_ms", n)) => {
                options.timeout = Duration::from_millis(number("timeout_ms", n)?.max(1));
            }
            Some(("heartbeat_ms", n)) => {
                let ms = number("heartbeat_ms", n)?;
                if !(5..=60_000).contains(&ms) {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("heartbeat_ms={ms} is outside 5 to 60000"),
                    ));
                }
                options.heartbeat = Duration::from_millis(ms);
            }
            Some(("wait_replicas", n)) => {
                let n = number("wait_replicas", n)?;
                options.wait_replicas =
                    u32::try_from(n).ok().filter(|n| *n <= 64).ok_or_else(|| {
                        Error::new(
                            ErrorKind::Config,
                            format!("wait_replicas={n} is outside 0 to 64"),
                        )
                    })?;
            }
            Some(("wait_on_every_write", b)) => {
                options.wait_on_every_write =
                    crate::store::url::flag("wait_on_every_write", b, ErrorKind::Config)?;
            }
            // libpq's name, read by tok: tokio-postgres takes certificates from code.
            Some(("sslrootcert", path)) if !path.is_empty() => {
                options.root_certificate = Some(PathBuf::from(path));
            }
            _ => rest.push(pair),
        }
    }
    let client_url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let config = client_url.parse::<tokio_postgres::Config>().map_err(|e| {
        // tokio-postgres's messages name the part it could not read, never the password.
        Error::new(
            ErrorKind::Config,
            format!("PostgreSQL URL {}: {e}", redact_url(url)),
        )
    })?;
    Ok((config, options))
}

/// Settings every store connection gets: the statement timeout, a connect timeout and an
/// application name where the URL gave none.
pub(super) fn apply(config: &mut tokio_postgres::Config, options: &PostgresOptions) {
    // Read committed whatever the database's default: tok's functions (logout everywhere
    // above all) rely on each statement taking a fresh snapshot, which repeatable read and
    // serializable do not (a backslash keeps the value's space inside one argument).
    let ours = format!(
        "-c statement_timeout={} -c default_transaction_isolation=read\\ committed",
        options.timeout.as_millis()
    );
    let combined = match config.get_options() {
        Some(given) if !given.is_empty() => format!("{given} {ours}"),
        _ => ours,
    };
    config.options(combined);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("tok");
    }
}

/// `host:port/database`, for messages (never the user's password).
pub(super) fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_parameters_are_taken_out() {
        let (config, options) =
            parse("postgres://u:secret@h:6000/db?pool_size=3&application_name=x&timeout_ms=250")
                .unwrap();
        assert_eq!(options.pool_size, 3);
        assert_eq!(options.timeout, Duration::from_millis(250));
        assert_eq!(config.get_application_name(), Some("x"));
        assert_eq!(describe(&config), "h:6000/db");
        let (_, defaults) = parse("postgresql://h/db").unwrap();
        assert_eq!(defaults.pool_size, DEFAULT_POOL_SIZE);
        assert_eq!(defaults.timeout, DEFAULT_TIMEOUT);
        assert_eq!(defaults.heartbeat, DEFAULT_HEARTBEAT);
        let (_, options) = parse("postgresql://h/db?heartbeat_ms=50").unwrap();
        assert_eq!(options.heartbeat, Duration::from_millis(50));
        assert_eq!(
            (defaults.wait_replicas, defaults.wait_on_every_write),
            (0, false)
        );
        let (_, options) =
            parse("postgresql://h/db?wait_replicas=2&wait_on_every_write=true").unwrap();
        assert_eq!(
            (options.wait_replicas, options.wait_on_every_write),
            (2, true)
        );
    }

    #[test]
    fn bad_urls_are_config_errors_without_the_password() {
        for url in [
            "postgres://u:secret@h/db?pool_size=x",
            "postgres://u:secret@h/db?timeout_ms=-1",
            "postgres://u:secret@h/db?nonsense=1",
            "postgres://u:secret@h/db?heartbeat_ms=4",
            "postgres://u:secret@h/db?heartbeat_ms=60001",
            "postgres://u:secret@h/db?wait_replicas=65",
            "postgres://u:secret@h/db?wait_on_every_write=yes",
        ] {
            let e = parse(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            assert!(!e.detail().contains("secret"), "{e}");
        }
    }

    #[test]
    fn the_statement_timeout_joins_given_options() {
        let (mut config, options) = parse("postgres://h/db?options=-c%20work_mem%3D4MB").unwrap();
        apply(&mut config, &options);
        assert_eq!(
            config.get_options(),
            Some(
                "-c work_mem=4MB -c statement_timeout=5000 \
                 -c default_transaction_isolation=read\\ committed"
            )
        );
        assert_eq!(config.get_application_name(), Some("tok"));
    }
}
