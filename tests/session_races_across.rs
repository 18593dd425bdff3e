//! Races that reach the database's own locking, not only tok's in-process mutex: separate
//! store instances (separate connection pools) in one process, and separate OS processes
//! released together, on SQLite, Redis and PostgreSQL, with and without a grace window;
//! and store servers killed with rotations in flight.
#![cfg(all(feature = "sqlite", feature = "redis"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::processes::Server;
use common::races::rotations_survive_faults;
use common::redis_server::RedisServer;
use serde_json::Map;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::{HmacKey, KeySet};

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap())
}

fn policy(grace_secs: u64) -> RefreshPolicy {
    RefreshPolicy::default()
        .with_grace(Duration::from_secs(grace_secs))
        .unwrap()
}

/// What one round of N concurrent rotations of one token must give: without grace exactly
/// one new token and every loser told reuse (or revoked); with grace every caller the same
/// live token, the family unrevoked.
fn check_round(round: usize, grace: bool, answers: &[Result<String, String>]) {
    let winners: Vec<&String> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    if grace {
        assert_eq!(
            winners.len(),
            answers.len(),
            "round {round} (grace): {answers:?}"
        );
        assert!(
            winners.iter().all(|w| *w == winners[0]),
            "round {round}: {answers:?}"
        );
    } else {
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        for loser in answers.iter().filter_map(|a| a.as_ref().err()) {
            assert!(
                loser == "refresh-reused" || loser == "revoked",
                "round {round}: {loser} in {answers:?}"
            );
        }
    }
}

/// `instances` stores opened separately on one URL, 4 tasks each, released by a barrier.
async fn instances_race(url: &str, instances: usize, rounds: usize, grace_secs: u64) {
    let mut all = Vec::new();
    for _ in 0..instances {
        let store = tok::store::open(url).await.unwrap();
        all.push(Arc::new(Sessions::new(store, keys(), policy(grace_secs))));
    }
    for round in 0..rounds {
        let token = Arc::new(
            all[round % instances]
                .issue("alice", &Map::new(), None)
                .await
                .unwrap()
                .refresh_token
                .to_string(),
        );
        let tasks = instances * 4;
        let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                let (s, token, barrier) = (
                    Arc::clone(&all[i % instances]),
                    Arc::clone(&token),
                    Arc::clone(&barrier),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.rotate(&token, None)
                        .await
                        .map(|p| p.refresh_token.to_string())
                        .map_err(|e| e.code().to_owned())
                })
            })
            .collect();
        let mut answers = Vec::new();
        for h in handles {
            answers.push(h.await.unwrap());
        }
        check_round(round, grace_secs > 0, &answers);
    }
}

/// `processes` servers, each its own process and connection, get the same token at once.
async fn processes_race(url: &str, processes: usize, rounds: usize, grace_secs: u64) {
    let mut servers: Vec<Server> = (0..processes)
        .map(|_| Server::start_with_grace(url, grace_secs))
        .collect();
    let sessions = Sessions::new(
        tok::store::open(url).await.unwrap(),
        keys(),
        policy(grace_secs),
    );
    for round in 0..rounds {
        let token = sessions
            .issue("alice", &Map::new(), None)
            .await
            .unwrap()
            .refresh_token
            .to_string();
        // Every server is already waiting on its stdin: writing the token to each in
        // turn releases them together.
        for server in &mut servers {
            server.send(&token);
        }
        let answers: Vec<_> = servers.iter_mut().map(Server::answer).collect();
        check_round(round, grace_secs > 0, &answers);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_separate_instances() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("race.db").display());
    instances_race(&url, 3, 150, 0).await;
    instances_race(&url, 3, 150, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_separate_instances() {
    let redis = RedisServer::start();
    instances_race(&redis.url(), 3, 150, 0).await;
    instances_race(&redis.url(), 3, 150, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_separate_processes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("race.db").display());
    // The file exists (and has its schema) before the servers open it.
    drop(tok::store::open(&url).await.unwrap());
    processes_race(&url, 4, 60, 0).await;
    processes_race(&url, 4, 60, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_separate_processes() {
    let redis = RedisServer::start();
    processes_race(&redis.url(), 4, 100, 0).await;
    processes_race(&redis.url(), 4, 100, 30).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_separate_instances() {
    let url = common::postgres_server::database();
    instances_race(&url, 3, 150, 0).await;
    instances_race(&url, 3, 150, 30).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_separate_processes() {
    let url = common::postgres_server::database();
    // The schema exists before the servers open the database.
    drop(tok::store::open(&url).await.unwrap());
    processes_race(&url, 4, 100, 0).await;
    processes_race(&url, 4, 100, 30).await;
}

/// Redis is killed (SIGKILL) while 16 tasks rotate their own families, three times, and
/// restarted. With AOF `appendfsync always` and a grace window, a client that retries the
/// same token after a store error is never taken for a thief (a rotation whose reply was
/// lost is answered from the grace window with the very token it lost), no family is
/// revoked, and every confirmed rotation is in Redis after the restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_with_rotations_in_flight() {
    let mut redis = RedisServer::start();
    let url = format!("{}?timeout_ms=500", redis.url());
    rotations_survive_faults(&url, || {
        redis.kill();
        std::thread::sleep(Duration::from_millis(150));
        redis.restart();
    })
    .await;
}

/// The same on PostgreSQL: the server (postmaster and backends) killed with SIGKILL mid
/// rotation and restarted (crash recovery replays its WAL).
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_with_rotations_in_flight() {
    let mut server = common::postgres_server::PostgresServer::start(&[]);
    let url = format!("{}?timeout_ms=500", server.url("postgres"));
    rotations_survive_faults(&url, || {
        server.kill();
        server.restart();
    })
    .await;
}

/// One instance remembers a family's secret (key A); another, signing with B, moves the
/// family at its next rotation. The first instance, its memory now stale, must read the
/// moved secret again and go on, not refuse the session as unknown.
async fn a_move_by_another_instance_is_seen(url: &str) {
    let a = HmacKey::from_bytes(&[7; 32]).unwrap().with_kid("a");
    let b = HmacKey::from_bytes(&[8; 32]).unwrap().with_kid("b");
    let here_keys = tok::refresh::LiveKeys::new(KeySet::new(a.clone()));
    let here = Sessions::new(
        tok::store::open(url).await.unwrap(),
        here_keys.clone(),
        policy(0),
    );
    let there = Sessions::new(
        tok::store::open(url).await.unwrap(),
        KeySet::from_keys(vec![b.clone(), a.clone()]).unwrap(),
        policy(0),
    );
    let p0 = here.issue("alice", &Map::new(), None).await.unwrap();
    let p1 = here.rotate(&p0.refresh_token, None).await.unwrap();
    let p2 = there.rotate(&p1.refresh_token, None).await.unwrap();
    here_keys.replace(KeySet::from_keys(vec![a, b]).unwrap());
    let p3 = here.rotate(&p2.refresh_token, None).await.unwrap();
    assert_eq!(p3.session_id, p0.session_id);
    // `here` signs with A, so p2's rotation moved the family back (B to A). A family
    // keeps its last move only: p1 (A, before the first move) is unknown, never accepted;
    // p2 (B, before the last move) is reuse, and ends the family.
    assert_eq!(
        here.rotate(&p1.refresh_token, None)
            .await
            .unwrap_err()
            .kind(),
        tok::ErrorKind::RefreshUnknown
    );
    assert_eq!(
        here.rotate(&p2.refresh_token, None)
            .await
            .unwrap_err()
            .kind(),
        tok::ErrorKind::RefreshReused
    );
    assert_eq!(
        there
            .rotate(&p3.refresh_token, None)
            .await
            .unwrap_err()
            .kind(),
        tok::ErrorKind::Revoked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_move_by_another_instance_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    a_move_by_another_instance_is_seen(&format!("sqlite:{}", dir.path().join("move.db").display()))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_move_by_another_instance_is_seen() {
    let redis = RedisServer::start();
    a_move_by_another_instance_is_seen(&redis.url()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_move_by_another_instance_is_seen() {
    a_move_by_another_instance_is_seen(&common::postgres_server::database()).await;
}
