//! The SQLite store where another process or the file system works against it: another
//! process holding the write lock, a caller that gives up, a symlink in place of the file.
#![cfg(feature = "sqlite")]

use std::time::Duration;

use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{SqliteStore, Store};
use tok::{ErrorKind, HmacKey, KeySet};

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap())
}

/// A store in a fresh folder (`tok.db`), its sessions, and one live session.
async fn one_session() -> (
    tempfile::TempDir,
    SqliteStore,
    Sessions<SqliteStore>,
    tok::refresh::TokenPair,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("tok.db")).await.unwrap();
    let sessions = Sessions::new(store.clone(), keys(), RefreshPolicy::default());
    let pair = sessions
        .issue("alice", &serde_json::json!({}), None)
        .await
        .unwrap();
    (dir, store, sessions, pair)
}

/// Another process's connection, holding SQLite's write lock until dropped or committed.
fn hold_write_lock(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

/// Online checks read: they never wait for another process's write lock, also when
/// they need new pooled connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_wait_for_another_writer() {
    let (dir, store, _sessions, pair) = one_session().await;
    let path = dir.path().join("tok.db");
    let lock = hold_write_lock(&path);
    // Eight reads at once: the pool opens new connections for them. The busy timeout is
    // 10 s; a read that waited for the lock would take that long.
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let id = pair.session_id.clone();
            tokio::spawn(async move { store.family(&id).await })
        })
        .collect();
    for read in reads {
        let family = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("a read waited for another process's write lock")
            .unwrap()
            .unwrap();
        assert!(family.is_some());
    }
    drop(lock);
}

/// A refresh whose caller gave up while the write lock was held elsewhere is not
/// applied once the lock frees: the client's only token stays the live one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gave_up_is_not_rotated() {
    let (dir, store, sessions, pair) = one_session().await;
    let path = dir.path().join("tok.db");

    let lock = hold_write_lock(&path);
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        sessions.rotate(&pair.refresh_token, None),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "the rotation should have been waiting for the lock"
    );
    lock.execute_batch("COMMIT").unwrap();
    // A later write goes through the same writer after the abandoned one.
    sessions
        .issue("bob", &serde_json::json!({}), None)
        .await
        .unwrap();
    let family = store.family(&pair.session_id).await.unwrap().unwrap();
    assert_eq!(family.generation, 0, "the abandoned rotation was applied");
    assert!(sessions.rotate(&pair.refresh_token, None).await.is_ok());
}

/// A symlink in place of the store file (dangling or not) is refused, and nothing is
/// created through it; files the store creates are private (0600).
#[cfg(unix)]
#[tokio::test]
async fn symlinked_store_paths_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.db");
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = SqliteStore::open(&link).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!target.exists(), "a file was created through the link");

    // A link beside a real file, where SQLite would put its WAL.
    let real = dir.path().join("real.db");
    let wal_target = dir.path().join("elsewhere");
    std::os::unix::fs::symlink(&wal_target, dir.path().join("real.db-wal")).unwrap();
    assert_eq!(
        SqliteStore::open(&real).await.unwrap_err().kind(),
        ErrorKind::Config
    );
    assert!(!wal_target.exists());

    // Without links, every file the store creates is the owner's alone.
    let plain = dir.path().join("plain.db");
    let store = SqliteStore::open(&plain).await.unwrap();
    let sessions = Sessions::new(store.clone(), keys(), RefreshPolicy::default());
    sessions
        .issue("alice", &serde_json::json!({}), None)
        .await
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("plain.db{suffix}"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

/// When the last handle of a store is dropped, every connection it opened (the writer's,
/// the readers', the change watcher's) is closed before the drop returns: SQLite has then
/// checkpointed and removed the WAL, and the file can be read, copied or moved at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_closes_every_connection_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tok.db");
    for round in 0..10 {
        let store = SqliteStore::open(&path).await.unwrap();
        let clone = store.clone();
        let sessions = Sessions::new(store, keys(), RefreshPolicy::default());
        let pair = sessions
            .issue("alice", &serde_json::json!({}), None)
            .await
            .unwrap();
        sessions.rotate(&pair.refresh_token, None).await.unwrap();
        drop(sessions);
        assert!(
            dir.path().join("tok.db-wal").exists(),
            "round {round}: still open"
        );
        drop(clone);
        for suffix in ["-wal", "-shm"] {
            let file = dir.path().join(format!("tok.db{suffix}"));
            assert!(
                !file.exists(),
                "round {round}: {} is still there",
                file.display()
            );
        }
    }
}
