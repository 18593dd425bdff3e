//! One conformance suite for refresh-token rotation, run against every store backend.
#![cfg(feature = "refresh")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tok::refresh::{RefreshPolicy, Sessions, TokenPair};
use tok::store::Store;
use tok::{ErrorKind, HmacKey, KeySet, NumericDate, Validation};

const DAY: u64 = 86_400_000;
const START_MS: u64 = 1_800_000_000_000;

/// A settable clock, in milliseconds.
#[derive(Clone)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn new() -> Self {
        Self(Arc::new(AtomicU64::new(START_MS)))
    }
    fn set_ms(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    fn advance_ms(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    fn ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    fn now(&self) -> NumericDate {
        NumericDate::from_millis(self.ms()).unwrap()
    }
}

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap().with_kid("k")).unwrap()
}

fn sessions<S: Store>(store: S, policy: RefreshPolicy, clock: &Clock) -> Sessions<S> {
    let c = clock.clone();
    Sessions::new(store, keys(), policy).with_clock(move || c.now())
}

fn claims(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn kind<T: std::fmt::Debug>(r: Result<T, tok::Error>) -> ErrorKind {
    r.unwrap_err().kind()
}

fn validation(clock: &Clock) -> (Validation, NumericDate) {
    (Validation::new(), clock.now())
}

async fn access_state<S: Store>(
    s: &Sessions<S>,
    pair: &TokenPair,
    clock: &Clock,
) -> Result<(), ErrorKind> {
    let (v, now) = validation(clock);
    // verify_access uses the session clock; the token's exp is checked against it.
    let _ = now;
    s.verify_access::<Map<String, Value>>(&pair.access_token, &v)
        .await
        .map(|_| ())
        .map_err(|e| e.kind())
}

/// The suite. Each case takes a fresh store from `make`.
mod cases {
    use super::*;

    pub async fn rotate_and_reuse<S: Store>(store: S) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let first = s
            .issue("alice", claims(json!({"role": "user"})), None)
            .await
            .unwrap();
        assert_eq!(access_state(&s, &first, &clock).await, Ok(()));
        let second = s.rotate(&first.refresh_token, None).await.unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        assert_eq!(second.family_id, first.family_id);
        let third = s.rotate(&second.refresh_token, None).await.unwrap();

        // The access token carries sub, sid and the claims.
        let (v, _) = validation(&clock);
        let verified = s
            .verify_access::<Map<String, Value>>(&third.access_token, &v)
            .await
            .unwrap();
        assert_eq!(verified.claims.sub.as_deref(), Some("alice"));
        assert_eq!(verified.claims.custom["sid"], json!(third.family_id));
        assert_eq!(verified.claims.custom["role"], "user");
        assert!(verified.claims.jti.is_some() && verified.claims.iat.is_some());

        // Replaying a retired token revokes the whole family, newest token included.
        assert_eq!(
            kind(s.rotate(&first.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(
            kind(s.rotate(&third.refresh_token, None).await),
            ErrorKind::Revoked
        );
        assert_eq!(
            access_state(&s, &third, &clock).await,
            Err(ErrorKind::Revoked)
        );
        assert_eq!(
            kind(s.rotate(&second.refresh_token, None).await),
            ErrorKind::Revoked
        );
    }

    pub async fn unknown_and_malformed_tokens_revoke_nothing<S: Store>(store: S) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let pair = s.issue("alice", Map::new(), None).await.unwrap();
        // Same family id, made-up secret: the family id is not secret (it is the `sid`),
        // so this must not log anyone out.
        let forged = format!("{}.{}", pair.family_id, tok::base64url::encode(&[1; 32]));
        assert_eq!(
            kind(s.rotate(&forged, None).await),
            ErrorKind::RefreshUnknown
        );
        let other_family = format!(
            "{}.{}",
            tok::base64url::encode(&[2; 16]),
            tok::base64url::encode(&[1; 32])
        );
        assert_eq!(
            kind(s.rotate(&other_family, None).await),
            ErrorKind::RefreshUnknown
        );
        for bad in [
            "",
            "x.y",
            &format!("{}=", pair.refresh_token.as_str()),
            &pair.access_token,
        ] {
            assert_eq!(
                kind(s.rotate(bad, None).await),
                ErrorKind::Malformed,
                "{bad}"
            );
        }
        assert!(
            s.rotate(&pair.refresh_token, None).await.is_ok(),
            "family still live"
        );
    }

    pub async fn grace_window_edges<S: Store>(store: S) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(60))
            .unwrap();
        let s = sessions(store, policy, &clock);
        let t0 = s.issue("alice", Map::new(), None).await.unwrap();
        let rotated_at = clock.ms();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();

        // Inside the window the previous token gets a new pair, which replaces t1.
        clock.set_ms(rotated_at + 30_000);
        let t1b = s.rotate(&t0.refresh_token, None).await.unwrap();
        clock.set_ms(rotated_at + 59_999);
        let t1c = s.rotate(&t0.refresh_token, None).await.unwrap();
        // Only the newest successor is live.
        assert_ne!(t1c.refresh_token, t1b.refresh_token);
        // The window's start never moved: at exactly +60 s it is closed.
        clock.set_ms(rotated_at + 60_000);
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        let _ = (t1, t1b);

        // Replaced successors are reuse, not grace.
        let s2 = t1c;
        let _ = s2;
    }

    pub async fn grace_replaced_successor_is_reuse<S: Store>(store: S) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(60))
            .unwrap();
        let s = sessions(store, policy, &clock);
        let t0 = s.issue("alice", Map::new(), None).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        let t1b = s.rotate(&t0.refresh_token, None).await.unwrap();
        assert_eq!(
            kind(s.rotate(&t1.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(
            kind(s.rotate(&t1b.refresh_token, None).await),
            ErrorKind::Revoked
        );
    }

    pub async fn grandparent_never_gets_grace<S: Store>(store: S) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(300))
            .unwrap();
        let s = sessions(store, policy, &clock);
        let t0 = s.issue("alice", Map::new(), None).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        let t2 = s.rotate(&t1.refresh_token, None).await.unwrap();
        // Same instant, inside any window: t1 is the previous (grace), t0 the grandparent.
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(
            kind(s.rotate(&t2.refresh_token, None).await),
            ErrorKind::Revoked
        );
    }

    pub async fn grace_does_not_save_an_expired_family<S: Store>(store: S) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(300))
            .unwrap()
            .with_family_lifetime(Duration::from_secs(100));
        let s = sessions(store, policy, &clock);
        let t0 = s.issue("alice", Map::new(), None).await.unwrap();
        clock.advance_ms(90_000);
        s.rotate(&t0.refresh_token, None).await.unwrap();
        clock.advance_ms(10_000);
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, None).await),
            ErrorKind::RefreshExpired
        );
    }

    pub async fn same_second_double_rotation_then_replay<S: Store>(store: S) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let t0 = s.issue("alice", Map::new(), None).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        let t2 = s.rotate(&t1.refresh_token, None).await.unwrap();
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(
            kind(s.rotate(&t2.refresh_token, None).await),
            ErrorKind::Revoked
        );
    }

    pub async fn lifetimes_with_injected_clock<S: Store>(store: S) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_family_lifetime(Duration::from_secs(30 * 86400))
            .with_idle_timeout(Duration::from_secs(7 * 86400));
        let s = sessions(store, policy, &clock);

        // Idle: unused for 7 days is over, 1 ms earlier is not.
        let a = s.issue("alice", Map::new(), None).await.unwrap();
        assert_eq!(a.refresh_expires_in, 7 * 86400);
        let b = s.issue("bob", Map::new(), None).await.unwrap();
        clock.advance_ms(7 * DAY - 1);
        let a = s.rotate(&a.refresh_token, None).await.unwrap();
        clock.advance_ms(1);
        assert_eq!(
            kind(s.rotate(&b.refresh_token, None).await),
            ErrorKind::RefreshExpired
        );

        // Absolute: rotating every 6 days never extends 30 days.
        let start = clock.ms() - 7 * DAY;
        let mut t = a;
        while clock.ms() + 6 * DAY < start + 30 * DAY {
            clock.advance_ms(6 * DAY);
            t = s.rotate(&t.refresh_token, None).await.unwrap();
            assert!(t.refresh_expires_in <= 30 * 86400);
        }
        clock.set_ms(start + 30 * DAY);
        assert_eq!(
            kind(s.rotate(&t.refresh_token, None).await),
            ErrorKind::RefreshExpired
        );

        // A clock set backwards does not extend the idle deadline.
        let c = s.issue("carol", Map::new(), None).await.unwrap();
        let used = clock.ms();
        clock.set_ms(used - 10 * DAY);
        let c = s.rotate(&c.refresh_token, None).await.unwrap();
        clock.set_ms(used + 7 * DAY);
        assert_eq!(
            kind(s.rotate(&c.refresh_token, None).await),
            ErrorKind::RefreshExpired
        );
    }

    pub async fn fingerprint_binding<S: Store>(store: S) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let t0 = s
            .issue("alice", Map::new(), Some(b"cookie-A"))
            .await
            .unwrap();
        let t1 = s
            .rotate(&t0.refresh_token, Some(b"cookie-A"))
            .await
            .unwrap();
        assert_eq!(
            kind(s.rotate(&t1.refresh_token, Some(b"cookie-B")).await),
            ErrorKind::FingerprintMismatch
        );
        assert_eq!(
            kind(s.rotate(&t1.refresh_token, Some(b"cookie-A")).await),
            ErrorKind::Revoked
        );

        let u0 = s
            .issue("alice", Map::new(), Some(b"cookie-A"))
            .await
            .unwrap();
        assert_eq!(
            kind(s.rotate(&u0.refresh_token, None).await),
            ErrorKind::FingerprintMismatch
        );
        // An unbound family ignores fingerprints.
        let v0 = s.issue("alice", Map::new(), None).await.unwrap();
        assert!(s.rotate(&v0.refresh_token, Some(b"anything")).await.is_ok());
    }

    pub async fn privilege_change<S: Store>(store: S) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let t0 = s
            .issue("alice", claims(json!({"role": "user"})), None)
            .await
            .unwrap();
        let t1 = s
            .rotate_with_claims(&t0.refresh_token, None, claims(json!({"role": "admin"})))
            .await
            .unwrap();
        let (v, _) = validation(&clock);
        let got = s
            .verify_access::<Map<String, Value>>(&t1.access_token, &v)
            .await
            .unwrap();
        assert_eq!(got.claims.custom["role"], "admin");
        // The new claims stick for later rotations; the old token is retired.
        let t2 = s.rotate(&t1.refresh_token, None).await.unwrap();
        let got = s
            .verify_access::<Map<String, Value>>(&t2.access_token, &v)
            .await
            .unwrap();
        assert_eq!(got.claims.custom["role"], "admin");
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(
            kind(s.issue("x", claims(json!({"sub": "y"})), None).await),
            ErrorKind::Malformed
        );
        assert_eq!(
            kind(s.issue("x", claims(json!({"sid": "y"})), None).await),
            ErrorKind::Malformed
        );
    }

    pub async fn revocation<S: Store>(store: S) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let a1 = s.issue("alice", Map::new(), None).await.unwrap();
        let a2 = s.issue("alice", Map::new(), None).await.unwrap();
        let a3 = s.issue("alice", Map::new(), None).await.unwrap();
        let b1 = s.issue("bob", Map::new(), None).await.unwrap();

        assert!(s.revoke_refresh(&a3.refresh_token).await.unwrap());
        assert!(
            !s.revoke_family(&a3.family_id).await.unwrap(),
            "already revoked"
        );
        assert_eq!(
            kind(s.rotate(&a3.refresh_token, None).await),
            ErrorKind::Revoked
        );

        assert_eq!(s.revoke_subject("alice").await.unwrap(), 2);
        for t in [&a1, &a2] {
            assert_eq!(
                kind(s.rotate(&t.refresh_token, None).await),
                ErrorKind::Revoked
            );
            assert_eq!(access_state(&s, t, &clock).await, Err(ErrorKind::Revoked));
        }
        assert!(
            s.rotate(&b1.refresh_token, None).await.is_ok(),
            "other subjects unaffected"
        );
    }

    pub async fn denylist_until_exp<S: Store>(store: S) {
        let clock = Clock::new();
        let s = sessions(
            store,
            RefreshPolicy::default().with_access_ttl(Duration::from_secs(600)),
            &clock,
        );
        let pair = s.issue("alice", Map::new(), None).await.unwrap();
        let other = s.issue("alice", Map::new(), None).await.unwrap();
        let (v, _) = validation(&clock);
        s.revoke_access(&pair.access_token, &v).await.unwrap();
        assert_eq!(
            access_state(&s, &pair, &clock).await,
            Err(ErrorKind::Revoked)
        );
        assert_eq!(
            access_state(&s, &other, &clock).await,
            Ok(()),
            "only that jti"
        );
        assert!(
            s.rotate(&pair.refresh_token, None).await.is_ok(),
            "the family lives on"
        );

        let jti = tok::insecure::decode_unverified(&pair.access_token, 8192)
            .unwrap()
            .claims["jti"]
            .as_str()
            .unwrap()
            .to_owned();
        let exp = clock.ms() / 1000 * 1000 + 600_000;
        let store = s.store();
        assert!(
            store
                .is_jti_denied(&jti, NumericDate::from_millis(exp - 1).unwrap())
                .await
                .unwrap()
        );
        assert!(
            !store
                .is_jti_denied(&jti, NumericDate::from_millis(exp).unwrap())
                .await
                .unwrap()
        );
        let forged =
            "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(
            kind(s.revoke_access(forged, &v).await),
            ErrorKind::BadSignature
        );
    }

    pub async fn purge_expired<S: Store>(store: S) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default().with_idle_timeout(Duration::from_secs(86400));
        let s = sessions(store, policy, &clock);
        let old = s.issue("alice", Map::new(), None).await.unwrap();
        let old = s.rotate(&old.refresh_token, None).await.unwrap();
        let (v, _) = validation(&clock);
        s.revoke_access(&old.access_token, &v).await.unwrap();
        clock.advance_ms(DAY - 1);
        let fresh = s.issue("bob", Map::new(), None).await.unwrap();
        clock.advance_ms(1);
        let removed = s.store().purge_expired(clock.now()).await.unwrap();
        // The old family (with its token hashes) and the denylisted jti (exp 15 min) went.
        assert_eq!(removed, 2);
        assert!(s.store().family(&old.family_id).await.unwrap().is_none());
        assert_eq!(
            kind(s.rotate(&old.refresh_token, None).await),
            ErrorKind::RefreshUnknown
        );
        assert!(s.store().family(&fresh.family_id).await.unwrap().is_some());
        assert!(s.rotate(&fresh.refresh_token, None).await.is_ok());
        assert_eq!(s.store().purge_expired(clock.now()).await.unwrap(), 0);
    }

    pub async fn token_response_shape<S: Store>(store: S) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let pair = s.issue("alice", Map::new(), None).await.unwrap();
        let v = serde_json::to_value(&pair).unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 900);
        assert_eq!(v["refresh_expires_in"], 7 * 86400);
        assert_eq!(v["refresh_token"], json!(pair.refresh_token.as_str()));
        assert_eq!(v.as_object().unwrap().len(), 5);
        let debug = format!("{pair:?}");
        assert!(
            !debug.contains(pair.refresh_token.as_str()) && !debug.contains(&pair.access_token)
        );
    }
}

macro_rules! conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            conformance!(@cases $make; rotate_and_reuse, unknown_and_malformed_tokens_revoke_nothing,
                grace_window_edges, grace_replaced_successor_is_reuse, grandparent_never_gets_grace,
                grace_does_not_save_an_expired_family, same_second_double_rotation_then_replay,
                lifetimes_with_injected_clock, fingerprint_binding, privilege_change, revocation,
                denylist_until_exp, purge_expired, token_response_shape);
        }
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $make.await;
                cases::$case(store).await;
            }
        )*
    };
}

conformance!(memory, async { (tok::store::MemoryStore::new(), ()) });

#[cfg(feature = "sqlite")]
conformance!(sqlite, async {
    let dir = tempfile::tempdir().unwrap();
    let store = tok::store::SqliteStore::open(dir.path().join("tok.db"))
        .await
        .unwrap();
    (store, dir)
});

#[cfg(feature = "redis")]
conformance!(redis, async {
    let server = common::redis_server::RedisServer::start();
    let store = tok::store::RedisStore::open(&format!("{}?prefix=conf", server.url()))
        .await
        .unwrap();
    (store, server)
});
