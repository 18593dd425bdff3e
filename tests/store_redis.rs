//! The Redis store for real: two OS processes as two servers behind a load balancer, a
//! Redis crash in the middle of a stream of rotations, and a three-node Redis Cluster.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::processes::Server;
use common::redis_server::RedisServer;
use serde_json::Map;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{RedisStore, Store};
use tok::{ErrorKind, HmacKey, KeySet};

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap())
}

#[tokio::test]
async fn two_processes_alternate_then_race() {
    let redis = RedisServer::start();
    let url = format!("{}?prefix=lb", redis.url());
    let (mut a, mut b) = (Server::start(&url), Server::start(&url));
    let sessions = Sessions::new(
        RedisStore::open(&url).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    );

    // Alternating: each server rotates what the other minted, through 200 generations.
    let mut token = sessions
        .issue("alice", &Map::new(), None)
        .await
        .unwrap()
        .refresh_token
        .to_string();
    for generation in 0..200 {
        let server = if generation % 2 == 0 { &mut a } else { &mut b };
        server.send(&token);
        token = server
            .answer()
            .unwrap_or_else(|e| panic!("generation {generation}: {e}"));
    }
    let family = token.split('.').next().unwrap().to_owned();
    assert_eq!(
        sessions
            .store()
            .family(&family)
            .await
            .unwrap()
            .unwrap()
            .generation,
        200
    );

    // Racing: both get the same token at once, 100 rounds; exactly one wins each.
    for round in 0..100 {
        let token = sessions
            .issue("alice", &Map::new(), None)
            .await
            .unwrap()
            .refresh_token
            .to_string();
        a.send(&token);
        b.send(&token);
        let answers = [a.answer(), b.answer()];
        let winners = answers.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: {answers:?}");
        for loser in answers.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                loser == "refresh-reused" || loser == "revoked",
                "round {round}: {loser}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_one_winner() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url()).await.unwrap();
    let s = Arc::new(Sessions::new(store, keys(), RefreshPolicy::default()));
    common::races::one_winner_per_round(s, 16, 300).await;
}

/// A family's one key lives at least until the family's deadline and at most an hour
/// (the renewal slack) past it, and its TTL is renewed only when the deadline outgrows
/// the time it is kept until. The clock is injected; Redis's TTLs are relative to it.
#[tokio::test]
async fn family_keys_expire_with_the_family() {
    use std::sync::atomic::{AtomicU64, Ordering};
    const MIN: u64 = 60_000;
    let redis = RedisServer::start();
    let t0 = tok::NumericDate::now().as_millis();
    let now = Arc::new(AtomicU64::new(t0));
    let clock = Arc::clone(&now);
    let store = RedisStore::open(&format!("{}?prefix=ttl", redis.url()))
        .await
        .unwrap();
    let policy = RefreshPolicy::default()
        .with_idle_timeout(Duration::from_millis(60 * MIN))
        .with_session_lifetime(Duration::from_millis(24 * 60 * MIN));
    let s = Sessions::new(store, keys(), policy)
        .with_clock(move || tok::NumericDate::from_millis(clock.load(Ordering::SeqCst)).unwrap());
    let pttl = |key: &str| -> u64 { redis.cli(&["PTTL", key]).trim().parse().unwrap() };
    let kept = |key: &str| -> u64 { redis.cli(&["HGET", key, "ttl"]).trim().parse().unwrap() };

    let mut token = s
        .issue("alice", &Map::new(), None)
        .await
        .unwrap()
        .refresh_token;
    let key = redis.cli(&["KEYS", "ttl:*:f"]).trim().to_owned();
    assert!(
        key.starts_with("ttl:{") && !key.contains('\n'),
        "one family key: {key:?}"
    );
    // Deadline t0 + 60 min (idle); kept until an hour past it.
    assert_eq!(kept(&key), t0 + 120 * MIN);
    assert!(
        (119 * MIN..=120 * MIN).contains(&pttl(&key)),
        "{}",
        pttl(&key)
    );

    // Rotating at +30 min moves the deadline to +90 min, still inside: no renewal.
    now.store(t0 + 30 * MIN, Ordering::SeqCst);
    token = s.rotate(&token, None).await.unwrap().refresh_token;
    assert_eq!(kept(&key), t0 + 120 * MIN);

    // At +80 min the deadline (+140) passes the kept time: renewed to +200 min, which is
    // 120 minutes from the (injected) now.
    now.store(t0 + 80 * MIN, Ordering::SeqCst);
    s.rotate(&token, None).await.unwrap();
    assert_eq!(kept(&key), t0 + 200 * MIN);
    assert!(
        (119 * MIN..=120 * MIN).contains(&pttl(&key)),
        "{}",
        pttl(&key)
    );

    // The absolute lifetime caps it: a one-hour family is kept one hour, no slack.
    let short = Sessions::new(
        RedisStore::open(&format!("{}?prefix=short", redis.url()))
            .await
            .unwrap(),
        keys(),
        RefreshPolicy::default().with_session_lifetime(Duration::from_millis(60 * MIN)),
    );
    short.issue("bob", &Map::new(), None).await.unwrap();
    let key = redis.cli(&["KEYS", "short:*:f"]).trim().to_owned();
    assert!(
        (59 * MIN..=60 * MIN).contains(&pttl(&key)),
        "{}",
        pttl(&key)
    );
}

/// Redis dies in the middle of a stream of rotations and comes back: while it is down
/// every rotation is a clear store error (never `refresh-reused`, never a token); after it
/// is back, rotations continue on the same family, which is intact.
#[tokio::test]
async fn redis_crash_and_restart_during_rotations() {
    let mut redis = RedisServer::start();
    let url = format!("{}?timeout_ms=300", redis.url());
    // The grace window absorbs the one ambiguous case: a rotation Redis committed whose
    // reply was lost in the crash; the client's retry with the same token is then the
    // immediately previous token, not reuse.
    let policy = RefreshPolicy::default()
        .with_grace(Duration::from_secs(60))
        .unwrap();
    let s = Sessions::new(RedisStore::open(&url).await.unwrap(), keys(), policy);
    let first = s.issue("alice", &Map::new(), None).await.unwrap();
    let family = first.session_id.clone();
    let mut token = first.refresh_token.to_string();
    let (mut ok, mut store_errors) = (0, 0);
    // Up for steps 0..100, down for 100..120, up again from 120 on.
    let down = 100..120;
    for step in 0..220 {
        if step == down.start {
            redis.kill();
        }
        if step == down.end {
            redis.restart();
        }
        match s.rotate(&token, None).await {
            Ok(pair) => {
                assert!(
                    !down.contains(&step),
                    "step {step}: a token minted while Redis was down"
                );
                token = pair.refresh_token.to_string();
                ok += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Store, "step {step}: {e}");
                assert!(!e.detail().is_empty());
                store_errors += 1;
                assert!(
                    (down.start..down.end + 10).contains(&step),
                    "step {step}: store error while Redis was up: {e}"
                );
                if step >= down.end {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    assert!(ok >= 190, "only {ok} rotations succeeded");
    assert!(store_errors >= 20, "{store_errors} store errors");
    let f = s
        .store()
        .family(&family)
        .await
        .unwrap()
        .expect("the family survived the crash");
    assert!(
        f.revoked_at.is_none(),
        "the crash made the family look reused"
    );
    assert_eq!(
        f.generation as usize, ok,
        "every confirmed rotation, and no other, is stored"
    );
    assert!(s.rotate(&token, None).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_are_clear_when_redis_is_unreachable() {
    let redis = RedisServer::start();
    let url = redis.url();
    drop(redis);
    let e = RedisStore::open(&format!("{url}?timeout_ms=200"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store);
    let e = tok::store::open("redis://127.0.0.1:1?timeout_ms=200")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store);
}

/// Three local nodes joined into a Redis Cluster: rotation, reuse detection and
/// revocation work unchanged because each family's keys share one hash tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster() {
    let (nodes, url) = common::redis_server::start_cluster();
    let s = Sessions::new(
        RedisStore::open(&url).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    // Enough families that they land in every node's slots.
    let mut tokens = Vec::new();
    for i in 0..30 {
        let t0 = s
            .issue(&format!("user{}", i % 3), &Map::new(), None)
            .await
            .unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        let t2 = s.rotate(&t1.refresh_token, None).await.unwrap();
        tokens.push((t0, t2));
    }
    let keys_per_node: Vec<usize> = nodes
        .iter()
        .map(|n| n.cli(&["DBSIZE"]).trim().parse().unwrap())
        .collect();
    assert!(
        keys_per_node.iter().all(|&k| k > 0),
        "families spread over all nodes: {keys_per_node:?}"
    );
    for (old, _) in tokens.iter().take(10) {
        assert_eq!(
            s.rotate(&old.refresh_token, None).await.unwrap_err().kind(),
            ErrorKind::RefreshReused
        );
    }
    for (_, newest) in tokens.iter().take(10) {
        assert_eq!(
            s.rotate(&newest.refresh_token, None)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::Revoked
        );
    }
    assert_eq!(s.revoke_subject("user1").await.unwrap(), 10 - 3);
    for (i, (_, newest)) in tokens.iter().enumerate().skip(10) {
        let result = s.rotate(&newest.refresh_token, None).await;
        if i % 3 == 1 {
            assert_eq!(result.unwrap_err().kind(), ErrorKind::Revoked);
        } else {
            assert!(result.is_ok(), "family {i}");
        }
    }
}

/// A family's one key has the same size after 10,000 rotations as after one (Redis
/// `MEMORY USAGE`), and generation 0 is still caught as reuse.
#[tokio::test]
async fn family_memory_is_constant() {
    let redis = RedisServer::start_with(&["--appendonly", "no"]);
    let s = Sessions::new(
        RedisStore::open(&format!("{}?prefix=mem", redis.url()))
            .await
            .unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    let t0 = s.issue("alice", &Map::new(), None).await.unwrap();
    let key = redis.cli(&["KEYS", "mem:*:f"]).trim().to_owned();
    let usage = || -> u64 {
        redis
            .cli(&["MEMORY", "USAGE", &key])
            .trim()
            .parse()
            .unwrap()
    };
    let mut t = s.rotate(&t0.refresh_token, None).await.unwrap();
    let after_one = usage();
    // The generation grows from 1 to 5 digits; nothing else grows.
    for _ in 1..10_000 {
        t = s.rotate(&t.refresh_token, None).await.unwrap();
    }
    let after_many = usage();
    eprintln!("MEMORY USAGE after 1 rotation: {after_one} B, after 10,000: {after_many} B");
    assert!(
        after_many <= after_one + 8,
        "{after_one} B after 1 rotation, {after_many} B after 10,000"
    );
    // The record's 16 fields (its login among them), the format version, and the last
    // request id (which makes a retried script call recognisable).
    assert_eq!(
        redis.cli(&["HLEN", &key]).trim(),
        "18",
        "fields of one family"
    );
    assert_eq!(
        s.rotate(&t0.refresh_token, None).await.unwrap_err().kind(),
        ErrorKind::RefreshReused
    );
}

/// "Logout everywhere" finds a session that stayed alive past its idle timeout by
/// rotating, in real time: the subject index lives as long as any family in it can.
#[tokio::test]
async fn logout_everywhere_reaches_sessions_rotated_past_idle() {
    let redis = RedisServer::start();
    let policy = RefreshPolicy::default()
        .with_idle_timeout(Duration::from_millis(800))
        .with_session_lifetime(Duration::from_secs(3600));
    let s = Sessions::new(
        RedisStore::open(&redis.url()).await.unwrap(),
        keys(),
        policy,
    );
    let mut t = s.issue("alice", &Map::new(), None).await.unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        t = s.rotate(&t.refresh_token, None).await.unwrap();
    }
    assert_eq!(s.revoke_subject("alice").await.unwrap(), 1);
    assert_eq!(
        s.rotate(&t.refresh_token, None).await.unwrap_err().kind(),
        ErrorKind::Revoked
    );
}

/// A family is indexed under its subject before it is created. A "logout everywhere"
/// that runs between the two leaves a tombstone, and the creation stores the family
/// revoked: no family created before the logout returned stays live.
#[tokio::test]
async fn logout_everywhere_between_indexing_and_creating() {
    use tok::refresh::family::FamilyRecord;
    use tok::refresh::token::FamilySecret;
    let redis = RedisServer::start();
    let store = RedisStore::open(&format!("{}?prefix=race", redis.url()))
        .await
        .unwrap();
    let now = tok::NumericDate::now();
    let id = tok::base64url::encode(&[3; 16]);
    // The indexing half of create_family, as it lands first.
    let subject_key = format!(
        "race:s:{}",
        tok::refresh::token::hash(b"alice")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    redis.cli(&["SADD", &subject_key, &id]);
    assert_eq!(store.revoke_subject("alice", now).await.unwrap(), 0);
    // Then the creation itself.
    let record = FamilyRecord {
        family_id: id.clone(),
        subject: "alice".into(),
        claims: "{}".into(),
        created_at: now,
        expires_at: now.saturating_add(Duration::from_secs(3600)),
        last_used_at: now,
        idle_timeout: Duration::from_secs(600),
        generation: 0,
        secret: FamilySecret {
            key_id: "k".into(),
            nonce: [1; 32],
            moved: None,
        },
        previous_rotated_at: None,
        fingerprint: None,
        claims_generation: 0,
        label: String::new(),
        login: String::new(),
        revoked_at: None,
    };
    assert_eq!(
        store.create_family(&record, now).await.unwrap(),
        tok::store::Created::Stored
    );
    let stored = store.family(&id).await.unwrap().unwrap();
    assert!(
        stored.revoked_at.is_some(),
        "created after a logout-everywhere began"
    );
    // An id that really exists is still never overwritten.
    assert_eq!(
        store.create_family(&record, now).await.unwrap(),
        tok::store::Created::IdTaken
    );
}

/// Everything Redis ever wrote (its append-only file, fsynced on every write) holds no
/// refresh token, no tag and no raw fingerprint.
#[tokio::test]
async fn redis_holds_no_token_and_no_raw_fingerprint() {
    const FINGERPRINT: &[u8] = b"fp-6d2b1c9e-raw-cookie-value";
    let redis = RedisServer::start();
    let s = Sessions::new(
        RedisStore::open(&redis.url()).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    let mut tokens = Vec::new();
    for i in 0..20 {
        let a = s
            .issue(&format!("user{i}"), &Map::new(), Some(&FINGERPRINT))
            .await
            .unwrap();
        let b = s
            .rotate(&a.refresh_token, Some(&FINGERPRINT))
            .await
            .unwrap();
        s.revoke_access(&b.access_token, &tok::Validation::new())
            .await
            .unwrap();
        tokens.push(a.refresh_token.to_string());
        tokens.push(b.refresh_token.to_string());
    }
    let mut dump = Vec::new();
    let mut files = vec![redis.path()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            dump.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(
        dump.windows(5).any(|w| w == b"HSET\r" || w == b"EVALS"),
        "the AOF was read"
    );
    for token in &tokens {
        let tag = token.rsplit_once('.').unwrap().1;
        let raw = tok::base64url::decode(tag.as_bytes()).unwrap();
        for needle in [tag.as_bytes(), &raw[..]] {
            assert!(
                !dump.windows(needle.len()).any(|w| w == needle),
                "a tag is in the AOF"
            );
        }
    }
    assert!(!dump.windows(FINGERPRINT.len()).any(|w| w == FINGERPRINT));
}

/// A family written by the previous format (token hashes, no nonce) is refused with a
/// message naming the cause, never decided on.
#[tokio::test]
async fn a_family_of_the_old_format_is_refused_clearly() {
    let redis = RedisServer::start();
    let s = Sessions::new(
        RedisStore::open(&format!("{}?prefix=old", redis.url()))
            .await
            .unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    let family = tok::base64url::encode(&[4; 16]);
    redis.cli(&[
        "HSET",
        &format!("old:{{{family}}}:f"),
        "sub",
        "alice",
        "gen",
        "0",
        "cur",
        "00",
        "revoked",
        "",
    ]);
    let token = format!("{family}.0.{}", tok::base64url::encode(&[1; 32]));
    let err = s.rotate(&token, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(err.detail().contains("another tok version"), "{err}");
}
