//! What the axum extractor adds to verification: `tok::web::Bearer` (header parsing,
//! RFC 6750 checks, then `verify`) against `tok::verify` alone, on a prebuilt request
//! carrying the workload's token. Criterion reports each; then an interleaved pass (both
//! take turns in every round) prints the median ratio. Then the tower layer
//! (`tok::tower::BearerLayer`, offline) against the extractor on the same work: each given
//! a fresh request with the same headers, the layer calling a service that reads the
//! claims it put in the request, interleaved. Last, what tok's metrics cost: an
//! online check (cached) and a rotation (memory store) with a Prometheus recorder
//! installed against the same with none, interleaved (a recorder that switches between
//! the two at run time, since a process installs one recorder for good).
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

#[derive(Clone, Serialize, Deserialize)]
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

    let mut verify = || {
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

    let (v_ns, e_ns, ratio) = interleaved(&mut verify, &mut extract);
    println!(
        "extractor: verify {v_ns:.0} ns, Bearer extractor {e_ns:.0} ns: the extractor costs {ratio:.3}x verify (median of {ROUNDS} interleaved rounds)"
    );
    layer_against_extractor(&state, &keys, &validation, &parts.headers);
    live_against_fixed(&state, &keys, &validation, &parts.headers);
    metrics_overhead();
}

/// The extractor on sessions whose keys are `LiveKeys` (replaceable while running, read
/// through arc-swap) against the same on a fixed `KeySet`.
fn live_against_fixed(
    fixed: &Arc<WebSessions<MemoryStore>>,
    keys: &KeySet,
    validation: &Validation,
    headers: &axum::http::HeaderMap,
) {
    let live = Arc::new(
        WebSessions::new(MemoryStore::new(), tok::refresh::LiveKeys::new(keys.clone()))
            .with_validation(validation.clone()),
    );
    let (mut parts, ()) = {
        let mut request = axum::http::Request::new(());
        *request.headers_mut() = headers.clone();
        request.into_parts()
    };
    let mut on = |state: &Arc<WebSessions<MemoryStore>>| {
        let b = ready(Bearer::<Custom, MemoryStore>::from_request_parts(
            black_box(&mut parts),
            state,
        ))
        .unwrap();
        black_box(b);
    };
    let on = std::cell::RefCell::new(&mut on);
    let (f_ns, l_ns, ratio) = interleaved(
        &mut || (on.borrow_mut())(fixed),
        &mut || (on.borrow_mut())(&live),
    );
    println!(
        "live keys: Bearer extractor on a KeySet {f_ns:.0} ns, on LiveKeys {l_ns:.0} ns: live keys cost {ratio:.3}x (median of {ROUNDS} interleaved rounds)"
    );
}

/// The tower layer against the extractor, both on a fresh request with `headers`.
fn layer_against_extractor(
    state: &Arc<WebSessions<MemoryStore>>,
    keys: &KeySet,
    validation: &Validation,
    headers: &axum::http::HeaderMap,
) {
    use tower::{Layer, Service};
    let fresh = || {
        let mut request = axum::http::Request::new(());
        *request.headers_mut() = headers.clone();
        request
    };
    let layer =
        tok::tower::BearerLayer::<Custom, MemoryStore>::offline(keys.clone(), validation.clone());
    let mut service = layer.layer(tower::service_fn(|r: axum::http::Request<()>| async move {
        let admitted = r.extensions().get::<tok::Verified<Custom>>().is_some();
        Ok::<_, std::convert::Infallible>(axum::http::Response::new(admitted))
    }));
    let mut through_layer = || {
        let response = ready(service.call(fresh())).unwrap();
        assert!(*response.body());
    };
    let mut through_extractor = || {
        let (mut parts, ()) = fresh().into_parts();
        let b = ready(Bearer::<Custom, MemoryStore>::from_request_parts(
            &mut parts, state,
        ))
        .unwrap();
        black_box(b);
    };
    let (e_ns, l_ns, ratio) = interleaved(&mut through_extractor, &mut through_layer);
    println!(
        "tower layer: Bearer extractor {e_ns:.0} ns, BearerLayer {l_ns:.0} ns (fresh request each): the layer costs {ratio:.3}x the extractor (median of {ROUNDS} interleaved rounds)"
    );
}

/// Rounds of the interleaved passes.
const ROUNDS: usize = 41;

/// `a` and `b` taking turns, `ROUNDS` rounds of 20 000 calls each: the median ns per call
/// of each, and the median of b/a per round.
fn interleaved(a: &mut dyn FnMut(), b: &mut dyn FnMut()) -> (f64, f64, f64) {
    const N: u32 = 20_000;
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..N {
            f();
        }
        start.elapsed().as_nanos() as f64 / f64::from(N)
    };
    let (mut a_ns, mut b_ns, mut ratios) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let x = time(a);
        let y = time(b);
        a_ns.push(x);
        b_ns.push(y);
        ratios.push(y / x);
    }
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    (median(a_ns), median(b_ns), median(ratios))
}

/// The Prometheus recorder while `ON`, else none (the facade's no-op handles).
struct Switch(metrics_exporter_prometheus::PrometheusRecorder);

static ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl metrics::Recorder for Switch {
    fn describe_counter(
        &self,
        k: metrics::KeyName,
        u: Option<metrics::Unit>,
        d: metrics::SharedString,
    ) {
        self.0.describe_counter(k, u, d)
    }
    fn describe_gauge(
        &self,
        k: metrics::KeyName,
        u: Option<metrics::Unit>,
        d: metrics::SharedString,
    ) {
        self.0.describe_gauge(k, u, d)
    }
    fn describe_histogram(
        &self,
        k: metrics::KeyName,
        u: Option<metrics::Unit>,
        d: metrics::SharedString,
    ) {
        self.0.describe_histogram(k, u, d)
    }
    fn register_counter(&self, key: &metrics::Key, m: &metrics::Metadata<'_>) -> metrics::Counter {
        if ON.load(std::sync::atomic::Ordering::Relaxed) {
            self.0.register_counter(key, m)
        } else {
            metrics::Counter::noop()
        }
    }
    fn register_gauge(&self, key: &metrics::Key, m: &metrics::Metadata<'_>) -> metrics::Gauge {
        if ON.load(std::sync::atomic::Ordering::Relaxed) {
            self.0.register_gauge(key, m)
        } else {
            metrics::Gauge::noop()
        }
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        m: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        if ON.load(std::sync::atomic::Ordering::Relaxed) {
            self.0.register_histogram(key, m)
        } else {
            metrics::Histogram::noop()
        }
    }
}

/// Online checks and rotations with metrics recorded against the same with none.
fn metrics_overhead() {
    use serde_json::{Map, Value};
    use tok::refresh::{RefreshPolicy, Sessions};
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::set_global_recorder(Switch(recorder)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let keys = KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap());
    // Cached, as an application runs it: the online checks measured answer from memory.
    let store = rt
        .block_on(tok::layer::Cached::new(MemoryStore::new()))
        .unwrap();
    let sessions = Sessions::new(store, keys, RefreshPolicy::default());
    let pair = rt
        .block_on(sessions.issue("bench", &Map::<String, Value>::new(), None))
        .unwrap();
    let access = pair.access_token.clone();
    let mut refresh = pair.refresh_token.to_string();
    let validation = Validation::new();
    const ROUNDS: usize = 21;
    const N: u32 = 20_000;
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let (mut check_ratio, mut rotate_ratio, mut check_ns, mut rotate_ns) =
        (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let mut times = [[0f64; 2]; 2];
        // Alternate which setting goes first, so neither always runs on a warmer cache.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for on in order {
            ON.store(on, std::sync::atomic::Ordering::Relaxed);
            let start = Instant::now();
            rt.block_on(async {
                for _ in 0..N {
                    black_box(
                        sessions
                            .verify_access::<Map<String, Value>>(black_box(&access), &validation)
                            .await
                            .unwrap(),
                    );
                }
            });
            times[0][usize::from(on)] = start.elapsed().as_nanos() as f64 / f64::from(N);
            let start = Instant::now();
            rt.block_on(async {
                for _ in 0..N / 10 {
                    refresh = sessions
                        .rotate(&refresh, None)
                        .await
                        .unwrap()
                        .refresh_token
                        .to_string();
                }
            });
            times[1][usize::from(on)] = start.elapsed().as_nanos() as f64 / f64::from(N / 10);
        }
        check_ratio.push(times[0][1] / times[0][0]);
        rotate_ratio.push(times[1][1] / times[1][0]);
        check_ns.push(times[0][0]);
        rotate_ns.push(times[1][0]);
    }
    println!(
        "metrics: an online check (cached) takes {:.3}x, a rotation (memory) {:.3}x its time with metrics recorded by Prometheus's recorder (without: {:.0} ns and {:.0} ns; median of {ROUNDS} interleaved rounds)",
        median(check_ratio),
        median(rotate_ratio),
        median(check_ns),
        median(rotate_ns)
    );
}
