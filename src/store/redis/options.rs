//! What a Redis store URL may say beyond the server: `prefix=`, `timeout_ms=`,
//! `heartbeat_ms=`, `wait_replicas=` and `wait_on_every_write=`.

use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "tok";
/// The default bound on connecting and on each reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// The default interval of the change feed's heartbeats (see [`RedisOptions::heartbeat`]).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(50);

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Key prefix (namespace).
    pub prefix: String,
    /// Bound on connecting and on each reply.
    pub timeout: Duration,
    /// How often the change feed proves it hears this store's writes: a heartbeat goes
    /// out through the command connection and must come back on the subscription. With
    /// none back for three intervals the online-check cache stops answering (checks read
    /// Redis) until the feed is proven again, so a lost, black-holed or stranded
    /// subscription serves a revoked session for about four intervals at most. Each
    /// store publishes one small message per interval.
    pub heartbeat: Duration,
    /// How many replicas must acknowledge a revoking write (a logout, revoking a family
    /// or a subject, denylisting a `jti`) before it is confirmed: each is followed by
    /// `WAIT n timeout` on its connection. Redis replicates asynchronously, so without
    /// this a confirmed logout that had not reached a replica is undone when that replica
    /// is promoted. With it, a write that fewer replicas acknowledged within
    /// [`timeout`](Self::timeout) is an error (it is applied on the primary, but not
    /// confirmed). 0 (the default): do not wait. Not on Redis Cluster. A family revoked
    /// by reuse detection inside a rotation is waited for only with
    /// [`wait_on_every_write`](Self::wait_on_every_write) (the rotation's script does
    /// it; PostgreSQL waits for it either way).
    pub wait_replicas: u32,
    /// With [`wait_replicas`](Self::wait_replicas): also wait on logins and rotations, so
    /// that a rotation a client was answered is never lost by a failover (which would make
    /// its new token unknown and the old one its only way back in).
    pub wait_on_every_write: bool,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
            heartbeat: DEFAULT_HEARTBEAT,
            wait_replicas: 0,
            wait_on_every_write: false,
        }
    }
}

/// Splits tok's own parameters off a URL's query string.
pub(super) fn parse_options(url: &str) -> Result<(String, RedisOptions), Error> {
    let mut options = RedisOptions::default();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), options));
    };
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("prefix", p))
                if !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) =>
            {
                options.prefix = p.to_owned();
            }
            Some(("timeout_ms", t)) => {
                let ms: u64 = t.parse().map_err(|_| {
                    Error::new(ErrorKind::Store, format!("timeout_ms={t} is not a number"))
                })?;
                options.timeout = Duration::from_millis(ms.max(1));
            }
            Some(("heartbeat_ms", t)) => {
                let ms: u64 = t
                    .parse()
                    .ok()
                    .filter(|ms| (5..=60_000).contains(ms))
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Store,
                            format!(
                                "heartbeat_ms={t} is not a number of milliseconds from 5 to 60000"
                            ),
                        )
                    })?;
                options.heartbeat = Duration::from_millis(ms);
            }
            Some(("wait_replicas", n)) => {
                options.wait_replicas = n.parse().ok().filter(|n| *n <= 64).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Store,
                        format!("wait_replicas={n} is not a number from 0 to 64"),
                    )
                })?;
            }
            Some(("wait_on_every_write", b)) => {
                options.wait_on_every_write =
                    crate::store::url::flag("wait_on_every_write", b, ErrorKind::Store)?;
            }
            Some(("prefix", p)) => {
                return Err(Error::new(
                    ErrorKind::Store,
                    format!("prefix {p:?} must be letters, digits, - _ . :"),
                ));
            }
            _ => rest.push(pair),
        }
    }
    let base = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((base, options))
}

/// The seed nodes of a `redis+cluster://` URL (what follows the scheme) as `redis://`
/// URLs, each with the URL's credentials: `user:pass@h1:p1,h2:p2` names two nodes that
/// both take `user:pass` (a password may hold `@` or `,`; the last `@` ends it).
pub(super) fn cluster_nodes(rest: &str) -> Vec<String> {
    let (credentials, hosts) = match rest.rfind('@') {
        Some(at) => rest.split_at(at + 1),
        None => ("", rest),
    };
    hosts
        .split(',')
        .map(|host| format!("redis://{credentials}{host}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_credentials_apply_to_every_seed() {
        assert_eq!(
            cluster_nodes("u:p@h1:1,h2:2"),
            ["redis://u:p@h1:1", "redis://u:p@h2:2"]
        );
        assert_eq!(
            cluster_nodes(":a,b@c@h1:1,h2:2"),
            ["redis://:a,b@c@h1:1", "redis://:a,b@c@h2:2"]
        );
        assert_eq!(cluster_nodes("h1:1,h2:2"), ["redis://h1:1", "redis://h2:2"]);
        assert_eq!(cluster_nodes("h1:1"), ["redis://h1:1"]);
    }

    #[test]
    fn options_come_off_the_url() {
        let (base, o) = parse_options("redis://h:1/0?prefix=app1&timeout_ms=250").unwrap();
        assert_eq!(
            (base.as_str(), o.prefix.as_str(), o.timeout),
            ("redis://h:1/0", "app1", Duration::from_millis(250))
        );
        let (base, o) = parse_options("redis://h:1?protocol=resp3").unwrap();
        assert_eq!(
            (base.as_str(), o.prefix.as_str()),
            ("redis://h:1?protocol=resp3", DEFAULT_PREFIX)
        );
        assert!(parse_options("redis://h?prefix=a{b}").is_err());
        assert!(parse_options("redis://h?timeout_ms=soon").is_err());
        let (_, o) = parse_options("redis://h?heartbeat_ms=20").unwrap();
        assert_eq!(o.heartbeat, Duration::from_millis(20));
        assert_eq!(
            parse_options("redis://h").unwrap().1.heartbeat,
            DEFAULT_HEARTBEAT
        );
        let (_, o) = parse_options("redis://h?wait_replicas=2&wait_on_every_write=true").unwrap();
        assert_eq!((o.wait_replicas, o.wait_on_every_write), (2, true));
        let o = parse_options("redis://h").unwrap().1;
        assert_eq!((o.wait_replicas, o.wait_on_every_write), (0, false));
        for bad in [
            "wait_replicas=65",
            "wait_replicas=x",
            "wait_on_every_write=1",
        ] {
            assert!(parse_options(&format!("redis://h?{bad}")).is_err(), "{bad}");
        }
        for bad in ["4", "60001", "x", ""] {
            assert!(
                parse_options(&format!("redis://h?heartbeat_ms={bad}")).is_err(),
                "{bad}"
            );
        }
    }
}
