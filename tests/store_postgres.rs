//! What only the PostgreSQL store has to prove, on real servers: its schema (created once
//! by concurrent first openers, versioned, another schema refused), constant storage per
//! session measured in the table's size, a statement cut by the server's timeout and a
//! connection killed mid-call (nothing half-done, errors typed), and purging in batches.
//! The rules themselves run through the conformance suite; races and server crashes in
//! `session_races_across`, load balancing in `web_lb`, the CLI in `cli_refresh`.
#![cfg(feature = "postgres")]

mod common;

use std::time::{Duration, Instant};

use common::postgres_server::{PostgresServer, database, shared};
use serde_json::Map;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{PostgresStore, Store};
use tok::{ErrorKind, HmacKey, KeySet, NumericDate};

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap())
}

fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// Opens `n` stores on `url` at once; each must open.
async fn open_at_once(url: &str, n: usize) {
    let opens = (0..n).map(|_| {
        let url = url.to_owned();
        tokio::spawn(async move { PostgresStore::open(&url).await.map(drop) })
    });
    for open in opens {
        open.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_opens_create_the_schema_once() {
    let url = database();
    open_at_once(&url, 6).await;
    assert_eq!(
        shared()
            .psql(db_name(&url), "SELECT schema_version FROM tok_meta")
            .trim(),
        "4"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_schemas_are_refused_with_a_clear_message() {
    // A newer tok's schema.
    let newer = database();
    drop(PostgresStore::open(&newer).await.unwrap());
    shared().psql(db_name(&newer), "UPDATE tok_meta SET schema_version = 99");
    let err = PostgresStore::open(&newer).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(err.detail().contains("version 99"), "{err}");
    assert!(err.detail().contains("upgrade tok"), "{err}");

    // A table of the same name that tok did not create: never used, never altered.
    let foreign = database();
    shared().psql(
        db_name(&foreign),
        "CREATE TABLE tok_families (id int PRIMARY KEY); INSERT INTO tok_families VALUES (1)",
    );
    let err = PostgresStore::open(&foreign).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(
        err.detail().contains("not a schema this tok created"),
        "{err}"
    );
    assert_eq!(
        shared()
            .psql(db_name(&foreign), "SELECT count(*) FROM tok_families")
            .trim(),
        "1"
    );

    // A schema of tok's own in a PostgreSQL schema of its own, chosen by the URL.
    let separate = database();
    shared().psql(db_name(&separate), "CREATE SCHEMA sessions");
    let store = PostgresStore::open(&format!("{separate}?options=-c%20search_path%3Dsessions"))
        .await
        .unwrap();
    let s = Sessions::new(store, keys(), RefreshPolicy::default());
    s.issue("alice", &Map::new(), None).await.unwrap();
    assert_eq!(
        shared()
            .psql(
                db_name(&separate),
                "SELECT count(*) FROM sessions.tok_families"
            )
            .trim(),
        "1"
    );
}

/// A family's row stays one row of constant size however often it rotates: no token is
/// stored, and rotations are heap-only updates whose old versions the page reclaims, so
/// the table does not grow with rotations. (Measured: 40,960 bytes for 20 sessions before
/// and after 12,000 rotations.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_per_session_is_constant() {
    let url = database();
    let s = Sessions::new(
        PostgresStore::open(&url).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    assert_eq!(s.store().backend(), "postgres", "its name in metrics");
    let mut pairs = Vec::new();
    for i in 0..20 {
        pairs.push(
            s.issue(&format!("user{i}"), &Map::new(), None)
                .await
                .unwrap(),
        );
    }
    let size = || {
        shared()
            .psql(
                db_name(&url),
                "SELECT pg_relation_size('tok_families') + pg_relation_size('tok_families_subject') \
                 + pg_relation_size('tok_families_pkey')",
            )
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let before = size();
    for _ in 0..600 {
        for pair in &mut pairs {
            *pair = s.rotate(&pair.refresh_token, None).await.unwrap();
        }
    }
    let after = size();
    assert_eq!(
        shared()
            .psql(
                db_name(&url),
                "SELECT count(*), max(generation) FROM tok_families"
            )
            .trim(),
        "20|600"
    );
    // 12,000 rotations that each left a row version behind would add megabytes; the
    // page reclaims them as it goes (a few pages may be added while another snapshot
    // keeps old versions visible, until pruning or vacuum catches up).
    assert!(
        after <= before + 4 * 8192,
        "12,000 rotations grew the table and its indexes from {before} to {after} bytes"
    );
    let stats = shared().psql(
        db_name(&url),
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'tok_families'",
    );
    eprintln!("updates, of which heap-only: {}", stats.trim());
}

/// A rotation stuck behind a lock held elsewhere is cut by the statement timeout: a
/// `store` error, and nothing changed (the function's transaction rolled back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_changes_nothing() {
    let url = database();
    let s = Sessions::new(
        PostgresStore::open(&format!("{url}?timeout_ms=300"))
            .await
            .unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    let pair = s.issue("alice", &Map::new(), None).await.unwrap();
    // Warm the secret so the rotation goes straight to the locked row.
    let pair = s.rotate(&pair.refresh_token, None).await.unwrap();
    let (port, db, family) = (
        shared().port,
        db_name(&url).to_owned(),
        pair.session_id.clone(),
    );
    let locker = std::thread::spawn(move || {
        std::process::Command::new(common::postgres_server::bin_dir().join("psql"))
            .args([
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "tok",
            ])
            .args(["-d", &db, "-c"])
            .arg(format!(
                "BEGIN; SELECT 1 FROM tok_families WHERE id = '{family}' FOR UPDATE; \
                 SELECT pg_sleep(2); COMMIT;"
            ))
            .output()
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    let err = s.rotate(&pair.refresh_token, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    assert!(
        err.detail().contains("statement timeout (57014)"),
        "the server's reason is said: {err}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert!(locker.join().unwrap().status.success());
    let stored = s.store().family(&pair.session_id).await.unwrap().unwrap();
    assert_eq!(
        stored.generation, 1,
        "the timed-out rotation left nothing behind"
    );
    assert_eq!(
        s.rotate(&pair.refresh_token, None)
            .await
            .unwrap()
            .session_id,
        pair.session_id
    );
}

/// The store's connections are killed by the server (`pg_terminate_backend`) again and
/// again while rotations run: every failure is a `store` error, a client that retries its
/// token inside grace is never taken for a thief, and every confirmed rotation is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_mid_call_leave_nothing_half_done() {
    let url = database();
    let db = db_name(&url).to_owned();
    common::races::rotations_survive_faults(&format!("{url}?timeout_ms=1000"), || {
        shared().psql(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{db}' AND application_name = 'tok'"
            ),
        );
    })
    .await;
}

/// Purging goes in batches and removes exactly the dead: families past their end, denylist
/// entries past their retention; live ones stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_in_batches_removes_exactly_the_dead() {
    let url = database();
    let store = PostgresStore::open(&url).await.unwrap();
    let db = db_name(&url);
    // 2,500 families that ended long ago and 7 live ones, written directly in bulk.
    shared().psql(
        db,
        "INSERT INTO tok_families SELECT 'dead' || g, 's', '{}', 1000, 2000, 1000, 500, 0, 'k', \
         decode(repeat('00', 32), 'hex'), NULL, NULL, NULL, 0, '' FROM generate_series(1, 2500) g; \
         INSERT INTO tok_families SELECT 'live' || g, 's', '{}', 1000, 9000000000000, 1000, \
         9000000000000, 0, 'k', decode(repeat('00', 32), 'hex'), NULL, NULL, NULL, 0, '' \
         FROM generate_series(1, 7) g; \
         INSERT INTO tok_denylist SELECT 'j' || g, 3000 FROM generate_series(1, 1500) g; \
         INSERT INTO tok_denylist VALUES ('kept', 9000000000000);",
    );
    let now = NumericDate::from_secs(1_800_000_000).unwrap();
    // The denylist as the Store trait reads it (online checks use online_state instead).
    let exp = NumericDate::from_secs(1_800_000_600).unwrap();
    store.deny_jti("fresh", exp, now).await.unwrap();
    assert!(store.is_jti_denied("fresh", now).await.unwrap());
    assert!(!store.is_jti_denied("other", now).await.unwrap());
    assert!(
        !store.is_jti_denied("j1", now).await.unwrap(),
        "past its retention"
    );
    assert!(store.is_jti_denied("kept", now).await.unwrap());
    assert_eq!(store.purge_expired(now).await.unwrap(), 2500 + 1500);
    assert_eq!(
        shared()
            .psql(
                db,
                "SELECT (SELECT count(*) FROM tok_families), (SELECT count(*) FROM tok_denylist)"
            )
            .trim(),
        "7|2"
    );
    assert_eq!(store.purge_expired(now).await.unwrap(), 0);
}

/// A server that is not running is a `store` error within the timeout, naming the server
/// and never the password.
#[tokio::test]
async fn an_unreachable_server_is_a_store_error_without_the_password() {
    let mut server = PostgresServer::start(&[]);
    let port = server.port;
    server.kill();
    let start = Instant::now();
    let err = PostgresStore::open(&format!(
        "postgres://tok:Pa55word@127.0.0.1:{port}/postgres?timeout_ms=300"
    ))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(err.detail().contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!format!("{err} {err:?}").contains("Pa55word"), "{err:?}");
}

/// A certificate authority and a server certificate for `localhost` only, made with the
/// `openssl` tool in `dir`: returns (CA certificate, server certificate, server key).
#[cfg(feature = "postgres-tls")]
fn certificates(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=tok test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    ["ca.pem", "server.pem", "server.key"].map(|f| dir.join(f))
}

/// TLS to PostgreSQL (feature `postgres-tls`, rustls): with `sslmode=require` and the server's CA
/// the store works and its connections are encrypted; a server whose certificate does not
/// chain to a trusted root, or names another host, is refused: never encryption with an
/// unknown party.
#[cfg(feature = "postgres-tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_checks_the_servers_certificate_and_name() {
    let server = PostgresServer::start(&[]);
    let [ca, cert, key] = certificates(server.dir());
    for file in [&cert, &key] {
        server.hand_over(file);
    }
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // One statement per call: psql -c runs several as one transaction, which ALTER
    // SYSTEM refuses.
    for setting in [
        format!("ssl_cert_file = '{}'", cert.display()),
        format!("ssl_key_file = '{}'", key.display()),
        "ssl = on".to_owned(),
    ] {
        server.psql("postgres", &format!("ALTER SYSTEM SET {setting}"));
    }
    server.psql("postgres", "SELECT pg_reload_conf()");
    let port = server.port;
    let url = |host: &str, extra: &str| {
        format!("postgres://tok@{host}:{port}/postgres?sslmode=require&timeout_ms=2000{extra}")
    };
    let trusted = format!("&sslrootcert={}", ca.display());
    let store = PostgresStore::open(&url("localhost", &trusted))
        .await
        .unwrap();
    let s = Sessions::new(store, keys(), RefreshPolicy::default());
    let pair = s.issue("alice", &Map::new(), None).await.unwrap();
    s.rotate(&pair.refresh_token, None).await.unwrap();
    let encrypted = server.psql(
        "postgres",
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s \
         JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'tok'",
    );
    let (tls, all) = encrypted.trim().split_once('|').unwrap();
    assert!(
        all != "0" && tls == all,
        "tok's connections with TLS / all: {encrypted}"
    );

    // The CA is not in the system's roots: without it the server is unknown.
    let err = PostgresStore::open(&url("localhost", ""))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    assert!(err.detail().contains("UnknownIssuer"), "{err}");
    // The certificate names localhost, not 127.0.0.1.
    let err = PostgresStore::open(&url("127.0.0.1", &trusted))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    assert!(err.detail().contains("not valid for name"), "{err}");
    // A root certificate that cannot be read, or holds no certificate, is a
    // configuration error: never a store that trusts only the platform's roots.
    let not_pem = server.dir().join("not-a-certificate.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let key_only = format!("&sslrootcert={}", key.display());
    for extra in [
        "&sslrootcert=/nonexistent/ca.pem".to_owned(),
        format!("&sslrootcert={}", not_pem.display()),
        key_only,
    ] {
        let err = PostgresStore::open(&url("localhost", &extra))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{extra}: {err}");
    }
}

/// A family gone from the database (purged, or deleted by hand) while this process still
/// remembers its secret: rotating or logging out with its token is `refresh-unknown`, as
/// for any token no stored family minted, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_gone_from_the_database_is_unknown() {
    let url = database();
    let s = Sessions::new(
        PostgresStore::open(&url).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    let pair = s.issue("alice", &Map::new(), None).await.unwrap();
    let pair = s.rotate(&pair.refresh_token, None).await.unwrap();
    shared().psql(db_name(&url), "DELETE FROM tok_families");
    assert_eq!(
        s.revoke_refresh(&pair.refresh_token)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::RefreshUnknown
    );
    assert_eq!(
        s.rotate(&pair.refresh_token, None)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::RefreshUnknown
    );
    assert_eq!(
        shared()
            .psql(db_name(&url), "SELECT count(*) FROM tok_families")
            .trim(),
        "0"
    );
}

/// A database of schema version 1 (whose subject revocations announce the subject itself,
/// and whose families cannot move to another key) is upgraded in place by the first store
/// that opens it: version 4, the functions replaced, the columns added, every family kept
/// (its login read as a remembered one at its creation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_schema_is_upgraded_in_place() {
    let url = database();
    let db = db_name(&url);
    let store = PostgresStore::open(&url).await.unwrap();
    let s = Sessions::new(store, keys(), RefreshPolicy::default());
    let pair = s
        .issue("alice", &serde_json::Map::new(), None)
        .await
        .unwrap();
    drop(s);
    // Version 1 as it was: no key moves, the subject sent as itself.
    shared().psql(
        db,
        "UPDATE tok_meta SET schema_version = 1; \
         ALTER TABLE tok_families DROP COLUMN moved_from_key, DROP COLUMN moved_at_gen, \
         DROP COLUMN login; \
         DROP FUNCTION tok_rotate(text, bigint, bytea, text, bigint, bigint, text, text); \
         DROP FUNCTION tok_create(text, text, text, bigint, bigint, bigint, bigint, bigint, \
         text, bytea, bigint, bytea, bigint, bigint, text, text); \
         CREATE OR REPLACE FUNCTION tok_revoke_subject(p_subject text, p_now bigint) \
         RETURNS bigint LANGUAGE plpgsql AS $$ DECLARE n bigint; BEGIN \
         UPDATE tok_families SET revoked_ms = p_now WHERE subject = p_subject AND revoked_ms IS NULL; \
         GET DIAGNOSTICS n = ROW_COUNT; \
         IF n > 0 THEN PERFORM tok_announce('s:' || p_subject); END IF; RETURN n; END $$;",
    );
    open_at_once(&url, 3).await;
    assert_eq!(
        shared()
            .psql(db, "SELECT schema_version FROM tok_meta")
            .trim(),
        "4"
    );
    let body = shared().psql(
        db,
        "SELECT prosrc FROM pg_proc WHERE proname = 'tok_revoke_subject'",
    );
    assert!(body.contains("'h:'") && !body.contains("'s:'"), "{body}");
    let s = Sessions::new(
        PostgresStore::open(&url).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    assert!(
        s.rotate(&pair.refresh_token, None).await.is_ok(),
        "the family was kept"
    );
    assert_eq!(s.revoke_subject("alice").await.unwrap(), 1);
}
