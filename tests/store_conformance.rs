//! One conformance suite for sessions, run against every store backend.
//!
//! The cases are written inside the `suite!` macro, which defines both the cases and the
//! `conformance!` macro each backend instantiates: a backend cannot skip a case, and no
//! list of cases is kept by hand.
#![cfg(feature = "refresh")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tok::layer::Cached;
use tok::refresh::{LoginDetails, RefreshPolicy, Sessions, TokenPair};
use tok::store::{PURGE_MARGIN, Store};
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
    KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap().with_kid("k"))
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

async fn access_state<S: Store>(s: &Sessions<S>, pair: &TokenPair) -> Result<(), ErrorKind> {
    s.verify_access::<Map<String, Value>>(&pair.access_token, &Validation::new())
        .await
        .map(|_| ())
        .map_err(|e| e.kind())
}

/// `token` with its generation replaced (the tag kept).
fn with_generation(token: &str, generation: u64) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{generation}.{}", parts[0], parts[2])
}

/// `token` with its tag replaced by `tag_of`'s (family and generation kept).
fn with_tag_of(token: &str, tag_of: &str) -> String {
    let (head, _) = token.rsplit_once('.').unwrap();
    format!("{head}.{}", tag_of.rsplit_once('.').unwrap().1)
}

fn generation(token: &str) -> u64 {
    token.split('.').nth(1).unwrap().parse().unwrap()
}

/// Asserts what [`Sessions::key_usage`] answers: each key of the set as (kid, signing,
/// live sessions), and the sessions on keys not in the set. Redis Cluster cannot count
/// (SCAN reaches one node) and must say so.
async fn assert_usage<S: Store>(
    s: &Sessions<S>,
    keys: &[(Option<&str>, bool, u64)],
    not_in_set: u64,
) {
    let usage = match s.key_usage().await {
        Err(e) if e.kind() == ErrorKind::Config && e.to_string().contains("Redis Cluster") => {
            return;
        }
        other => other.unwrap(),
    };
    let got: Vec<_> = usage
        .keys
        .iter()
        .map(|k| (k.kid.as_deref(), k.signing, k.sessions))
        .collect();
    assert_eq!((got.as_slice(), usage.not_in_set), (keys, not_in_set));
}

/// The login claims of an access token (read without checking: the cases check the
/// token online besides).
fn login_claims(pair: &TokenPair) -> Value {
    let payload = pair.access_token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&tok::base64url::decode(payload.as_bytes()).unwrap()).unwrap();
    json!({"auth_time": claims["auth_time"], "amr": claims["amr"], "acr": claims["acr"]})
}

/// Whether the access token passes an online check that asks for a login at most
/// `max_s` seconds old.
async fn recent<S: Store>(s: &Sessions<S>, pair: &TokenPair, max_s: u64) -> Result<(), ErrorKind> {
    let v = Validation::new().with_max_auth_age(Duration::from_secs(max_s));
    s.verify_access::<Map<String, Value>>(&pair.access_token, &v)
        .await
        .map(|_| ())
        .map_err(|e| e.kind())
}

/// Defines the cases (in `mod cases`) and the `conformance!` macro that runs every one of
/// them on a backend. `$d` is a literal `$`, so that the inner macro can have its own
/// metavariables.
macro_rules! suite {
    ($d:tt $(async fn $name:ident($store:ident) $body:block)*) => {
        mod cases {
            use super::*;
            $(pub async fn $name<S: Store + 'static>($store: S) $body)*
        }

        macro_rules! conformance {
            ($d backend:ident, $d make:expr) => {
                mod $d backend {
                    use super::*;
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                        async fn $name() {
                            let (store, _guard) = $d make.await;
                            cases::$name(store).await;
                        }
                    )*
                }
            };
        }
    };
}

suite! { $
    async fn logins_are_recorded_and_never_moved_by_rotations(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default().with_grace(Duration::from_secs(60)).unwrap();
        let s = sessions(store, policy, &clock);
        let details = LoginDetails::new().with_methods(["pwd", "otp"]).with_level("loa2");
        let t0 = s.issue_with("alice", &claims(json!({"role": "user"})), None, &details).await.unwrap();
        let login = json!({"auth_time": START_MS / 1000, "amr": ["pwd", "otp"], "acr": "loa2"});
        assert_eq!(login_claims(&t0), login);
        assert!(t0.remembered);
        // Rotations, the grace window and a privilege change, ten minutes on: the login
        // stays when it was.
        clock.advance_ms(600_000);
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        clock.advance_ms(1_000);
        let again = s.rotate(&t0.refresh_token, None).await.unwrap();
        assert_eq!(again.refresh_token, t1.refresh_token, "grace");
        let t2 = s
            .rotate_with_claims(&t1.refresh_token, None, &claims(json!({"role": "admin"})))
            .await
            .unwrap();
        let t3 = s.rotate(&t2.refresh_token, None).await.unwrap();
        for pair in [&t1, &again, &t2, &t3] {
            assert_eq!(login_claims(pair), login);
            assert_eq!(recent(&s, pair, 300).await, Err(ErrorKind::InsufficientUserAuthentication));
        }
        assert_eq!(recent(&s, &t3, 700).await, Ok(()));
        let stored = s.store().family(&t3.session_id).await.unwrap().unwrap();
        let read = stored.login().unwrap();
        assert_eq!(read.auth_time, NumericDate::from_millis(START_MS).unwrap());
        assert_eq!((read.amr.as_slice(), read.acr.as_deref()), (&["pwd".to_owned(), "otp".to_owned()][..], Some("loa2")));
        // Nothing said of the login: auth_time only.
        let bare = s.issue("bob", &Map::new(), None).await.unwrap();
        assert_eq!(login_claims(&bare), json!({"auth_time": clock.ms() / 1000, "amr": null, "acr": null}));
        // The application cannot set them as claims, nor name a method tokens cannot carry.
        for name in ["auth_time", "amr", "acr"] {
            assert_eq!(kind(s.issue("x", &claims(json!({name: 1})), None).await), ErrorKind::Malformed);
        }
        let bad = LoginDetails::new().with_methods(["two words"]);
        assert_eq!(kind(s.issue_with("x", &Map::new(), None, &bad).await), ErrorKind::Malformed);
    }

    async fn reauthentication_moves_the_login_of_one_session_only(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default().with_grace(Duration::from_secs(60)).unwrap();
        let s = sessions(store, policy, &clock);
        let forgetful = LoginDetails::new().with_methods(["pwd"]).not_remembered();
        let laptop0 = s.issue_with("alice", &claims(json!({"role": "user"})), None, &forgetful).await.unwrap();
        let phone = s.issue("alice", &Map::new(), None).await.unwrap();
        clock.advance_ms(600_000);
        let laptop1 = s.rotate(&laptop0.refresh_token, None).await.unwrap();
        assert_eq!(recent(&s, &laptop1, 300).await, Err(ErrorKind::InsufficientUserAuthentication));
        let proof = LoginDetails::new().with_methods(["pwd", "hwk"]).with_level("loa3");
        let laptop2 = s.reauthenticate(&laptop1.refresh_token, None, &proof).await.unwrap();
        assert_eq!(generation(&laptop2.refresh_token), 2, "a reauthentication rotates");
        assert_eq!(
            login_claims(&laptop2),
            json!({"auth_time": clock.ms() / 1000, "amr": ["pwd", "hwk"], "acr": "loa3"})
        );
        assert_eq!(recent(&s, &laptop2, 300).await, Ok(()));
        assert!(!laptop2.remembered, "the session keeps whether it is remembered");
        // The session's earlier access tokens are outdated online; offline they carry the
        // old login and fail a recency check by themselves.
        assert_eq!(access_state(&s, &laptop1).await, Err(ErrorKind::Revoked));
        assert_eq!(access_state(&s, &laptop0).await, Err(ErrorKind::Revoked));
        assert_eq!(login_claims(&laptop1)["auth_time"], json!(START_MS / 1000));
        // The claims are the session's own, and later rotations keep the new login.
        clock.advance_ms(1_000);
        let laptop3 = s.rotate(&laptop2.refresh_token, None).await.unwrap();
        assert_eq!(login_claims(&laptop3), login_claims(&laptop2));
        let v = s.verify_access::<Map<String, Value>>(&laptop3.access_token, &Validation::new()).await.unwrap();
        assert_eq!(v.claims.custom["role"], "user");
        // The other session of the same user is untouched.
        let phone1 = s.rotate(&phone.refresh_token, None).await.unwrap();
        assert_eq!(login_claims(&phone1)["auth_time"], json!(START_MS / 1000));
        assert_eq!(recent(&s, &phone1, 300).await, Err(ErrorKind::InsufficientUserAuthentication));
        assert_eq!(access_state(&s, &phone1).await, Ok(()));
        // The token a reauthentication retired gets no grace: it is reuse, and revokes.
        assert_eq!(kind(s.rotate(&laptop1.refresh_token, None).await), ErrorKind::RefreshReused);
        assert_eq!(kind(s.reauthenticate(&laptop3.refresh_token, None, &proof).await), ErrorKind::Revoked);
    }

    async fn a_retired_token_cannot_reauthenticate(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default().with_grace(Duration::from_secs(60)).unwrap();
        let s = sessions(store, policy, &clock);
        let t0 = s.issue("alice", &Map::new(), Some(b"fp")).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, Some(b"fp")).await.unwrap();
        clock.advance_ms(1_000);
        // Inside grace the previous token rotates on (as a privilege change does), never
        // handing out the live token another holder may share.
        let fresh = s.reauthenticate(&t0.refresh_token, Some(b"fp"), &LoginDetails::new()).await.unwrap();
        assert_eq!(generation(&fresh.refresh_token), 2);
        assert_eq!(kind(s.rotate(&t1.refresh_token, Some(b"fp")).await), ErrorKind::RefreshReused);
        // A thief without the fingerprint revokes the session instead of refreshing it.
        let t0 = s.issue("bob", &Map::new(), Some(b"fp")).await.unwrap();
        assert_eq!(
            kind(s.reauthenticate(&t0.refresh_token, Some(b"other"), &LoginDetails::new()).await),
            ErrorKind::FingerprintMismatch
        );
        assert_eq!(kind(s.rotate(&t0.refresh_token, Some(b"fp")).await), ErrorKind::Revoked);
        // A token no family minted.
        assert_eq!(
            kind(s.reauthenticate(&with_generation(&t0.refresh_token, 5), Some(b"fp"), &LoginDetails::new()).await),
            ErrorKind::RefreshUnknown
        );
    }

    async fn unremembered_logins_end_sooner(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_idle_timeout(Duration::from_secs(30 * 86400))
            .with_unremembered_lifetime(Duration::from_secs(3600));
        let s = sessions(store, policy, &clock);
        let short = s
            .issue_with("alice", &Map::new(), None, &LoginDetails::new().not_remembered())
            .await
            .unwrap();
        let long = s.issue_with("alice", &Map::new(), None, &LoginDetails::new()).await.unwrap();
        assert_eq!((short.remembered, short.refresh_expires_in), (false, 3600));
        assert_eq!((long.remembered, long.refresh_expires_in), (true, 30 * 86400));
        clock.advance_ms(3_599_000);
        let short = s.rotate(&short.refresh_token, None).await.unwrap();
        assert_eq!((short.remembered, short.refresh_expires_in), (false, 1));
        clock.advance_ms(1_000);
        assert_eq!(kind(s.rotate(&short.refresh_token, None).await), ErrorKind::RefreshExpired);
        assert!(s.rotate(&long.refresh_token, None).await.unwrap().remembered);
    }

    async fn rotate_and_reuse(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let first = s
            .issue("alice", &claims(json!({"role": "user"})), None)
            .await
            .unwrap();
        assert_eq!(access_state(&s, &first).await, Ok(()));
        assert_eq!(generation(&first.refresh_token), 0);
        let second = s.rotate(&first.refresh_token, None).await.unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        assert_eq!(generation(&second.refresh_token), 1);
        assert_eq!(second.session_id, first.session_id);
        let third = s.rotate(&second.refresh_token, None).await.unwrap();

        // The access token carries sub, sid and the claims.
        let verified = s
            .verify_access::<Map<String, Value>>(&third.access_token, &Validation::new())
            .await
            .unwrap();
        assert_eq!(verified.claims.sub.as_deref(), Some("alice"));
        assert_eq!(verified.claims.custom["sid"], json!(third.session_id));
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
        assert_eq!(access_state(&s, &third).await, Err(ErrorKind::Revoked));
        assert_eq!(
            kind(s.rotate(&second.refresh_token, None).await),
            ErrorKind::Revoked
        );
    }

    async fn forged_tokens_revoke_nothing(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let pair = s.issue("alice", &Map::new(), None).await.unwrap();
        let other = s.issue("bob", &Map::new(), None).await.unwrap();
        let next_of_other = s.rotate(&other.refresh_token, None).await.unwrap();
        let live = pair.refresh_token.as_str();
        let family = pair.session_id.as_str();
        let random_tag = tok::base64url::encode(&[1; 32]);
        for forged in [
            // The family id is public (every access token's `sid`): a made-up tag for it.
            format!("{family}.0.{random_tag}"),
            // A real tag of another family, spliced onto this family's id.
            format!("{family}.0.{}", other.refresh_token.rsplit_once('.').unwrap().1),
            // This family's real tag with its generation edited, up and down.
            with_generation(live, 1),
            with_generation(live, 7),
            // Another family's live token with the generation of this one.
            with_tag_of(&with_generation(live, 1), &next_of_other.refresh_token),
            // A family that does not exist.
            format!("{}.0.{random_tag}", tok::base64url::encode(&[2; 16])),
        ] {
            assert_eq!(
                kind(s.rotate(&forged, None).await),
                ErrorKind::RefreshUnknown,
                "{forged}"
            );
            assert_eq!(
                kind(s.revoke_refresh(&forged).await),
                ErrorKind::RefreshUnknown,
                "logout with {forged}"
            );
        }
        for bad in [
            "",
            "x.y",
            "x.0.y",
            &format!("{live}="),
            &format!("{family}.{random_tag}"),
            &pair.access_token,
        ] {
            assert_eq!(kind(s.rotate(bad, None).await), ErrorKind::Malformed, "{bad}");
            assert_eq!(kind(s.revoke_refresh(bad).await), ErrorKind::Malformed, "{bad}");
        }
        // Nothing above touched either family.
        let stored = s.store().family(family).await.unwrap().unwrap();
        assert_eq!((stored.generation, stored.revoked_at), (0, None));
        assert!(s.rotate(live, None).await.is_ok(), "family still live");
        assert!(s.rotate(&next_of_other.refresh_token, None).await.is_ok());
    }

    async fn tokens_of_another_key_are_unknown(store) {
        let clock = Clock::new();
        // One store behind two `Sessions`: `Arc<S>` is a store.
        let store = std::sync::Arc::new(store);
        let mine = sessions(store.clone(), RefreshPolicy::default(), &clock);
        let c = clock.clone();
        let thief_keys = KeySet::new(HmacKey::from_bytes(&[9; 32]).unwrap());
        let theirs = Sessions::new(store, thief_keys, RefreshPolicy::default())
            .with_clock(move || c.now());
        let pair = mine.issue("alice", &Map::new(), None).await.unwrap();
        // Another key (a thief's, or a key removed from the set) over the same store
        // cannot use, rotate or end this family's tokens.
        assert_eq!(
            kind(theirs.rotate(&pair.refresh_token, None).await),
            ErrorKind::RefreshUnknown
        );
        assert_eq!(
            kind(theirs.revoke_refresh(&pair.refresh_token).await),
            ErrorKind::RefreshUnknown
        );
        assert!(mine.rotate(&pair.refresh_token, None).await.is_ok());
    }

    // Routine key rotation: A signs, B is added, B is put first, A is removed. An active
    // session moves to B's refresh key at its next rotation and outlives A; a token it
    // minted before the move is reuse while A is known and unknown (never accepted)
    // once A is gone.
    async fn families_move_to_the_signing_key_at_rotation(store) {
        let clock = Clock::new();
        let store = std::sync::Arc::new(store);
        let a = || HmacKey::from_bytes(&[7; 32]).unwrap().with_kid("a");
        let b = || HmacKey::from_bytes(&[8; 32]).unwrap().with_kid("b");
        let policy = RefreshPolicy::default().with_grace(Duration::from_secs(10)).unwrap();
        let with = |keys: KeySet| {
            let c = clock.clone();
            Sessions::new(store.clone(), keys, policy.clone()).with_clock(move || c.now())
        };
        let set = |first: HmacKey, then: Option<HmacKey>| match then {
            Some(then) => {
                let mut set = KeySet::new(then);
                set.prepend(first).unwrap();
                set
            }
            None => KeySet::new(first),
        };
        let only_a = with(set(a(), None));
        let a_then_b = with(set(a(), Some(b())));
        let b_then_a = with(set(b(), Some(a())));
        let only_b = with(set(b(), None));
        let kid = |pair: &TokenPair| {
            let header = tok::insecure::decode_unverified(&pair.access_token, 8192).unwrap().header;
            header.get("kid").and_then(|k| k.as_str()).map(str::to_owned)
        };

        let p0 = only_a.issue("alice", &Map::new(), None).await.unwrap();
        let idle = only_a.issue("bob", &Map::new(), None).await.unwrap();
        assert_usage(&only_a, &[(Some("a"), true, 2)], 0).await;
        // B added everywhere, A still signs: nothing moves.
        clock.advance_ms(1_000);
        let p1 = a_then_b.rotate(&p0.refresh_token, None).await.unwrap();
        assert_eq!(kid(&p1).as_deref(), Some("a"));
        // B first: the next rotation moves the family to B.
        clock.advance_ms(1_000);
        let p2 = b_then_a.rotate(&p1.refresh_token, None).await.unwrap();
        assert_eq!(kid(&p2).as_deref(), Some("b"));
        assert_usage(&b_then_a, &[(Some("b"), true, 1), (Some("a"), false, 1)], 0).await;
        // The token before the move, inside the grace window, gets the live one.
        let again = b_then_a.rotate(&p1.refresh_token, None).await.unwrap();
        assert_eq!(again.refresh_token, p2.refresh_token);
        // A removed: the moved session goes on; its access token verifies online.
        clock.advance_ms(11_000);
        let p3 = only_b.rotate(&p2.refresh_token, None).await.unwrap();
        assert_eq!(access_state(&only_b, &p3).await, Ok(()));
        // The idle session still uses A: counted as using a key not in the set.
        assert_usage(&only_b, &[(Some("b"), true, 1)], 1).await;
        // A pre-move token without A: unknown, and nothing changes.
        assert_eq!(
            kind(only_b.rotate(&p1.refresh_token, None).await),
            ErrorKind::RefreshUnknown
        );
        assert_eq!(
            kind(only_b.revoke_refresh(&p1.refresh_token).await),
            ErrorKind::RefreshUnknown
        );
        let p4 = only_b.rotate(&p3.refresh_token, None).await.unwrap();
        // A session idle through the rotation kept A's key: removing A ended it.
        assert_eq!(
            kind(only_b.rotate(&idle.refresh_token, None).await),
            ErrorKind::RefreshUnknown
        );
        assert!(a_then_b.rotate(&idle.refresh_token, None).await.is_ok());
        // With A known again, the pre-move token is recognised as reuse.
        assert_eq!(
            kind(b_then_a.rotate(&p1.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(
            kind(only_b.rotate(&p4.refresh_token, None).await),
            ErrorKind::Revoked
        );
    }

    // Key usage counts live sessions only: not a revoked one, not one past its idle or
    // absolute end.
    async fn key_usage_counts_live_sessions_only(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_idle_timeout(Duration::from_secs(60))
            .with_session_lifetime(Duration::from_secs(3600));
        let s = sessions(store, policy, &clock);
        let live = s.issue("alice", &Map::new(), None).await.unwrap();
        let revoked = s.issue("alice", &Map::new(), None).await.unwrap();
        let idle = s.issue("bob", &Map::new(), None).await.unwrap();
        assert!(s.revoke_refresh(&revoked.refresh_token).await.unwrap());
        clock.advance_ms(59_000);
        let live = s.rotate(&live.refresh_token, None).await.unwrap();
        assert_usage(&s, &[(Some("k"), true, 2)], 0).await;
        clock.advance_ms(1_000);
        assert_usage(&s, &[(Some("k"), true, 1)], 0).await;
        assert_eq!(kind(s.rotate(&idle.refresh_token, None).await), ErrorKind::RefreshExpired);
        for _ in 0..61 {
            clock.advance_ms(59_000);
            if s.rotate(&live.refresh_token, None).await.is_err() {
                break;
            }
        }
        assert_usage(&s, &[(Some("k"), true, 0)], 0).await;
    }

    async fn logout_needs_a_token_the_family_minted(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let t0 = s.issue("alice", &Map::new(), None).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        // The live token logs out; a second logout finds the session ended.
        assert!(s.revoke_refresh(&t1.refresh_token).await.unwrap());
        assert!(!s.revoke_refresh(&t1.refresh_token).await.unwrap());
        assert_eq!(kind(s.rotate(&t1.refresh_token, None).await), ErrorKind::Revoked);
        assert_eq!(access_state(&s, &t1).await, Err(ErrorKind::Revoked));

        // A retired token is reuse: the family is revoked and the caller told so.
        let u0 = s.issue("alice", &Map::new(), None).await.unwrap();
        let u1 = s.rotate(&u0.refresh_token, None).await.unwrap();
        assert_eq!(
            kind(s.revoke_refresh(&u0.refresh_token).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(kind(s.rotate(&u1.refresh_token, None).await), ErrorKind::Revoked);
    }

    async fn grace_returns_the_same_live_token(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(60))
            .unwrap();
        let s = sessions(store, policy, &clock);
        let t0 = s.issue("alice", &Map::new(), None).await.unwrap();
        let rotated_at = clock.ms();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();

        // Inside the window the previous token gets the live token again, every time,
        // with a fresh access token; nothing in the store moves.
        let before = s.store().family(&t0.session_id).await.unwrap().unwrap();
        clock.set_ms(rotated_at + 30_000);
        let t1b = s.rotate(&t0.refresh_token, None).await.unwrap();
        clock.set_ms(rotated_at + 59_999);
        let t1c = s.rotate(&t0.refresh_token, None).await.unwrap();
        assert_eq!(t1b.refresh_token, t1.refresh_token);
        assert_eq!(t1c.refresh_token, t1.refresh_token);
        assert_ne!(t1c.access_token, t1.access_token);
        assert_eq!(access_state(&s, &t1c).await, Ok(()));
        assert_eq!(s.store().family(&t0.session_id).await.unwrap().unwrap(), before);

        // The window's start never moved: at exactly +60 s it is closed, and the
        // previous token is reuse.
        clock.set_ms(rotated_at + 60_000);
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(kind(s.rotate(&t1.refresh_token, None).await), ErrorKind::Revoked);
    }

    async fn a_clock_set_back_anchors_grace_at_the_last_use(store) {
        // A rotation made while the clock reads earlier than the family's last use counts
        // as made at that last use (effective_now): its grace window starts there.
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(60))
            .unwrap();
        let s = sessions(store, policy, &clock);
        let t0 = s.issue("alice", &Map::new(), None).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        let last_use = clock.ms();
        clock.set_ms(last_use - 100_000);
        let t2 = s.rotate(&t1.refresh_token, None).await.unwrap();
        let stored = s.store().family(&t0.session_id).await.unwrap().unwrap();
        assert_eq!(stored.last_used_at.as_millis(), last_use);
        assert_eq!(stored.previous_rotated_at.map(|t| t.as_millis()), Some(last_use));
        clock.set_ms(last_use + 30_000);
        let again = s.rotate(&t1.refresh_token, None).await.unwrap();
        assert_eq!(again.refresh_token, t2.refresh_token, "inside grace");
    }

    async fn concurrent_refreshes_inside_grace_all_get_one_token(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(10))
            .unwrap();
        let s = std::sync::Arc::new(sessions(store, policy, &clock));
        for round in 0..20 {
            let t0 = s.issue("alice", &Map::new(), None).await.unwrap();
            let token = std::sync::Arc::new(t0.refresh_token.to_string());
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (s, token, barrier) = (s.clone(), token.clone(), barrier.clone());
                    tokio::spawn(async move {
                        barrier.wait().await;
                        s.rotate(&token, None).await.map(|p| p.refresh_token.to_string())
                    })
                })
                .collect();
            let mut got = Vec::new();
            for task in tasks {
                got.push(task.await.unwrap().unwrap_or_else(|e| panic!("round {round}: {e}")));
            }
            assert!(got.iter().all(|t| *t == got[0]), "round {round}: {got:?}");
            assert_eq!(generation(&got[0]), 1);
            let family = s.store().family(&t0.session_id).await.unwrap().unwrap();
            assert_eq!((family.generation, family.revoked_at), (1, None));
            // Every caller holds the live token: it rotates.
            s.rotate(&got[0], None).await.unwrap();
        }
    }

    async fn grace_privilege_change_rotates_on(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(60))
            .unwrap();
        let s = sessions(store, policy, &clock);
        let t0 = s.issue("alice", &claims(json!({"role": "user"})), None).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        // A privilege change with the previous token inside the window never hands out
        // the token another holder may share: it rotates on from the live one.
        let admin = s
            .rotate_with_claims(&t0.refresh_token, None, &claims(json!({"role": "admin"})))
            .await
            .unwrap();
        assert_eq!(generation(&admin.refresh_token), 2);
        assert_ne!(admin.refresh_token, t1.refresh_token);
        let v = s
            .verify_access::<Map<String, Value>>(&admin.access_token, &Validation::new())
            .await
            .unwrap();
        assert_eq!(v.claims.custom["role"], "admin");
        // t1 was retired by a privilege change, which ends grace for every earlier
        // generation: presenting it is reuse, never the promoted pair.
        assert_eq!(
            kind(s.rotate(&t1.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(
            kind(s.rotate(&admin.refresh_token, None).await),
            ErrorKind::Revoked
        );
    }

    async fn privilege_change_ends_grace(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(60))
            .unwrap();
        let s = sessions(store, policy, &clock);
        let fp: Option<tok::refresh::Fingerprint> = Some(b"fp");
        let t0 = s.issue("alice", &claims(json!({"role": "user"})), fp).await.unwrap();
        let promoted = s
            .rotate_with_claims(&t0.refresh_token, fp, &claims(json!({"role": "admin"})))
            .await
            .unwrap();
        // The pre-promotion token, with its fingerprint, one second later (well inside
        // the grace window a plain rotation would have opened): refused as reuse.
        clock.advance_ms(1000);
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, fp).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(
            s.verify_access::<Map<String, Value>>(&promoted.access_token, &Validation::new())
                .await
                .map(|_| ())
                .map_err(|e| e.kind()),
            Err(ErrorKind::Revoked)
        );
        // A plain rotation still opens the window.
        let u0 = s.issue("bob", &Map::new(), fp).await.unwrap();
        let u1 = s.rotate(&u0.refresh_token, fp).await.unwrap();
        clock.advance_ms(1000);
        assert_eq!(
            s.rotate(&u0.refresh_token, fp).await.unwrap().refresh_token,
            u1.refresh_token
        );
    }

    async fn grandparent_never_gets_grace(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(300))
            .unwrap();
        let s = sessions(store, policy, &clock);
        let t0 = s.issue("alice", &Map::new(), None).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        let t2 = s.rotate(&t1.refresh_token, None).await.unwrap();
        // Same instant, inside any window: t1 is the previous (grace), t0 the grandparent.
        assert_eq!(
            s.rotate(&t1.refresh_token, None).await.unwrap().refresh_token,
            t2.refresh_token
        );
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(kind(s.rotate(&t2.refresh_token, None).await), ErrorKind::Revoked);
    }

    async fn grace_does_not_save_an_expired_family(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_grace(Duration::from_secs(300))
            .unwrap()
            .with_session_lifetime(Duration::from_secs(100));
        let s = sessions(store, policy, &clock);
        let t0 = s.issue("alice", &Map::new(), None).await.unwrap();
        clock.advance_ms(90_000);
        s.rotate(&t0.refresh_token, None).await.unwrap();
        clock.advance_ms(10_000);
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, None).await),
            ErrorKind::RefreshExpired
        );
    }

    async fn same_second_double_rotation_then_replay(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let t0 = s.issue("alice", &Map::new(), None).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        let t2 = s.rotate(&t1.refresh_token, None).await.unwrap();
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(kind(s.rotate(&t2.refresh_token, None).await), ErrorKind::Revoked);
    }

    async fn storage_is_constant_and_old_reuse_still_caught(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let t0 = s.issue("alice", &claims(json!({"role": "user"})), None).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        let after_one = s.store().family(&t0.session_id).await.unwrap().unwrap();
        let mut t = t1;
        for _ in 1..2_000 {
            clock.advance_ms(1);
            t = s.rotate(&t.refresh_token, None).await.unwrap();
        }
        let after_many = s.store().family(&t0.session_id).await.unwrap().unwrap();
        assert_eq!(after_many.generation, 2_000);
        // What is stored is the same record, only its counters and times moved.
        assert_eq!(after_many.secret, after_one.secret);
        assert_eq!(after_many.claims, after_one.claims);
        // Generation 0, retired 2,000 rotations ago, is still reuse.
        assert_eq!(
            kind(s.rotate(&t0.refresh_token, None).await),
            ErrorKind::RefreshReused
        );
        assert_eq!(kind(s.rotate(&t.refresh_token, None).await), ErrorKind::Revoked);
    }

    async fn lifetimes_with_injected_clock(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_session_lifetime(Duration::from_secs(30 * 86400))
            .with_idle_timeout(Duration::from_secs(7 * 86400));
        let s = sessions(store, policy, &clock);

        // Idle: unused for 7 days is over, 1 ms earlier is not.
        let a = s.issue("alice", &Map::new(), None).await.unwrap();
        assert_eq!(a.refresh_expires_in, 7 * 86400);
        let b = s.issue("bob", &Map::new(), None).await.unwrap();
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
        let c = s.issue("carol", &Map::new(), None).await.unwrap();
        let used = clock.ms();
        clock.set_ms(used - 10 * DAY);
        let c = s.rotate(&c.refresh_token, None).await.unwrap();
        clock.set_ms(used + 7 * DAY);
        assert_eq!(
            kind(s.rotate(&c.refresh_token, None).await),
            ErrorKind::RefreshExpired
        );
    }

    async fn fingerprint_binding(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let t0 = s.issue("alice", &Map::new(), Some(b"cookie-A")).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, Some(b"cookie-A")).await.unwrap();
        assert_eq!(
            kind(s.rotate(&t1.refresh_token, Some(b"cookie-B")).await),
            ErrorKind::FingerprintMismatch
        );
        assert_eq!(
            kind(s.rotate(&t1.refresh_token, Some(b"cookie-A")).await),
            ErrorKind::Revoked
        );

        let u0 = s.issue("alice", &Map::new(), Some(b"cookie-A")).await.unwrap();
        assert_eq!(
            kind(s.rotate(&u0.refresh_token, None).await),
            ErrorKind::FingerprintMismatch
        );
        // An unbound family ignores fingerprints.
        let v0 = s.issue("alice", &Map::new(), None).await.unwrap();
        assert!(s.rotate(&v0.refresh_token, Some(b"anything")).await.is_ok());
    }

    async fn privilege_change(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let t0 = s.issue("alice", &claims(json!({"role": "user"})), None).await.unwrap();
        let t1 = s
            .rotate_with_claims(&t0.refresh_token, None, &claims(json!({"role": "admin"})))
            .await
            .unwrap();
        let v = Validation::new();
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
            kind(s.issue("x", &claims(json!({"sub": "y"})), None).await),
            ErrorKind::Malformed
        );
        assert_eq!(
            kind(s.issue("x", &claims(json!({"sid": "y"})), None).await),
            ErrorKind::Malformed
        );
    }

    async fn privilege_change_outdates_older_access_tokens(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let t0 = s.issue("alice", &claims(json!({"role": "admin"})), None).await.unwrap();
        let t1 = s.rotate(&t0.refresh_token, None).await.unwrap();
        // A plain rotation changes no claims: older tokens still hold.
        assert_eq!(access_state(&s, &t0).await, Ok(()));
        assert_eq!(access_state(&s, &t1).await, Ok(()));
        // A demotion: every access token minted before it is refused at once.
        let t2 = s
            .rotate_with_claims(&t1.refresh_token, None, &claims(json!({"role": "user"})))
            .await
            .unwrap();
        assert_eq!(access_state(&s, &t0).await, Err(ErrorKind::Revoked));
        assert_eq!(access_state(&s, &t1).await, Err(ErrorKind::Revoked));
        assert_eq!(access_state(&s, &t2).await, Ok(()));
        let t3 = s.rotate(&t2.refresh_token, None).await.unwrap();
        assert_eq!(access_state(&s, &t2).await, Ok(()));
        assert_eq!(access_state(&s, &t3).await, Ok(()));
        assert_eq!(
            s.store().family(&t3.session_id).await.unwrap().unwrap().claims_generation,
            2
        );
        assert_eq!(
            kind(s.issue("x", &claims(json!({"sgen": 9})), None).await),
            ErrorKind::Malformed
        );
    }

    async fn sessions_keep_their_label(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let label = "Firefox on Linux, Zürich";
        let pair = s
            .issue_labelled("alice", &Map::new(), None, label)
            .await
            .unwrap();
        let pair = s.rotate(&pair.refresh_token, None).await.unwrap();
        let pair = s
            .rotate_with_claims(&pair.refresh_token, None, &json!({"role": "admin"}))
            .await
            .unwrap();
        let listed = s.list("alice").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].label, label);
        let stored = s.store().family(&pair.session_id).await.unwrap().unwrap();
        assert_eq!(stored.label, label, "kept through rotations and a privilege change");
        // Unlabelled sessions list an empty label.
        s.issue("bob", &Map::new(), None).await.unwrap();
        assert_eq!(s.list("bob").await.unwrap()[0].label, "");
        // Bounded, printable; a refused label stores nothing.
        let longest = "x".repeat(tok::refresh::family::MAX_LABEL_BYTES);
        s.issue_labelled("carol", &Map::new(), None, &longest).await.unwrap();
        assert_eq!(
            kind(s.issue_labelled("carol", &Map::new(), None, &format!("{longest}x")).await),
            ErrorKind::TooLarge
        );
        assert_eq!(
            kind(s.issue_labelled("carol", &Map::new(), None, "a\nb").await),
            ErrorKind::Malformed
        );
        assert_eq!(s.list("carol").await.unwrap().len(), 1);
    }

    async fn ten_thousand_sessions_are_listed_within_the_cap(store) {
        let clock = Clock::new();
        let s = std::sync::Arc::new(sessions(store, RefreshPolicy::default(), &clock));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let s = std::sync::Arc::clone(&s);
            tasks.push(tokio::spawn(async move {
                for _ in 0..500 {
                    s.issue("many", &Map::new(), None).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        clock.advance_ms(1);
        let newest = s.issue("many", &Map::new(), None).await.unwrap();
        let listed = s.list("many").await.unwrap();
        assert_eq!(listed.len(), tok::store::MAX_LISTED, "at most the cap");
        let unique: std::collections::HashSet<&str> = listed.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(unique.len(), listed.len(), "each at most once");
        assert!(listed.windows(2).all(|w| w[0].created_at <= w[1].created_at), "oldest first");
        assert!(!unique.contains(newest.session_id.as_str()), "the newest is past the cap");
        // Ending a listed one lets the next take its place; the ended one is gone.
        let ended = listed[0].id.clone();
        assert!(s.end("many", &ended).await.unwrap());
        let again = s.list("many").await.unwrap();
        assert_eq!(again.len(), tok::store::MAX_LISTED);
        assert!(again.iter().all(|i| i.id != ended));
    }

    async fn devices_are_listed_and_ended_one_by_one(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default().with_idle_timeout(Duration::from_secs(86400));
        let s = sessions(store, policy, &clock);
        let ids = |list: &[tok::refresh::SessionInfo]| -> Vec<String> {
            list.iter().map(|i| i.id.clone()).collect()
        };
        let laptop = s.issue("alice", &Map::new(), None).await.unwrap();
        clock.advance_ms(10);
        let phone = s.issue("alice", &Map::new(), None).await.unwrap();
        clock.advance_ms(10);
        let tablet = s.issue("alice", &Map::new(), None).await.unwrap();
        let bob = s.issue("bob", &Map::new(), None).await.unwrap();
        // Rotating keeps a session listed once, with its last use.
        clock.advance_ms(10);
        let laptop2 = s.rotate(&laptop.refresh_token, None).await.unwrap();
        let listed = s.list("alice").await.unwrap();
        assert_eq!(
            ids(&listed),
            [
                laptop.session_id.as_str(),
                phone.session_id.as_str(),
                tablet.session_id.as_str()
            ]
        );
        assert_eq!(listed[0].last_used_at, clock.now());
        assert!(listed[0].idle_expires_at <= listed[0].expires_at);
        // Another subject's id, an unknown id: nothing changes.
        assert!(!s.end("bob", &phone.session_id).await.unwrap());
        assert!(!s.end("alice", &bob.session_id).await.unwrap());
        assert!(!s.end("alice", "AAAAAAAAAAAAAAAAAAAAAA").await.unwrap());
        assert_eq!(access_state(&s, &phone).await, Ok(()));
        assert_eq!(access_state(&s, &bob).await, Ok(()));
        // The laptop ends the phone: refused at once, no longer listed, ended once.
        assert!(s.end("alice", &phone.session_id).await.unwrap());
        assert_eq!(access_state(&s, &phone).await, Err(ErrorKind::Revoked));
        assert_eq!(
            kind(s.rotate(&phone.refresh_token, None).await),
            ErrorKind::Revoked
        );
        assert!(!s.end("alice", &phone.session_id).await.unwrap());
        assert_eq!(access_state(&s, &laptop2).await, Ok(()));
        // A session killed by reuse is not listed either.
        let tablet2 = s.rotate(&tablet.refresh_token, None).await.unwrap();
        let _ = s.rotate(&tablet.refresh_token, None).await.unwrap_err();
        assert_eq!(access_state(&s, &tablet2).await, Err(ErrorKind::Revoked));
        assert_eq!(
            ids(&s.list("alice").await.unwrap()),
            [laptop.session_id.as_str()]
        );
        assert_eq!(ids(&s.list("bob").await.unwrap()), [bob.session_id.as_str()]);
        assert!(s.list("nobody").await.unwrap().is_empty());
        // Past the idle timeout, nothing is listed.
        clock.advance_ms(DAY + 1);
        assert!(s.list("alice").await.unwrap().is_empty());
    }

    async fn tokens_without_session_are_refused_online(store) {
        let clock = Clock::new();
        let store = Arc::new(store);
        let strict = sessions(store.clone(), RefreshPolicy::default(), &clock);
        let now = clock.now();
        // Signed with the session key, but no session vouches for it: no logout could
        // end it, so the online check refuses it unless told otherwise.
        let token = tok::sign(
            strict.keys().signing_key(),
            &tok::Claims::default()
                .with_subject("alice")
                .with_id("j-1")
                .expires_after(now, Duration::from_secs(60)),
        )
        .unwrap();
        let v = Validation::new();
        assert_eq!(
            kind(strict.verify_access::<Map<String, Value>>(&token, &v).await),
            ErrorKind::MissingClaim
        );
        let lenient = sessions(store, RefreshPolicy::default(), &clock)
            .accepting_tokens_without_session();
        assert!(lenient.verify_access::<Map<String, Value>>(&token, &v).await.is_ok());
        // Its jti still revokes it.
        lenient.revoke_access(&token, &v).await.unwrap();
        assert_eq!(
            kind(lenient.verify_access::<Map<String, Value>>(&token, &v).await),
            ErrorKind::Revoked
        );
    }

    async fn revocation(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let a1 = s.issue("alice", &Map::new(), None).await.unwrap();
        let a2 = s.issue("alice", &Map::new(), None).await.unwrap();
        let a3 = s.issue("alice", &Map::new(), None).await.unwrap();
        let b1 = s.issue("bob", &Map::new(), None).await.unwrap();

        assert!(s.revoke_refresh(&a3.refresh_token).await.unwrap());
        assert!(!s.revoke_session(&a3.session_id).await.unwrap(), "already revoked");
        assert_eq!(kind(s.rotate(&a3.refresh_token, None).await), ErrorKind::Revoked);

        assert_eq!(s.revoke_subject("alice").await.unwrap(), 2);
        for t in [&a1, &a2] {
            assert_eq!(kind(s.rotate(&t.refresh_token, None).await), ErrorKind::Revoked);
            assert_eq!(access_state(&s, t).await, Err(ErrorKind::Revoked));
        }
        assert!(
            s.rotate(&b1.refresh_token, None).await.is_ok(),
            "other subjects unaffected"
        );
        // The operator's revoke by id.
        assert!(s.revoke_session(&b1.session_id).await.unwrap());
        assert_eq!(access_state(&s, &b1).await, Err(ErrorKind::Revoked));
    }

    async fn logout_everywhere_after_long_rotation(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default()
            .with_idle_timeout(Duration::from_secs(2))
            .with_session_lifetime(Duration::from_secs(3600));
        let s = sessions(store, policy, &clock);
        // Rotated well past its idle timeout, the family stays live, and stays in reach of
        // "logout everywhere".
        let mut t = s.issue("alice", &Map::new(), None).await.unwrap();
        for _ in 0..10 {
            clock.advance_ms(1_000);
            t = s.rotate(&t.refresh_token, None).await.unwrap();
        }
        assert_eq!(s.revoke_subject("alice").await.unwrap(), 1);
        assert_eq!(kind(s.rotate(&t.refresh_token, None).await), ErrorKind::Revoked);
    }

    async fn denylist_until_exp(store) {
        let clock = Clock::new();
        let s = sessions(
            store,
            RefreshPolicy::default().with_access_ttl(Duration::from_secs(600)),
            &clock,
        );
        let pair = s.issue("alice", &Map::new(), None).await.unwrap();
        let other = s.issue("alice", &Map::new(), None).await.unwrap();
        let v = Validation::new();
        s.revoke_access(&pair.access_token, &v).await.unwrap();
        assert_eq!(access_state(&s, &pair).await, Err(ErrorKind::Revoked));
        assert_eq!(access_state(&s, &other).await, Ok(()), "only that jti");
        assert!(
            s.rotate(&pair.refresh_token, None).await.is_ok(),
            "the family lives on"
        );

        // Past exp, a verifier with a generous leeway still never accepts it online, at
        // any instant: first the entry answers, then the retention bound refuses.
        let exp = clock.ms() / 1000 * 1000 + 600_000;
        let lenient = Validation::new().with_expiry_leeway(Duration::from_secs(86_400));
        let retention = tok::store::DENYLIST_RETENTION.as_millis() as u64;
        for (at, want) in [
            (exp + 5_000, ErrorKind::Revoked),
            (exp + retention - 1, ErrorKind::Revoked),
            (exp + retention, ErrorKind::Expired),
            (exp + 3_600_000, ErrorKind::Expired),
        ] {
            clock.set_ms(at);
            let got = s
                .verify_access::<Map<String, Value>>(&pair.access_token, &lenient)
                .await
                .map(|_| ());
            assert_eq!(got.map_err(|e| e.kind()), Err(want), "at exp + {} ms", at - exp);
        }

        let forged =
            "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(kind(s.revoke_access(forged, &v).await), ErrorKind::BadSignature);
    }

    async fn purge_expired(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default().with_idle_timeout(Duration::from_secs(86400));
        let s = sessions(store, policy, &clock);
        let old = s.issue("alice", &Map::new(), None).await.unwrap();
        let old = s.rotate(&old.refresh_token, None).await.unwrap();
        s.revoke_access(&old.access_token, &Validation::new()).await.unwrap();
        clock.advance_ms(DAY - 1);
        let fresh = s.issue("bob", &Map::new(), None).await.unwrap();
        clock.advance_ms(1);
        // The old family ended just now: a purge keeps it until PURGE_MARGIN has passed.
        let margin_ms = PURGE_MARGIN.as_millis() as u64;
        clock.advance_ms(margin_ms - 1);
        let early = s.store().purge_expired(clock.now()).await.unwrap();
        if !s.store().expires_by_itself() {
            assert!(s.store().family(&old.session_id).await.unwrap().is_some());
        }
        clock.advance_ms(1);
        let removed = early + s.store().purge_expired(clock.now()).await.unwrap();
        if s.store().expires_by_itself() {
            // Its entries go by key expiry on the server's clock; a purge has nothing to
            // do, and the ended family is refused meanwhile.
            assert_eq!(removed, 0);
            assert_eq!(
                kind(s.rotate(&old.refresh_token, None).await),
                ErrorKind::RefreshExpired
            );
            assert!(s.rotate(&fresh.refresh_token, None).await.is_ok());
            return;
        }
        // The old family and the denylisted jti (exp 15 min, plus retention) went.
        assert_eq!(removed, 2);
        assert!(s.store().family(&old.session_id).await.unwrap().is_none());
        assert_eq!(
            kind(s.rotate(&old.refresh_token, None).await),
            ErrorKind::RefreshUnknown
        );
        assert!(s.store().family(&fresh.session_id).await.unwrap().is_some());
        assert!(s.rotate(&fresh.refresh_token, None).await.is_ok());
        assert_eq!(s.store().purge_expired(clock.now()).await.unwrap(), 0);
    }

    // A host whose clock runs half an hour ahead purges: nothing still needed at the true
    // time goes (PURGE_MARGIN covers the skew): the family with 10 minutes of idle time
    // left still rotates, and the revoked access token stays revoked.
    async fn a_purging_clock_ahead_removes_nothing_still_needed(store) {
        let clock = Clock::new();
        let policy = RefreshPolicy::default().with_idle_timeout(Duration::from_secs(600));
        let s = sessions(store, policy, &clock);
        let pair = s.issue("alice", &Map::new(), None).await.unwrap();
        s.revoke_access(&pair.access_token, &Validation::new()).await.unwrap();
        let ahead = clock.now().saturating_add(Duration::from_secs(30 * 60));
        assert_eq!(s.store().purge_expired(ahead).await.unwrap(), 0);
        clock.advance_ms(60_000);
        let next = s.rotate(&pair.refresh_token, None).await.unwrap();
        assert_eq!(access_state(&s, &pair).await, Err(ErrorKind::Revoked));
        assert_eq!(access_state(&s, &next).await, Ok(()));
    }

    async fn token_response_shape(store) {
        let clock = Clock::new();
        let s = sessions(store, RefreshPolicy::default(), &clock);
        let pair = s.issue("alice", &Map::new(), None).await.unwrap();
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
        let record = s.store().family(&pair.session_id).await.unwrap().unwrap();
        let tag = pair.refresh_token.rsplit_once('.').unwrap().1;
        assert!(!format!("{record:?}").contains(tag));
        assert!(!format!("{record:?}").contains(&format!("{:?}", record.secret.nonce)));
    }
}

// Each backend in the cache layer, as applications run it: every case goes through
// the layer's invalidation rule and its answers from memory.
conformance!(memory, async {
    let store = Cached::new(tok::store::MemoryStore::new()).await.unwrap();
    (store, ())
});

#[cfg(feature = "sqlite")]
conformance!(sqlite, async {
    let dir = tempfile::tempdir().unwrap();
    let store = tok::store::SqliteStore::open(dir.path().join("tok.db"))
        .await
        .unwrap();
    (Cached::new(store).await.unwrap(), dir)
});

#[cfg(feature = "redis")]
conformance!(redis, async {
    let server = common::redis_server::RedisServer::start();
    let store = tok::store::RedisStore::open(&format!("{}?prefix=conf", server.url()))
        .await
        .unwrap();
    (Cached::new(store).await.unwrap(), server)
});

#[cfg(feature = "postgres")]
conformance!(postgres, async {
    let url = common::postgres_server::database();
    let store = tok::store::PostgresStore::open(&url).await.unwrap();
    (Cached::new(store).await.unwrap(), ())
});

// Redis Cluster: one cluster of three nodes for the whole test binary, a key prefix of
// its own per test.
#[cfg(feature = "redis")]
conformance!(redis_cluster, async {
    let url = common::redis_server::shared_cluster_prefix();
    let store = tok::store::RedisStore::open(&url).await.unwrap();
    (Cached::new(store).await.unwrap(), ())
});

// The same cases on each bare backend, so that both paths of every online check are
// proven.
conformance!(memory_uncached, async {
    (tok::store::MemoryStore::new(), ())
});

#[cfg(feature = "sqlite")]
conformance!(sqlite_uncached, async {
    let dir = tempfile::tempdir().unwrap();
    let store = tok::store::SqliteStore::open(dir.path().join("tok.db"))
        .await
        .unwrap();
    (store, dir)
});

#[cfg(feature = "redis")]
conformance!(redis_uncached, async {
    let server = common::redis_server::RedisServer::start();
    let store = tok::store::RedisStore::open(&format!("{}?prefix=conf", server.url()))
        .await
        .unwrap();
    (store, server)
});

#[cfg(feature = "postgres")]
conformance!(postgres_uncached, async {
    let url = common::postgres_server::database();
    let store = tok::store::PostgresStore::open(&url).await.unwrap();
    (store, ())
});
