//! The primary that Redis Sentinel names, followed through failovers
//! (`redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]`).
//!
//! Sentinel promotes a replica when the primary fails and says so to whoever asks; it does
//! not move anyone's connections. So every command error that could mean "the primary is
//! elsewhere now" (the connection refused, dropped or timed out, or `READONLY` from an old
//! primary that came back as a replica) makes this ask the sentinels again, one question
//! at a time, and move to the address they name if it changed. The error itself is
//! returned (the request answers 503); the next command goes to the new primary. The
//! change feed subscribes to whatever primary is current when it subscribes, and its
//! heartbeats, published through the command connection, prove that the two are the same
//! server (see `changes`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Client, IntoConnectionInfo, RedisError, RedisResult};

use crate::error::{Error, ErrorKind};

/// What a `redis+sentinel://` URL names.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SentinelUrl {
    /// `redis://HOST:PORT` of each sentinel.
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor the primary under.
    pub master: String,
    /// `redis://[CREDENTIALS@]-/DB`: the credentials and database for the data nodes.
    pub node: String,
}

/// Parses what follows `redis+sentinel://`: `[user:pass@]h1:p1,h2:p2/MASTER[/DB]`. The
/// credentials are the data nodes' (a password may hold `@`; the last `@` before the
/// first `/` ends it); the sentinels are asked without them.
pub(super) fn parse(rest: &str) -> Result<SentinelUrl, Error> {
    let bad = |why: &str| {
        Error::new(
            ErrorKind::Store,
            format!(
                "a Sentinel URL is redis+sentinel://[USER:PASS@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]: {why}"
            ),
        )
    };
    let (authority, path) = rest.split_once('/').ok_or_else(|| bad("no master name"))?;
    // As in every URL tok reads (and redacts): the userinfo ends at the authority's last
    // `@`; a `/` in a password must be percent-encoded.
    let (credentials, hosts) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let (master, db) = match path.split_once('/') {
        Some((m, db)) => (m, db),
        None => (path, "0"),
    };
    if master.is_empty() {
        return Err(bad("no master name"));
    }
    let db: u16 = db
        .parse()
        .map_err(|_| bad("the database is not a number"))?;
    let sentinels: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("redis://{h}"))
        .collect();
    if sentinels.is_empty() {
        return Err(bad("no sentinel"));
    }
    Ok(SentinelUrl {
        sentinels,
        master: master.to_owned(),
        node: format!("redis://{credentials}sentinel-named/{db}"),
    })
}

/// The current primary and the means to find the next one.
pub(super) struct Primary {
    sentinel: tokio::sync::Mutex<SentinelClient>,
    current: RwLock<(Client, ConnectionManager)>,
    /// Set while one task asks the sentinels, so that a burst of errors asks once.
    resolving: AtomicBool,
    config: ConnectionManagerConfig,
    timeout: Duration,
}

impl Primary {
    /// Asks the sentinels for the primary and connects to it.
    pub(super) async fn open(
        url: &SentinelUrl,
        config: ConnectionManagerConfig,
        timeout: Duration,
    ) -> Result<Arc<Self>, Error> {
        let node = url
            .node
            .as_str()
            .into_connection_info()
            .map_err(|e| Error::store("a Sentinel URL's credentials", e))?;
        let info = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(node.redis_settings().clone());
        let mut sentinel = SentinelClient::build(
            url.sentinels.clone(),
            url.master.clone(),
            Some(info),
            SentinelServerType::Master,
        )
        .map_err(|e| Error::store("a Sentinel URL", e))?;
        let client = ask(&mut sentinel, timeout)
            .await
            .map_err(|e| Error::store("asking Redis Sentinel for the primary", e))?;
        let manager = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(|e| Error::store("connecting to the primary Sentinel named", e))?;
        Ok(Arc::new(Self {
            sentinel: tokio::sync::Mutex::new(sentinel),
            current: RwLock::new((client, manager)),
            resolving: AtomicBool::new(false),
            config,
            timeout,
        }))
    }

    /// The connection to the current primary.
    pub(super) fn manager(&self) -> ConnectionManager {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// A client for the current primary (the change feed subscribes through it).
    pub(super) fn client(&self) -> Client {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// Called with every command error: when it could mean that the primary moved, asks
    /// the sentinels again (in a task of its own, one at a time).
    pub(super) fn failed(self: &Arc<Self>, e: &RedisError) {
        if may_have_moved(e) {
            self.suspect();
        }
    }

    /// Asks the sentinels again (in a task of its own, unless one is asking already):
    /// something that needs the primary could not reach it. The change feed calls this
    /// when it cannot subscribe, so that a store with no requests meanwhile still
    /// follows a failover.
    pub(super) fn suspect(self: &Arc<Self>) {
        if self.resolving.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            this.resolve().await;
            this.resolving.store(false, Ordering::Release);
        });
    }

    async fn resolve(&self) {
        let asked = {
            let mut sentinel = self.sentinel.lock().await;
            ask(&mut sentinel, self.timeout).await
        };
        let Ok(client) = asked else {
            return;
        };
        let now = client.get_connection_info().addr().clone();
        let before = self.client().get_connection_info().addr().clone();
        if now == before {
            return;
        }
        let connected = tokio::time::timeout(
            self.timeout,
            ConnectionManager::new_with_config(client.clone(), self.config.clone()),
        )
        .await;
        if let Ok(Ok(manager)) = connected {
            tracing::warn!(target: "tok::store", primary = %now, "Redis Sentinel names a new primary; commands go there now");
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = (client, manager);
        }
    }
}

/// One question to the sentinels, bounded: a silent sentinel must not hold the store.
async fn ask(sentinel: &mut SentinelClient, timeout: Duration) -> RedisResult<Client> {
    match tokio::time::timeout(timeout, sentinel.async_get_client()).await {
        Ok(answer) => answer,
        Err(_) => Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "Redis Sentinel did not answer in time",
        ))),
    }
}

/// Whether an error could mean that the primary is no longer where commands go: the
/// connection failed, or the server is now a replica (`READONLY`). A script's own error
/// or a wrong type could not.
fn may_have_moved(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_sentinels_master_and_database() {
        assert_eq!(
            parse("u:p@a@h1:1,h2:2/mymaster/3").unwrap(),
            SentinelUrl {
                sentinels: vec!["redis://h1:1".into(), "redis://h2:2".into()],
                master: "mymaster".into(),
                node: "redis://u:p@a@sentinel-named/3".into(),
            }
        );
        let plain = parse("h1:1/m").unwrap();
        assert_eq!(
            (plain.sentinels, plain.master, plain.node),
            (
                vec!["redis://h1:1".to_owned()],
                "m".to_owned(),
                "redis://sentinel-named/0".to_owned()
            )
        );
        for bad in ["h1:1", "h1:1/", "/m", "h1:1/m/x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_connection_errors_send_us_to_the_sentinels() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(may_have_moved(&refused));
        let script = RedisError::from((redis::ErrorKind::UnexpectedReturnType, "bad"));
        assert!(!may_have_moved(&script));
    }
}
