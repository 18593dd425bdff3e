//! A lost reply on Redis Cluster: the connection drops after Redis applied a script and
//! before its answer arrives, and the cluster client sends the script again. Each node
//! announces a proxy as its address, so every client connection goes through a proxy
//! that can drop exactly that reply. A retried rotation must not be reuse (which would
//! revoke the family: a false theft alarm), and a retried creation must not report the
//! id taken (which would leave an orphan live family).
#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use common::redis_server::RedisServer;
use serde_json::Map;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{RedisStore, Store};
use tok::{HmacKey, KeySet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Drops the reply to a script call (EVALSHA or EVAL) once armed, after letting `skip`
/// script replies through.
#[derive(Default)]
struct Trap {
    armed: AtomicBool,
    skip: AtomicUsize,
    sprung: AtomicUsize,
}

impl Trap {
    fn arm(&self, skip: usize) {
        self.skip.store(skip, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }
}

async fn pipe(client: TcpStream, upstream: u16, trap: Arc<Trap>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let script_sent = Arc::new(AtomicBool::new(false));
    let sent = Arc::clone(&script_sent);
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let text = String::from_utf8_lossy(&buf[..n]).to_ascii_uppercase();
            if text.contains("EVALSHA") || text.contains("\r\nEVAL\r\n") {
                sent.store(true, Ordering::SeqCst);
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match sr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if script_sent.swap(false, Ordering::SeqCst)
            && trap.armed.load(Ordering::SeqCst)
            && trap
                .skip
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
            && trap.armed.swap(false, Ordering::SeqCst)
        {
            // Redis applied it; the client never hears so.
            trap.sprung.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if cw.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    up.abort();
}

/// A proxy on `listener` to the node on `upstream`.
fn proxy(listener: TcpListener, upstream: u16, trap: Arc<Trap>) {
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(pipe(client, upstream, Arc::clone(&trap)));
        }
    });
}

/// Three cluster nodes, each announcing its proxy; returns them and the proxies' URL.
async fn cluster_behind_proxies(trap: &Arc<Trap>) -> (Vec<RedisServer>, String) {
    let mut nodes = Vec::new();
    let mut seeds = Vec::new();
    for _ in 0..3 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_port = listener.local_addr().unwrap().port();
        let node = RedisServer::start_with_port_hook(|port| {
            vec![
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-node-timeout".into(),
                "2000".into(),
                "--cluster-announce-ip".into(),
                "127.0.0.1".into(),
                "--cluster-announce-port".into(),
                proxy_port.to_string(),
                "--cluster-announce-bus-port".into(),
                (port + 10_000).to_string(),
            ]
        });
        proxy(listener, node.port, Arc::clone(trap));
        seeds.push(format!("127.0.0.1:{proxy_port}"));
        nodes.push(node);
    }
    common::redis_server::join_cluster(&nodes);
    (nodes, format!("redis+cluster://{}", seeds.join(",")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_on_redis_cluster_is_no_theft_alarm() {
    let trap = Arc::new(Trap::default());
    let (_nodes, url) = cluster_behind_proxies(&trap).await;
    let store = RedisStore::open(&url).await.unwrap();
    let s = Sessions::new(
        store,
        KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap()),
        RefreshPolicy::default(),
    );
    for round in 0..5 {
        // A creation whose reply is lost (after the subject index's): one live family,
        // returned to the caller.
        trap.arm(1);
        let pair = s.issue("alice", &Map::new(), None).await;
        let pair = pair.unwrap_or_else(|e| panic!("round {round}: issue: {e}"));
        assert!(s.store().family(&pair.session_id).await.unwrap().is_some());
        // A rotation whose reply is lost, then retried by the client: rotated, not reuse.
        let next = s.rotate(&pair.refresh_token, None).await.unwrap();
        trap.arm(0);
        let start = Instant::now();
        let after = s.rotate(&next.refresh_token, None).await;
        let after = after.unwrap_or_else(|e| {
            panic!(
                "round {round}: a retried rotation answered {e} ({:?})",
                start.elapsed()
            )
        });
        // The one live token works; the family was not revoked.
        assert!(
            s.rotate(&after.refresh_token, None).await.is_ok(),
            "round {round}"
        );
    }
    assert!(
        trap.sprung.load(Ordering::SeqCst) >= 10,
        "replies were dropped: {}",
        trap.sprung.load(Ordering::SeqCst)
    );
    // Every creation stored exactly one family: none was orphaned by a retry.
    assert_eq!(s.revoke_subject("alice").await.unwrap(), 5);
}
