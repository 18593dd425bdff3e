//! "Logout everywhere" while the same user logs in, over and over, at the same time: every
//! family whose creation returned before `revoke_subject` returned must be ended. On every
//! backend: memory, SQLite, Redis, Redis Cluster and PostgreSQL.
#![cfg(all(feature = "sqlite", feature = "redis"))]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Map;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::AnyStore;
use tok::{ErrorKind, HmacKey, KeySet, Validation};

async fn race(store: AnyStore, what: &str) {
    let s = Arc::new(Sessions::new(
        store,
        KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap()),
        RefreshPolicy::default(),
    ));
    for round in 0..3 {
        let subject = format!("racer{round}");
        let start = Instant::now();
        let logins: Vec<_> = (0..100)
            .map(|_| {
                let (s, subject) = (Arc::clone(&s), subject.clone());
                tokio::spawn(async move {
                    let pair = s.issue(&subject, &Map::new(), None).await.unwrap();
                    (pair, Instant::now())
                })
            })
            .collect();
        // Let some logins through first, then end everything while the rest run.
        tokio::time::sleep(Duration::from_millis(2)).await;
        s.revoke_subject(&subject).await.unwrap();
        let returned = Instant::now();
        let mut survivors = 0;
        let mut before = 0;
        for login in logins {
            let (pair, done) = login.await.unwrap();
            if done < returned {
                before += 1;
                let check = s
                    .verify_access::<Map<String, serde_json::Value>>(
                        &pair.access_token,
                        &Validation::new(),
                    )
                    .await;
                if !matches!(check, Err(ref e) if e.kind() == ErrorKind::Revoked) {
                    survivors += 1;
                }
            }
        }
        assert_eq!(
            survivors,
            0,
            "{what}, round {round}: {survivors} of {before} families created before logout \
             everywhere returned are still live ({:?})",
            start.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory() {
    race(tok::store::open("memory:").await.unwrap(), "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("tok.db").display());
    race(tok::store::open(&url).await.unwrap(), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis() {
    let server = common::redis_server::RedisServer::start();
    race(tok::store::open(&server.url()).await.unwrap(), "redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster() {
    let (_nodes, url) = common::redis_server::start_cluster();
    race(tok::store::open(&url).await.unwrap(), "redis cluster").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let url = common::postgres_server::database();
    race(tok::store::open(&url).await.unwrap(), "postgres").await;
}

/// The same race on databases whose default isolation is not read committed: tok's
/// connections run at read committed whatever the default, so its functions still take a
/// fresh snapshot per statement.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_whatever_the_default_isolation() {
    for level in ["repeatable read", "serializable"] {
        let url = common::postgres_server::database();
        let db = url.rsplit('/').next().unwrap();
        common::postgres_server::shared().psql(
            "postgres",
            &format!("ALTER DATABASE {db} SET default_transaction_isolation = '{level}'"),
        );
        race(tok::store::open(&url).await.unwrap(), level).await;
    }
}
