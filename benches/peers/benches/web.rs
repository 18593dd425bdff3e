//! What the axum extractor adds to verification: `tok::web::Bearer` (header parsing,
//! RFC 6750 checks, then `verify`) against `tok::verify` alone, on a prebuilt request
//! carrying the workload's token. Criterion reports each; then an interleaved pass (both
//! take turns in every round) prints the median ratio.
//!
//! Run: `cargo bench --manifest-path benches/peers/Cargo.toml --bench web`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use criterion::Criterion;
use serde::{Deserialize, Serialize};
use tok::store::MemoryStore;
use tok::web::{Bearer, WebSessions};
use tok::{Claims, HmacKey, KeySet, NumericDate, Validation};

#[derive(Serialize, Deserialize)]
struct Custom {
    role: String,
}

/// Polls a future that never waits (the offline extractor) to completion.
fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("the offline extractor never waits"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let key = HmacKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap();
    let now = NumericDate::now();
    let token = tok::sign(
        &key,
        &Claims::new(Custom {
            role: "admin".into(),
        })
        .with_subject("user-42")
        .with_issuer("auth.example")
        .with_audience("api.example")
        .issued_at(now)
        .expires_after(now, Duration::from_secs(900))
        .with_id("a3f9c2e1b7d44e0c"),
    )
    .unwrap();
    let validation = Validation::new()
        .with_issuer("auth.example")
        .with_audience("api.example");
    let keys = KeySet::new(key);
    let state = Arc::new(
        WebSessions::new(MemoryStore::new(), keys.clone()).with_validation(validation.clone()),
    );
    let (mut parts, ()) = axum::http::Request::builder()
        .uri("/api/me")
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/json")
        .header("user-agent", "bench")
        .body(())
        .unwrap()
        .into_parts();

    let verify = || {
        let v = tok::verify::<Custom>(&keys, black_box(&token), &validation).unwrap();
        black_box(v);
    };
    let mut extract = || {
        let b = ready(Bearer::<Custom, MemoryStore>::from_request_parts(
            black_box(&mut parts),
            &state,
        ))
        .unwrap();
        black_box(b);
    };

    let mut c = Criterion::default().configure_from_args();
    c.bench_function("tok::verify", |b| b.iter(verify));
    c.bench_function("tok::web::Bearer extractor", |b| b.iter(&mut extract));
    c.final_summary();

    const ROUNDS: usize = 41;
    const N: u32 = 20_000;
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..N {
            f();
        }
        start.elapsed().as_nanos() as f64 / f64::from(N)
    };
    let mut verify = verify;
    let (mut v_ns, mut e_ns, mut ratios) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let v = time(&mut verify);
        let e = time(&mut extract);
        v_ns.push(v);
        e_ns.push(e);
        ratios.push(e / v);
    }
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    println!(
        "extractor: verify {:.0} ns, Bearer extractor {:.0} ns: the extractor costs {:.3}x verify (median of {ROUNDS} interleaved rounds)",
        median(v_ns),
        median(e_ns),
        median(ratios)
    );
}
