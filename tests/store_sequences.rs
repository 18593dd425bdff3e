//! Generated sequences of session operations, run on the Rust model (the memory store,
//! which applies `decide` and `apply` directly) and on every backend whose rules are
//! mirrored in another language (SQLite, Redis with its Lua scripts, Redis Cluster,
//! PostgreSQL with its PL/pgSQL functions and the fast `UPDATE`): every step must answer
//! the same on all, and every subject's listed sessions must be the same. The conformance
//! suite holds each rule to hand-picked cases; these find the cases nobody picked.
//!
//! Operations: issue (with and without a fingerprint and a label), rotate the live, the
//! previous or an older token (with the right, a wrong or no fingerprint; with and
//! without a privilege change), log out with any of them, end a session from the devices
//! page, revoke a family or a subject, denylist an access token's `jti`, check an access
//! token online, purge, the key set changed (a key added, put first, removed: sessions
//! move to the signing key as they rotate), and the clock moved forward (inside and past the grace window,
//! past the idle timeout) and back. `TOK_SEQUENCE_CASES` sets the number of sequences
//! (CI's budget: the default).
#![cfg(all(feature = "sqlite", feature = "redis", feature = "postgres"))]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tok::refresh::{LiveKeys, LoginDetails, RefreshPolicy, Sessions, TokenPair};
use tok::store::{AnyStore, Store};
use tok::{HmacKey, KeySet, NumericDate, Validation};

const START_MS: u64 = 1_800_000_000_000;
const SUBJECTS: [&str; 3] = ["alice", "bob", "carol"];
const FINGERPRINTS: [&[u8]; 2] = [b"cookie-A", b"cookie-B"];

/// One step of a sequence. Sessions are named by their order of issue (modulo how many
/// there are), tokens by how far back in the session's history they are.
#[derive(Debug, Clone)]
enum Op {
    Issue {
        subject: usize,
        fingerprint: Option<usize>,
        label: bool,
        remember: bool,
    },
    Rotate {
        session: usize,
        back: usize,
        fingerprint: Option<usize>,
        change: Change,
    },
    Logout {
        session: usize,
        back: usize,
    },
    End {
        session: usize,
        as_subject: usize,
    },
    RevokeFamily {
        session: usize,
    },
    RevokeSubject {
        subject: usize,
    },
    Deny {
        session: usize,
        back: usize,
    },
    Check {
        session: usize,
        back: usize,
    },
    Purge,
    /// Milliseconds, negative for a clock set back.
    Clock(i64),
    /// The key set in use becomes [`key_set`]`(n)`: a key added, put first or removed.
    Keys(usize),
}

/// What a rotation changes besides the generation.
#[derive(Debug, Clone, Copy)]
enum Change {
    Nothing,
    /// New claims (a privilege change).
    Claims,
    /// A new login (a reauthentication).
    Login,
}

/// The key sets a sequence moves between: k alone, n added, n first, n alone. Sessions
/// move to the signing key as they rotate; those left on a removed key end.
fn key_set(n: usize) -> KeySet {
    let k = HmacKey::from_bytes(&[5; 32]).unwrap().with_kid("k");
    let next = HmacKey::from_bytes(&[6; 32]).unwrap().with_kid("n");
    let keys = match n % 4 {
        0 => vec![k],
        1 => vec![k, next],
        2 => vec![next, k],
        _ => vec![next],
    };
    KeySet::from_keys(keys).unwrap()
}

fn op() -> impl Strategy<Value = Op> {
    let session = 0usize..8;
    let back = prop_oneof![4 => Just(0usize), 2 => Just(1usize), 1 => 2usize..4];
    let fingerprint = proptest::option::of(0usize..2);
    prop_oneof![
        3 => (0usize..3, fingerprint.clone(), any::<bool>(), prop::bool::weighted(0.7)).prop_map(|(subject, fingerprint, label, remember)| Op::Issue { subject, fingerprint, label, remember }),
        6 => (session.clone(), back.clone(), fingerprint, prop_oneof![12 => Just(Change::Nothing), 4 => Just(Change::Claims), 4 => Just(Change::Login)]).prop_map(|(session, back, fingerprint, change)| Op::Rotate { session, back, fingerprint, change }),
        2 => (session.clone(), back.clone()).prop_map(|(session, back)| Op::Logout { session, back }),
        1 => (session.clone(), 0usize..3).prop_map(|(session, as_subject)| Op::End { session, as_subject }),
        1 => session.clone().prop_map(|session| Op::RevokeFamily { session }),
        1 => (0usize..3).prop_map(|subject| Op::RevokeSubject { subject }),
        1 => (session.clone(), back.clone()).prop_map(|(session, back)| Op::Deny { session, back }),
        3 => (session, back).prop_map(|(session, back)| Op::Check { session, back }),
        1 => Just(Op::Purge),
        1 => (0usize..4).prop_map(Op::Keys),
        4 => prop_oneof![
            1 => Just(1_000i64),
            // Around the grace window's end, the boundaries mirrors get wrong.
            3 => Just(9_999),
            3 => Just(10_000),
            3 => Just(10_001),
            1 => Just(3_600_000),
            1 => Just(86_400_000 - 1),
            1 => Just(86_400_000),
            1 => Just(2 * 86_400_000),
            1 => Just(-10_000),
            1 => Just(-86_400_000),
        ]
        .prop_map(Op::Clock),
    ]
}

/// A settable clock, in milliseconds, shared by every backend of one sequence.
#[derive(Clone)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn now(&self) -> NumericDate {
        NumericDate::from_millis(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

/// One backend's sessions and what its clients hold: each session's subject and every
/// token pair it was given, oldest first.
struct Run {
    name: &'static str,
    s: Sessions<AnyStore>,
    keys: LiveKeys,
    held: Vec<(usize, Vec<TokenPair>)>,
}

fn policy() -> RefreshPolicy {
    RefreshPolicy::default()
        .with_grace(Duration::from_secs(10))
        .unwrap()
        .with_idle_timeout(Duration::from_secs(86_400))
        .with_session_lifetime(Duration::from_secs(4 * 86_400))
        .with_access_ttl(Duration::from_secs(3_600))
        .with_unremembered_lifetime(Duration::from_secs(86_400 + 3_600))
}

/// What a pair says of its session's login: the access token's `auth_time`, `amr` and
/// `acr`, and whether the login is remembered.
fn login_of(pair: &tok::refresh::TokenPair) -> String {
    let payload = pair.access_token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&tok::base64url::decode(payload.as_bytes()).unwrap()).unwrap();
    format!(
        "{}:{}:{}:{}",
        claims["auth_time"], claims["amr"], claims["acr"], pair.remembered
    )
}

fn kind(e: &tok::Error) -> String {
    format!("err:{}", e.kind().code())
}

impl Run {
    fn pair(&self, session: usize, back: usize) -> Option<&TokenPair> {
        if self.held.is_empty() {
            return None;
        }
        let (_, pairs) = &self.held[session % self.held.len()];
        pairs.get(pairs.len().saturating_sub(1 + back))
    }

    /// Runs one step; what it answered, in words every backend must share.
    async fn step(&mut self, op: &Op, clock: &Clock) -> String {
        match op {
            Op::Issue {
                subject,
                fingerprint,
                label,
                remember,
            } => {
                let fp = fingerprint.map(|i| &FINGERPRINTS[i] as tok::refresh::Fingerprint<'_>);
                let claims = json!({"role": "user"});
                let issued = match (*label, *remember) {
                    (true, true) => {
                        self.s
                            .issue_labelled(SUBJECTS[*subject], &claims, fp, "phone")
                            .await
                    }
                    (false, true) => self.s.issue(SUBJECTS[*subject], &claims, fp).await,
                    (label, false) => {
                        let details = LoginDetails::new()
                            .not_remembered()
                            .with_methods(["pwd"])
                            .with_label(if label { "phone" } else { "" });
                        self.s
                            .issue_with(SUBJECTS[*subject], &claims, fp, &details)
                            .await
                    }
                };
                match issued {
                    Ok(pair) => {
                        let answer = format!("issued:{}", login_of(&pair));
                        self.held.push((*subject, vec![pair]));
                        answer
                    }
                    Err(e) => kind(&e),
                }
            }
            Op::Rotate {
                session,
                back,
                fingerprint,
                change,
            } => {
                let Some(pair) = self.pair(*session, *back).cloned() else {
                    return "none".into();
                };
                let fp = fingerprint.map(|i| &FINGERPRINTS[i] as tok::refresh::Fingerprint<'_>);
                let rotated = match change {
                    Change::Claims => {
                        let claims: Map<String, Value> =
                            json!({"role": "admin"}).as_object().unwrap().clone();
                        self.s
                            .rotate_with_claims(&pair.refresh_token, fp, &claims)
                            .await
                    }
                    Change::Login => {
                        let proof = LoginDetails::new().with_methods(["pwd", "otp"]);
                        self.s.reauthenticate(&pair.refresh_token, fp, &proof).await
                    }
                    Change::Nothing => self.s.rotate(&pair.refresh_token, fp).await,
                };
                match rotated {
                    Ok(next) => {
                        // The same live token again (grace) or a new one.
                        let same = self
                            .held
                            .iter()
                            .flat_map(|(_, p)| p)
                            .any(|p| p.refresh_token == next.refresh_token);
                        let answer = format!(
                            "rotated:{}:{}:{}",
                            if same { "again" } else { "new" },
                            next.refresh_expires_in,
                            login_of(&next),
                        );
                        let i = *session % self.held.len();
                        self.held[i].1.push(next);
                        answer
                    }
                    Err(e) => kind(&e),
                }
            }
            Op::Logout { session, back } => match self.pair(*session, *back).cloned() {
                None => "none".into(),
                Some(pair) => match self.s.revoke_refresh(&pair.refresh_token).await {
                    Ok(revoked) => format!("logout:{revoked}"),
                    Err(e) => kind(&e),
                },
            },
            Op::End {
                session,
                as_subject,
            } => match self.pair(*session, 0).cloned() {
                None => "none".into(),
                Some(pair) => match self.s.end(SUBJECTS[*as_subject], &pair.session_id).await {
                    Ok(ended) => format!("end:{ended}"),
                    Err(e) => kind(&e),
                },
            },
            Op::RevokeFamily { session } => match self.pair(*session, 0).cloned() {
                None => "none".into(),
                Some(pair) => match self.s.revoke_session(&pair.session_id).await {
                    Ok(revoked) => format!("revoke:{revoked}"),
                    Err(e) => kind(&e),
                },
            },
            Op::RevokeSubject { subject } => {
                match self.s.revoke_subject(SUBJECTS[*subject]).await {
                    Ok(n) => format!("revoke-subject:{n}"),
                    Err(e) => kind(&e),
                }
            }
            Op::Deny { session, back } => match self.pair(*session, *back).cloned() {
                None => "none".into(),
                Some(pair) => {
                    match self
                        .s
                        .revoke_access(&pair.access_token, &Validation::new())
                        .await
                    {
                        Ok(()) => "denied".into(),
                        Err(e) => kind(&e),
                    }
                }
            },
            Op::Check { session, back } => match self.pair(*session, *back).cloned() {
                None => "none".into(),
                Some(pair) => {
                    let checked = self
                        .s
                        .verify_access::<Map<String, Value>>(&pair.access_token, &Validation::new())
                        .await;
                    match checked {
                        Ok(verified) => format!("accepted:{}", verified.claims.custom["role"]),
                        Err(e) => kind(&e),
                    }
                }
            },
            Op::Purge if self.name == UNPURGED || self.name == CLUSTER => "purged".into(),
            Op::Purge => match self.s.store().purge_expired(clock.now()).await {
                Ok(_) => "purged".into(),
                Err(e) => kind(&e),
            },
            Op::Clock(_) => "clock".into(),
            Op::Keys(n) => {
                self.keys.replace(key_set(*n));
                "keys".into()
            }
        }
    }

    /// Every subject's listed sessions, by issue order: label, times.
    async fn listed(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, subject) in SUBJECTS.iter().enumerate() {
            let ids: HashMap<&str, usize> = self
                .held
                .iter()
                .enumerate()
                .filter(|(_, (s, _))| *s == i)
                .map(|(n, (_, pairs))| (pairs[0].session_id.as_str(), n))
                .collect();
            let mut listed: Vec<String> = self
                .s
                .list(subject)
                .await
                .unwrap()
                .into_iter()
                .map(|info| {
                    format!(
                        "{subject}#{} {:?} created {} used {} ends {} idle-ends {}",
                        ids.get(info.id.as_str()).map_or(-1, |n| *n as i64),
                        info.label,
                        info.created_at.as_millis(),
                        info.last_used_at.as_millis(),
                        info.expires_at.as_millis(),
                        info.idle_expires_at.as_millis(),
                    )
                })
                .collect();
            listed.sort();
            out.extend(listed);
        }
        out
    }
}

/// Shared servers: one Redis, one Redis Cluster, one PostgreSQL database; each sequence
/// takes a prefix (Redis) or a schema (PostgreSQL) of its own.
struct Servers {
    redis: common::redis_server::RedisServer,
    postgres: String,
}

fn servers() -> &'static Servers {
    static SERVERS: std::sync::OnceLock<Servers> = std::sync::OnceLock::new();
    SERVERS.get_or_init(|| Servers {
        redis: common::redis_server::RedisServer::start(),
        postgres: common::postgres_server::database(),
    })
}

static NEXT: AtomicU64 = AtomicU64::new(0);

const UNPURGED: &str = "memory, never purged";
const CLUSTER: &str = "redis cluster";

async fn runs(clock: &Clock) -> Vec<Run> {
    let servers = servers();
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap().keep();
    let schema = format!("seq{n}");
    let database = servers.postgres.rsplit('/').next().unwrap().to_owned();
    common::postgres_server::shared().psql(&database, &format!("CREATE SCHEMA {schema}"));
    let cluster = common::redis_server::shared_cluster_prefix();
    let urls = [
        ("memory (the model)", "memory:".to_owned()),
        // Redis Cluster purges nothing (its keys expire by TTL on the server's clock):
        // its model is one that is never purged.
        (UNPURGED, "memory:".to_owned()),
        ("sqlite", format!("sqlite:{}", dir.join("tok.db").display())),
        ("redis", format!("{}?prefix=seq{n}", servers.redis.url())),
        (CLUSTER, cluster),
        (
            "postgres",
            format!("{}?options=-c%20search_path%3D{schema}", servers.postgres),
        ),
    ];
    let mut runs = Vec::new();
    for (name, url) in urls {
        let c = clock.clone();
        let keys = LiveKeys::new(key_set(0));
        runs.push(Run {
            name,
            s: Sessions::new(
                tok::store::open(&url).await.unwrap(),
                keys.clone(),
                policy(),
            )
            .with_clock(move || c.now()),
            keys,
            held: Vec::new(),
        });
    }
    runs
}

/// Runs `ops` on every backend; the first disagreement with the model, if any.
async fn disagreement(ops: &[Op]) -> Option<String> {
    let clock = Clock(Arc::new(AtomicU64::new(START_MS)));
    let mut runs = runs(&clock).await;
    for (i, op) in ops.iter().enumerate() {
        if let Op::Clock(delta) = op {
            let now = clock.0.load(Ordering::SeqCst) as i64;
            clock.0.store((now + delta) as u64, Ordering::SeqCst);
        }
        let mut answers = Vec::new();
        for run in &mut runs {
            answers.push(run.step(op, &clock).await);
        }
        // Each backend against its model (the two models differ after a purge).
        for (run, answer) in runs.iter().zip(&answers).skip(2) {
            let (model, said) = match run.name {
                CLUSTER => (UNPURGED, &answers[1]),
                _ => (runs[0].name, &answers[0]),
            };
            if answer != said {
                return Some(format!(
                    "step {i} {op:?}: {model} answered {said:?}, {} answered {answer:?}",
                    run.name
                ));
            }
        }
        let models = [runs[0].listed().await, runs[1].listed().await];
        for run in &runs[2..] {
            let (name, model) = match run.name {
                CLUSTER => (UNPURGED, &models[1]),
                _ => (runs[0].name, &models[0]),
            };
            let listed = run.listed().await;
            if listed != *model {
                return Some(format!(
                    "after step {i} {op:?}: {name} lists {model:#?}, {} lists {listed:#?}",
                    run.name
                ));
            }
        }
    }
    None
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn cases() -> u32 {
    std::env::var("TOK_SEQUENCE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(128)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_backend_answers_as_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let found = runtime().block_on(disagreement(&ops));
        prop_assert!(found.is_none(), "{}", found.unwrap());
    }
}
