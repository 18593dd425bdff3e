//! What an online check costs beside offline verification: `Sessions::verify_access`
//! (signature and claims, then the denylist and the session) against `tok::verify` alone
//! (signature and claims) of the same session token, per backend: in memory, SQLite and
//! Redis (AOF `appendfsync always`), each with its online-check cache (the default) and
//! without it. Criterion reports each; then an interleaved pass (all take turns in every
//! round) prints the median ratios and one summary line. Last, what a recent-login check
//! (`Validation::with_max_auth_age`, which reads `auth_time` in a second small parse)
//! adds to a verification, offline and online (memory, cached), as interleaved ratios.
//!
//! Run: `cargo bench --manifest-path benches/peers/Cargo.toml --bench online`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;

#[path = "common/redis_server.rs"]
mod redis_server;
use redis_server::Server;
use serde_json::{Map, Value};
use tok::layer::Cached;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::AnyStore;
use tok::{HmacKey, KeySet, Validation};

/// One backend, its sessions, and a session's access token.
struct Case {
    name: String,
    sessions: Sessions<Cached<AnyStore>>,
    token: String,
}

async fn case(name: &str, store: Cached<AnyStore>, keys: &KeySet) -> Case {
    let sessions = Sessions::new(store, keys.clone(), RefreshPolicy::default());
    let pair = sessions
        .issue("user-42", &serde_json::json!({"role": "user"}), None)
        .await
        .unwrap();
    Case {
        name: name.to_owned(),
        sessions,
        token: pair.access_token,
    }
}

/// Mean time of one online check over `n` calls.
async fn online(case: &Case, validation: &Validation, n: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let v = case
            .sessions
            .verify_access::<Map<String, Value>>(black_box(&case.token), validation)
            .await
            .unwrap();
        black_box(v);
    }
    start.elapsed() / n
}

/// Mean time of one offline verification over `n` calls.
fn offline(case: &Case, validation: &Validation, n: u32) -> Duration {
    let keys = case.sessions.keys();
    let start = Instant::now();
    for _ in 0..n {
        let v = tok::verify::<Map<String, Value>>(
            &keys,
            black_box(&case.token),
            validation,
        )
        .unwrap();
        black_box(v);
    }
    start.elapsed() / n
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let redis = Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let dir = tempfile::tempdir_in(".").unwrap();
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap());
    let validation = Validation::new();
    let cases: Vec<Case> = rt.block_on(async {
        let sqlite = |n: &str| format!("sqlite:{}", dir.path().join(n).display());
        let open = |url: String| async move { Cached::open(&url).await.unwrap() };
        let bare = |url: String| async move {
            Cached::pass_through(tok::store::open(&url).await.unwrap())
        };
        vec![
            case("memory", open("memory:".into()).await, &keys).await,
            case("sqlite", open(sqlite("a.db")).await, &keys).await,
            case("redis", open(redis.url.clone()).await, &keys).await,
            case("memory, no cache", bare("memory:".into()).await, &keys).await,
            case("sqlite, no cache", bare(sqlite("b.db")).await, &keys).await,
            case("redis, no cache", bare(redis.url.clone()).await, &keys).await,
        ]
    });

    let mut c = Criterion::default().configure_from_args();
    c.bench_function("offline: tok::verify", |b| {
        b.iter_custom(|iters| offline(&cases[0], &validation, iters as u32) * iters as u32)
    });
    for case in &cases {
        c.bench_function(&format!("online: verify_access, {}", case.name), |b| {
            b.iter_custom(|iters| {
                rt.block_on(online(case, &validation, iters as u32)) * iters as u32
            })
        });
    }

    let rounds: usize = std::env::var("TOK_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(21);
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len() + 1];
    for _ in 0..rounds {
        let base = offline(&cases[0], &validation, 20_000).as_nanos() as f64;
        times[0].push(base);
        for (i, case) in cases.iter().enumerate() {
            let n = if case.name.contains("no cache") {
                2_000
            } else {
                20_000
            };
            let t = rt.block_on(online(case, &validation, n)).as_nanos() as f64;
            times[i + 1].push(t);
            ratios[i].push(base / t);
        }
    }
    println!("interleaved, median of {rounds} rounds (ns per check; offline/online rate ratio)");
    println!("  {:<20} {:>9.0} ns", "offline", median(times[0].clone()));
    let mut summary = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let r = median(ratios[i].clone());
        println!(
            "  online, {:<12} {:>9.0} ns  {r:.2}x offline",
            case.name,
            median(times[i + 1].clone())
        );
        if !case.name.contains("no cache") {
            summary.push(format!("{} {r:.2}x", case.name));
        }
    }
    println!("online check vs offline: {}", summary.join(", "));

    // The same token, the same checks, and the login's age besides.
    let recent = Validation::new().with_max_auth_age(Duration::from_secs(3600));
    let (mut offline_ratio, mut online_ratio) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let plain = offline(&cases[0], &validation, 20_000).as_nanos() as f64;
        let checked = offline(&cases[0], &recent, 20_000).as_nanos() as f64;
        offline_ratio.push(checked / plain);
        let plain = rt.block_on(online(&cases[0], &validation, 20_000)).as_nanos() as f64;
        let checked = rt.block_on(online(&cases[0], &recent, 20_000)).as_nanos() as f64;
        online_ratio.push(checked / plain);
    }
    println!(
        "recent-login check vs none (time ratio, median of {rounds} rounds): offline {:.3}x, \
         online (memory, cached) {:.3}x",
        median(offline_ratio),
        median(online_ratio)
    );
}
