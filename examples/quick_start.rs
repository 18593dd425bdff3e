//! Sign and verify an HS256 token, then rotate keys: the library quick start, runnable.
//!
//! `cargo run --example quick_start`

use std::time::Duration;

use tok::{Claims, HmacKey, KeySet, NumericDate, Validation};

#[derive(serde::Serialize, serde::Deserialize)]
struct Custom {
    role: String,
}

fn main() -> Result<(), tok::Error> {
    let key = HmacKey::generate()?;
    let now = NumericDate::now();
    let token = tok::sign(
        &key,
        &Claims::new(Custom {
            role: "admin".into(),
        })
        .with_subject("user-42")
        .with_issuer("https://auth.example")
        .with_audience("api")
        .issued_at(now)
        .expires_after(now, Duration::from_secs(900)),
    )?;
    println!("token: {token}");

    let validation = Validation::new()
        .with_issuer("https://auth.example")
        .with_audience("api");
    let verified = tok::verify::<Custom>(&key, &token, &validation)?;
    println!(
        "verified: sub={:?} role={}",
        verified.claims.sub.as_deref(),
        verified.claims.custom.role
    );

    // Rotation: the new key signs, the old one still verifies its tokens.
    let mut keys = KeySet::new(key);
    keys.prepend(HmacKey::generate()?)?;
    tok::verify::<Custom>(&keys, &token, &validation)?;
    println!("the old token still verifies after rotation");

    // A token for another audience is refused with a stable code.
    match tok::verify::<Custom>(&keys, &token, &Validation::new().with_audience("other")) {
        Ok(_) => println!("accepted for another audience?!"),
        Err(e) => println!("for another audience: {}", e.code()),
    }
    Ok(())
}
