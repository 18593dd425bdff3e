//! A loop for profilers: `cargo run --release --example profile -- sign|verify [N]`.
use std::hint::black_box;

#[derive(serde::Serialize, serde::Deserialize)]
struct Custom {
    role: String,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "verify".into());
    let n: u32 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000_000);
    let now = tok::NumericDate::now();
    let key = tok::HmacKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap();
    let claims = tok::Claims::new(Custom {
        role: "admin".into(),
    })
    .with_subject("u-1234567")
    .with_issuer("auth.example")
    .with_audience("api.example")
    .issued_at(now)
    .expires_after(now, std::time::Duration::from_secs(900))
    .with_id("8f14e45fceea167a");
    let token = tok::sign(&key, &claims).unwrap();
    let v = tok::Validation::new()
        .with_issuer("auth.example")
        .with_audience("api.example");
    for _ in 0..n {
        match what.as_str() {
            "sign" => drop(black_box(tok::sign(&key, black_box(&claims)).unwrap())),
            "mac" => drop(black_box(key.mac(black_box(token.as_bytes())))),
            _ => drop(black_box(
                tok::verify::<Custom>(&key, black_box(&token), &v).unwrap(),
            )),
        }
    }
}
