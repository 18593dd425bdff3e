//! The command connection, whatever the deployment: one node, Redis Cluster, or the
//! primary Redis Sentinel names; and writes confirmed only once replicas have them.

use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, ScriptInvocation, Value};

use crate::store::redis::sentinel::Primary;

/// Where commands go.
#[derive(Clone)]
pub(super) enum Conn {
    /// One node (or whatever one address reaches).
    Single(ConnectionManager),
    /// Redis Cluster.
    Cluster(ClusterConnection),
    /// The primary Redis Sentinel names, followed through failovers.
    Sentinel(Arc<Primary>),
}

impl Conn {
    /// What the deployment is, for `Debug`.
    pub(super) fn mode(&self) -> &'static str {
        match self {
            Conn::Single(_) => "single",
            Conn::Cluster(_) => "cluster",
            Conn::Sentinel(_) => "sentinel",
        }
    }

    /// Whether this is Redis Cluster (keys of different slots on different nodes).
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// The connection to the one node every key lives on; `None` on Redis Cluster.
    pub(super) fn node(&self) -> Option<ConnectionManager> {
        match self {
            Conn::Single(c) => Some(c.clone()),
            Conn::Cluster(_) => None,
            Conn::Sentinel(p) => Some(p.manager()),
        }
    }

    /// Sends one command.
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Conn::Single(c) => cmd.query_async(&mut c.clone()).await,
            Conn::Cluster(c) => cmd.query_async(&mut c.clone()).await,
            Conn::Sentinel(p) => cmd
                .query_async(&mut p.manager())
                .await
                .inspect_err(|e| p.failed(e)),
        }
    }

    /// Sends one pipeline to the one node (not on Redis Cluster: callers split it).
    pub(super) async fn pipeline<T: FromRedisValue>(&self, pipe: &Pipeline) -> RedisResult<T> {
        match self {
            Conn::Single(c) => pipe.query_async(&mut c.clone()).await,
            Conn::Cluster(c) => pipe.query_async(&mut c.clone()).await,
            Conn::Sentinel(p) => pipe
                .query_async(&mut p.manager())
                .await
                .inspect_err(|e| p.failed(e)),
        }
    }

    /// Runs one script (EVALSHA, loaded again on NOSCRIPT).
    pub(super) async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        match self {
            Conn::Single(c) => invocation.invoke_async(&mut c.clone()).await,
            Conn::Cluster(c) => invocation.invoke_async(&mut c.clone()).await,
            Conn::Sentinel(p) => invocation
                .invoke_async(&mut p.manager())
                .await
                .inspect_err(|e| p.failed(e)),
        }
    }

    /// Runs one script, each command of it followed by `WAIT replicas timeout` in the same
    /// pipeline, so on the same connection: returns the script's answer and how many
    /// replicas acknowledged it. (A `WAIT` sent apart could reach a new connection, whose
    /// own writes are none, and count replicas that never saw this one.) Not on Redis
    /// Cluster.
    pub(super) async fn invoke_acknowledged<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
        replicas: u32,
        timeout_ms: u64,
    ) -> RedisResult<(T, i64)> {
        let Some(inner) = self.node() else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "waiting for replicas is not supported on Redis Cluster",
            )));
        };
        let mut acked = Acknowledged {
            inner,
            wait: {
                let mut wait = redis::cmd("WAIT");
                wait.arg(replicas).arg(timeout_ms);
                wait
            },
            replicas: 0,
        };
        let answer = invocation.invoke_async(&mut acked).await;
        if let (Conn::Sentinel(p), Err(e)) = (self, &answer) {
            p.failed(e);
        }
        Ok((answer?, acked.replicas))
    }
}

/// A connection that sends `WAIT` after each command, in one pipeline, and keeps the
/// count of replicas the last one reached.
struct Acknowledged {
    inner: ConnectionManager,
    wait: Cmd,
    replicas: i64,
}

impl ConnectionLike for Acknowledged {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.add_command(cmd.clone()).add_command(self.wait.clone());
            let mut values = self.inner.req_packed_commands(&pipe, 0, 2).await?;
            let (Some(wait), Some(answer)) = (values.pop(), values.pop()) else {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::Parse,
                    "a pipeline of two commands answered fewer",
                )));
            };
            let answer = answer.extract_error()?;
            self.replicas = i64::from_redis_value(wait.extract_error()?)?;
            Ok(answer)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.inner.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}
