//! HS256 sign and verify: tok, jsonwebtoken 11 (rust_crypto) and oxitoken 0.1 (aws-lc-rs),
//! on the workload of benches/README.md, in one run.
//!
//! Criterion reports each implementation; then an interleaved pass (the three take turns
//! within every round, so machine noise hits all alike) prints median ratios.
//!
//! Run: `cargo bench --manifest-path benches/peers/Cargo.toml`

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::Criterion;
use serde::{Deserialize, Serialize};

const SECRET: [u8; 32] = *b"0123456789abcdef0123456789abcdef";
const ISS: &str = "auth.example";
const AUD: &str = "api.example";

/// The custom part of the claims, for tok (registered claims are tok's own fields).
#[derive(Serialize, Deserialize, Clone)]
struct TokCustom {
    role: String,
}

/// The whole claim set, as the peers model it.
#[derive(Serialize, Deserialize, Clone)]
struct PeerClaims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    jti: String,
    role: String,
}

impl oxitoken::claims::Exp for PeerClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}
impl oxitoken::claims::Iss for PeerClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
}
impl oxitoken::claims::Aud for PeerClaims {
    fn aud(&self) -> impl Iterator<Item = impl AsRef<str>> {
        std::iter::once(self.aud.as_str())
    }
}

#[derive(Serialize, Deserialize)]
struct OxiHeader {
    alg: oxitoken::Algorithm,
    typ: String,
}
impl oxitoken::header::Alg for OxiHeader {
    fn alg(&self) -> oxitoken::Algorithm {
        self.alg
    }
}

type OxiPipeline = oxitoken::validation::ValidationPipeline<
    OxiHeader,
    PeerClaims,
    oxitoken::validation::StaticKeyProvider<aws_lc_rs::hmac::Key>,
>;

/// The borrowed-parse floor of `benches/README.md`: an HMAC key state keyed once
/// (the `hmac` crate, cloned per tag), base64 into stack buffers, a borrowed serde parse
/// (no allocation), and the `exp`, `iss` and `aud` checks. No header parse, no duplicate
/// or depth checks, no owned claims: what any verifier of this token must at least do.
struct Floor {
    mac: hmac::Hmac<sha2::Sha256>,
}

#[derive(Deserialize)]
struct BorrowedClaims<'a> {
    #[serde(borrow)]
    iss: &'a str,
    #[serde(borrow)]
    aud: &'a str,
    exp: i64,
    #[serde(borrow)]
    role: &'a str,
}

impl Floor {
    fn new() -> Self {
        use hmac::KeyInit;
        Self {
            mac: hmac::Hmac::new_from_slice(&SECRET).unwrap(),
        }
    }

    fn verify(&self, token: &str, now: i64) -> usize {
        use hmac::Mac;
        use subtle::ConstantTimeEq;
        let (signing, signature) = token.rsplit_once('.').unwrap();
        let payload = signing.split_once('.').unwrap().1;
        let mut mac = self.mac.clone();
        mac.update(signing.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut sig = [0u8; 32];
        base64_simd::URL_SAFE_NO_PAD
            .decode(signature.as_bytes(), base64_simd::Out::from_slice(&mut sig))
            .unwrap();
        assert!(bool::from(tag.as_slice().ct_eq(&sig)));
        let mut buf = [0u8; 512];
        let json = base64_simd::URL_SAFE_NO_PAD
            .decode(payload.as_bytes(), base64_simd::Out::from_slice(&mut buf))
            .unwrap();
        let claims: BorrowedClaims = serde_json::from_slice(json).unwrap();
        assert!(claims.exp > now && claims.iss == ISS && claims.aud == AUD);
        claims.role.len()
    }
}

struct Fixture {
    now: i64,
    floor: Floor,
    peer_claims: PeerClaims,
    tok_claims: tok::Claims<TokCustom>,
    token: String,
    tok_key: tok::HmacKey,
    tok_validation: tok::Validation,
    jwt_enc: jsonwebtoken::EncodingKey,
    jwt_dec: jsonwebtoken::DecodingKey,
    jwt_validation: jsonwebtoken::Validation,
    oxi_key: aws_lc_rs::hmac::Key,
    oxi_pipeline: OxiPipeline,
}

fn fixture() -> Fixture {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let peer_claims = PeerClaims {
        sub: "u-1234567".into(),
        iss: ISS.into(),
        aud: AUD.into(),
        iat: now,
        exp: now + 900,
        jti: "8f14e45fceea167a".into(),
        role: "admin".into(),
    };
    let tok_claims = tok::Claims::new(TokCustom {
        role: "admin".into(),
    })
    .with_subject(&peer_claims.sub)
    .with_issuer(ISS)
    .with_audience(AUD)
    .issued_at(tok::NumericDate::from_secs(now as u64).unwrap())
    .with_expiry(tok::NumericDate::from_secs(now as u64 + 900).unwrap())
    .with_id(&peer_claims.jti);
    let tok_key = tok::HmacKey::from_bytes(&SECRET).unwrap();
    let token = tok::sign(&tok_key, &tok_claims).unwrap();

    let mut jwt_validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    jwt_validation.set_issuer(&[ISS]);
    jwt_validation.set_audience(&[AUD]);
    jwt_validation.leeway = 0;

    let oxi_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &SECRET);
    let oxi_pipeline = OxiPipeline::builder(
        aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &SECRET).into(),
    )
    .with_expiration_validator()
    .with_issuer_validator(ISS)
    .with_audience_validator(AUD)
    .build();

    Fixture {
        now,
        floor: Floor::new(),
        peer_claims,
        tok_claims,
        token,
        tok_key,
        tok_validation: tok::Validation::new().with_issuer(ISS).with_audience(AUD),
        jwt_enc: jsonwebtoken::EncodingKey::from_secret(&SECRET),
        jwt_dec: jsonwebtoken::DecodingKey::from_secret(&SECRET),
        jwt_validation,
        oxi_key,
        oxi_pipeline,
    }
}

impl Fixture {
    fn tok_sign(&self) -> String {
        tok::sign(&self.tok_key, black_box(&self.tok_claims)).unwrap()
    }
    fn jwt_sign(&self) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            black_box(&self.peer_claims),
            &self.jwt_enc,
        )
        .unwrap()
    }
    fn oxi_sign(&self) -> String {
        let header = OxiHeader {
            alg: oxitoken::Algorithm::HS256,
            typ: "JWT".into(),
        };
        oxitoken::encoding::encode(&self.oxi_key, &header, black_box(&self.peer_claims)).unwrap()
    }
    fn tok_verify(&self) -> usize {
        self.tok_verify_token(&self.token)
    }
    fn jwt_verify(&self) -> usize {
        self.jwt_verify_token(&self.token)
    }
    fn oxi_verify(&self) -> usize {
        self.oxi_verify_token(&self.token)
    }
    fn tok_verify_token(&self, token: &str) -> usize {
        let v = tok::verify::<TokCustom>(&self.tok_key, black_box(token), &self.tok_validation)
            .unwrap();
        v.claims.custom.role.len()
    }
    /// As [`Self::tok_verify`], handed `now` instead of reading the clock.
    fn tok_verify_at(&self, now: tok::NumericDate) -> usize {
        let v = tok::verify_at::<TokCustom>(
            &self.tok_key,
            black_box(&self.token),
            &self.tok_validation,
            now,
        )
        .unwrap();
        v.claims.custom.role.len()
    }
    fn jwt_verify_token(&self, token: &str) -> usize {
        let v = jsonwebtoken::decode::<PeerClaims>(
            black_box(token),
            &self.jwt_dec,
            &self.jwt_validation,
        )
        .unwrap();
        v.claims.role.len()
    }
    fn oxi_verify_token(&self, token: &str) -> usize {
        let (_, c) = self
            .oxi_pipeline
            .verify(black_box(token.as_bytes()))
            .unwrap();
        c.role.len()
    }
}

/// Checks that every implementation accepts every other's token, so the comparison is of
/// equal work.
fn cross_check(f: &Fixture) {
    assert!(
        f.token.len() >= 230 && f.token.len() <= 270,
        "token is {} bytes",
        f.token.len()
    );
    for token in [f.tok_sign(), f.jwt_sign(), f.oxi_sign()] {
        tok::verify::<TokCustom>(&f.tok_key, &token, &f.tok_validation).unwrap();
        jsonwebtoken::decode::<PeerClaims>(&token, &f.jwt_dec, &f.jwt_validation).unwrap();
        f.oxi_pipeline.verify(token.as_bytes()).unwrap();
    }
    f.floor.verify(&f.token, f.now);
}

fn criterion_groups(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("hs256-sign");
    g.bench_function("tok", |b| b.iter(|| f.tok_sign()));
    g.bench_function("jsonwebtoken", |b| b.iter(|| f.jwt_sign()));
    g.bench_function("oxitoken", |b| b.iter(|| f.oxi_sign()));
    g.finish();
    let mut g = c.benchmark_group("hs256-verify");
    g.bench_function("tok", |b| b.iter(|| f.tok_verify()));
    g.bench_function("jsonwebtoken", |b| b.iter(|| f.jwt_verify()));
    g.bench_function("oxitoken", |b| b.iter(|| f.oxi_verify()));
    g.finish();
}

/// Nanoseconds per call of `op`, over a batch.
fn batch_ns<R>(op: impl Fn() -> R, n: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        black_box(op());
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Rounds in which each implementation runs one batch in turn; returns per-implementation
/// medians of ns/op and the medians of per-round ratios peer/tok.
fn interleaved(name: &str, ops: [&dyn Fn() -> usize; 3], rounds: usize) {
    const BATCH: u32 = 20_000;
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    let mut ratios = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        let t: Vec<f64> = ops.iter().map(|op| batch_ns(op, BATCH)).collect();
        for i in 0..3 {
            times[i].push(t[i]);
        }
        ratios[0].push(t[1] / t[0]);
        ratios[1].push(t[2] / t[0]);
    }
    let [tok, jwt, oxi] = times.map(|mut v| median(&mut v));
    let [r_jwt, r_oxi] = ratios.map(|mut v| median(&mut v));
    println!(
        "{name:<7} median ns/op: tok {tok:7.1}  jsonwebtoken {jwt:7.1}  oxitoken {oxi:7.1}   \
         tok is {r_jwt:.2}x faster than jsonwebtoken, {r_oxi:.2}x faster than oxitoken"
    );
}

/// Like [`interleaved`], naming the three and printing every pairwise ratio.
fn interleaved3(name: &str, ops: [&dyn Fn() -> usize; 3], names: [&str; 3], rounds: usize) {
    const BATCH: u32 = 20_000;
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    let mut ratios = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        let t: Vec<f64> = ops.iter().map(|op| batch_ns(op, BATCH)).collect();
        for i in 0..3 {
            times[i].push(t[i]);
        }
        ratios[0].push(t[1] / t[0]);
        ratios[1].push(t[1] / t[2]);
        ratios[2].push(t[2] / t[0]);
    }
    let [a, b, c] = times.map(|mut v| median(&mut v));
    let [ab, bc, ca] = ratios.map(|mut v| median(&mut v));
    let [na, nb, nc] = names;
    println!(
        "{name}: {na} {a:.1} ns, {nb} {b:.1} ns, {nc} {c:.1} ns; {nb}/{na} {ab:.2}x, {nb}/{nc} {bc:.2}x (the most any verifier of this token could beat {nb} by), {nc}/{na} {ca:.2}x"
    );
}

fn main() {
    let f = fixture();
    cross_check(&f);
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    criterion_groups(&mut c, &f);
    c.final_summary();

    let rounds = std::env::var("TOK_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(41);
    println!(
        "\ninterleaved, {rounds} rounds of 20000 calls each, token {} bytes:",
        f.token.len()
    );
    interleaved(
        "sign",
        [&|| f.tok_sign().len(), &|| f.jwt_sign().len(), &|| {
            f.oxi_sign().len()
        }],
        rounds,
    );
    interleaved(
        "verify",
        [&|| f.tok_verify(), &|| f.jwt_verify(), &|| f.oxi_verify()],
        rounds,
    );
    // tok, oxitoken and the floor, to see how far from what any verifier must do each is.
    interleaved3(
        "verify vs floor",
        [&|| f.tok_verify(), &|| f.oxi_verify(), &|| {
            f.floor.verify(black_box(&f.token), f.now)
        }],
        ["tok", "oxitoken", "floor"],
        rounds,
    );
    // tok handed `now` as the floor is: what reading the clock costs of the difference.
    let now = tok::NumericDate::from_secs(f.now as u64).unwrap();
    interleaved3(
        "verify_at (no clock read) vs floor",
        [&|| f.tok_verify_at(now), &|| f.oxi_verify(), &|| {
            f.floor.verify(black_box(&f.token), f.now)
        }],
        ["tok", "oxitoken", "floor"],
        rounds,
    );
    // The same claims as jsonwebtoken signs them: header `{"typ":"JWT","alg":"HS256"}`,
    // not byte-identical to tok's own.
    let foreign = f.jwt_sign();
    interleaved(
        "verify (jsonwebtoken-signed)",
        [
            &|| f.tok_verify_token(&foreign),
            &|| f.jwt_verify_token(&foreign),
            &|| f.oxi_verify_token(&foreign),
        ],
        rounds,
    );
}
