//! Key rotation on a running fleet: two example-app processes share one store and one
//! watched key file, on SQLite, Redis and PostgreSQL. While sessions refresh in a loop
//! across both, the file goes through the runbook's steps with the `tok` command (a new
//! key on standby, put first, the old one removed once usage reads zero): no live
//! session is refused at any step, new access tokens carry the new `kid`, and the old
//! key's usage falls to zero. Bad files at each step change nothing. Then an emergency
//! rotation: removing a key ends every session made with it on both processes within
//! the bound README states.
#![cfg(all(feature = "axum", feature = "cli"))]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::web::{App, Client};
use serde_json::Value;
use tok::{HmacKey, KeySet};

/// The bound README states for a key file change to reach every process.
const BOUND: Duration = Duration::from_secs(1);

/// `tok` with `args`; its stdout, or a panic with its stderr.
fn tok(args: &[&str]) -> String {
    let out = assert_cmd::Command::cargo_bin("tok")
        .unwrap()
        .args(args)
        .env_remove("TOK_KEY")
        .env_remove("TOK_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tok {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Replaces the file at `path` atomically, as configuration management does.
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The `kid` of an access token's header.
fn kid(token: &str) -> String {
    tok::insecure::decode_unverified(token, 8192)
        .unwrap()
        .header["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Live sessions per kid, as `tok keys usage` reads them.
fn usage(keys: &str, store: &str) -> Vec<(String, u64)> {
    let json: Value = serde_json::from_str(&tok(&[
        "keys", "usage", "--key", keys, "--store", store, "--json",
    ]))
    .unwrap();
    json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["sessions"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Files that must be refused, each keeping the last good set.
fn bad_files() -> Vec<Vec<u8>> {
    let good = KeySet::from_keys(vec![HmacKey::from_bytes(&[9; 32]).unwrap().with_kid("x")])
        .unwrap()
        .export_jwks();
    let duplicate = format!(
        "{{\"keys\":[{},{}]}}",
        HmacKey::from_bytes(&[9; 32])
            .unwrap()
            .with_kid("x")
            .export_jwk()
            .as_str(),
        HmacKey::from_bytes(&[8; 32])
            .unwrap()
            .with_kid("x")
            .export_jwk()
            .as_str(),
    );
    vec![
        good.as_bytes()[..good.len() / 2].to_vec(),
        b"not json".to_vec(),
        br#"{"keys":[]}"#.to_vec(),
        br#"{"keys":[{"kty":"oct","kid":"x","k":"c2hvcnQ"}]}"#.to_vec(),
        duplicate.into_bytes(),
    ]
}

/// Refreshes every client in turn, alternating servers, each new access token checked on
/// the other server, until `stop`; every answer that is not 200 is kept.
fn refresh_loop(
    mut clients: Vec<Client>,
    servers: [String; 2],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(Vec<Client>, Vec<String>, u64)> {
    tokio::spawn(async move {
        let mut failures = Vec::new();
        let mut rounds = 0u64;
        while !stop.load(Ordering::SeqCst) {
            for (i, client) in clients.iter_mut().enumerate() {
                let (here, there) = (
                    &servers[(i + rounds as usize) % 2],
                    &servers[(i + rounds as usize + 1) % 2],
                );
                let r = client.refresh(here).await;
                if r.status != 200 {
                    failures.push(format!("refresh on {here}: {} {}", r.status, r.json));
                    continue;
                }
                let me = client.me(there).await;
                if me.status != 200 {
                    failures.push(format!("me on {there}: {} {}", me.status, me.json));
                }
            }
            rounds += 1;
        }
        (clients, failures, rounds)
    })
}

async fn rotation_on_a_running_fleet(store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let keys: PathBuf = dir.path().join("keys.json");
    let keys_arg = keys.to_str().unwrap();
    tok(&["keygen", "--kid", "a", "--add-to", keys_arg]);
    let p = App::start(store, &["--key", keys_arg, "--grace", "10s"]);
    let q = App::start(store, &["--key", keys_arg, "--grace", "10s"]);
    let servers = [p.url.clone(), q.url.clone()];
    let mut clients = Vec::new();
    for i in 0..6 {
        let mut c = Client::new();
        assert_eq!(
            c.login(&servers[i % 2], &format!("user{i}")).await.status,
            200
        );
        clients.push(c);
    }
    assert_eq!(usage(keys_arg, store), [("a".to_owned(), 6)]);

    let stop = Arc::new(AtomicBool::new(false));
    let running = refresh_loop(clients, servers.clone(), Arc::clone(&stop));
    let settle = || tokio::time::sleep(BOUND);
    let bad_files_change_nothing = |keys: &Path| {
        let good = std::fs::read(keys).unwrap();
        let keys = keys.to_owned();
        async move {
            for bad in bad_files() {
                replace(&keys, &bad);
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            replace(&keys, &good);
        }
    };

    settle().await;
    bad_files_change_nothing(&keys).await;
    // Step 1: b on standby everywhere (it verifies; a still signs).
    tok(&["keygen", "--kid", "b", "--add-to", keys_arg, "--standby"]);
    settle().await;
    // Step 2: b first: new access tokens and sessions use b; sessions move at refresh.
    tok(&["keys", "first", "b", "--key", keys_arg]);
    settle().await;
    bad_files_change_nothing(&keys).await;
    let start = Instant::now();
    loop {
        let u = usage(keys_arg, store);
        if u == [("b".to_owned(), 6), ("a".to_owned(), 0)] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "a's usage never fell to 0: {u:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Step 3: a removed: nobody active is logged out.
    tok(&["keys", "remove", "a", "--key", keys_arg]);
    settle().await;
    bad_files_change_nothing(&keys).await;
    stop.store(true, Ordering::SeqCst);
    let (mut clients, failures, rounds) = running.await.unwrap();
    assert!(
        failures.is_empty(),
        "live sessions refused during the rotation: {failures:?}"
    );
    assert!(rounds > 10, "the loop ran {rounds} rounds only");
    for c in &mut clients {
        assert_eq!(c.refresh(&servers[0]).await.status, 200);
        assert_eq!(kid(c.access.as_deref().unwrap()), "b");
    }

    // Emergency: b leaked. c goes in (standby, then first; nobody refreshes meanwhile,
    // so every session still uses b) and b out: every access token and session made with
    // b is refused by both processes within the bound.
    tok(&["keygen", "--kid", "c", "--add-to", keys_arg, "--standby"]);
    settle().await;
    tok(&["keys", "first", "c", "--key", keys_arg]);
    settle().await;
    tok(&["keys", "remove", "b", "--key", keys_arg]);
    let removed = Instant::now();
    for url in &servers {
        for c in &mut clients {
            while c.clone().me(url).await.status != 401 {
                assert!(
                    removed.elapsed() < BOUND,
                    "{url} still accepts an access token of the removed key"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    for url in &servers {
        for c in &mut clients {
            let refresh = c.clone().refresh(url).await;
            assert_eq!((refresh.status, refresh.error()), (401, "refresh-unknown"));
        }
    }
    // New logins work, signed with c.
    let mut fresh = Client::new();
    assert_eq!(fresh.login(&servers[1], "after").await.status, 200);
    assert_eq!(kid(fresh.access.as_deref().unwrap()), "c");
    assert_eq!(fresh.me(&servers[0]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("web.db").display());
    rotation_on_a_running_fleet(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_one_redis() {
    let redis = RedisServer::start();
    rotation_on_a_running_fleet(&redis.url()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_one_postgres() {
    rotation_on_a_running_fleet(&common::postgres_server::database()).await;
}

/// Sends the app SIGHUP.
fn hangup(app: &App) {
    // The shell's own `kill`: a minimal machine may have no /bin/kill (procps).
    let sent = std::process::Command::new("sh")
        .args(["-c", &format!("kill -HUP {}", app.pid())])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// SIGHUP reads the key file at once: with the timer set to an hour, a change is not in
/// use until the signal, and is right after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reads_the_key_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let keys_arg = keys.to_str().unwrap();
    let store = format!("sqlite:{}", dir.path().join("web.db").display());
    tok(&["keygen", "--kid", "a", "--add-to", keys_arg]);
    let app = App::start(&store, &["--key", keys_arg, "--key-poll", "1h"]);
    let login_kid = || async {
        let mut c = Client::new();
        assert_eq!(c.login(&app.url, "alice").await.status, 200);
        kid(c.access.as_deref().unwrap())
    };
    assert_eq!(login_kid().await, "a");
    tok(&["keygen", "--kid", "b", "--add-to", keys_arg]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(login_kid().await, "a", "the timer is an hour: no read yet");
    hangup(&app);
    let start = Instant::now();
    while login_kid().await != "b" {
        assert!(start.elapsed() < BOUND, "SIGHUP did not load the new set");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A bad file on SIGHUP keeps the set in use.
    replace(&keys, b"not json");
    hangup(&app);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(login_kid().await, "b");
}

/// A refused key file is reported in the metrics (and a good one clears it), never with
/// the file's contents; the sessions-per-key gauge is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_file_shows_in_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let keys_arg = keys.to_str().unwrap();
    let store = format!("sqlite:{}", dir.path().join("web.db").display());
    tok(&["keygen", "--kid", "a", "--add-to", keys_arg]);
    let (_app, metrics) = App::start_with_metrics(&store, &["--key", keys_arg]);
    let scrape = || async {
        reqwest::get(format!("http://{metrics}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let value = common::web::metric;
    let secret = std::fs::read_to_string(&keys).unwrap();
    let secret: Value = serde_json::from_str(&secret).unwrap();
    let secret = secret["keys"][0]["k"].as_str().unwrap().to_owned();
    replace(
        &keys,
        br#"{"keys":[{"kty":"oct","kid":"a","k":"c2hvcnQ"}]}"#,
    );
    tokio::time::sleep(BOUND).await;
    let text = scrape().await;
    assert_eq!(
        value(&text, "tok_key_file_reloads_total{outcome=\"rejected\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "tok_key_file_rejected"), Some(1.0), "{text}");
    assert_eq!(
        value(&text, "tok_sessions_by_key{kid=\"a\"}"),
        Some(0.0),
        "{text}"
    );
    tok(&["keygen", "--kid", "a", "--out", keys_arg, "--force"]);
    tokio::time::sleep(BOUND).await;
    let text = scrape().await;
    assert_eq!(
        value(&text, "tok_key_file_reloads_total{outcome=\"loaded\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "tok_key_file_rejected"), Some(0.0), "{text}");
    assert!(
        !text.contains(&secret) && !text.contains("c2hvcnQ"),
        "{text}"
    );
}
