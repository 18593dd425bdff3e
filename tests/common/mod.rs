//! Helpers shared by integration tests.
#![allow(dead_code)]

pub mod attacks;
pub mod listening;
#[cfg(feature = "refresh")]
pub mod observed;
#[cfg(feature = "postgres")]
pub mod postgres_server;
#[cfg(all(feature = "sqlite", feature = "redis"))]
pub mod processes;
#[cfg(any(feature = "redis", feature = "postgres"))]
pub mod proxy;
#[cfg(feature = "refresh")]
pub mod races;
#[cfg(feature = "redis")]
pub mod redis_server;
#[cfg(feature = "refresh")]
pub mod traffic;
#[cfg(all(feature = "axum", feature = "cli"))]
pub mod web;

use tok::HmacKey;

/// The path of example binary `name` (built by `cargo test --all-features`), which the
/// multi-process tests run as servers and crash victims.
pub fn example_bin(name: &str) -> std::path::PathBuf {
    // target/debug/deps/TEST-HASH → target/debug/examples/NAME
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        bin.exists(),
        "{} is missing: the full `cargo test --all-features` builds the examples",
        bin.display()
    );
    bin
}

/// The secret every test key is made from.
pub const SECRET: [u8; 32] = *b"tok test key: 32 bytes exactly!!";

/// A test key without `kid`.
pub fn key() -> HmacKey {
    HmacKey::from_bytes(&SECRET).unwrap()
}

/// A token with exactly this header and payload JSON, correctly signed with `key`: lets
/// tests reach the checks that follow the signature.
pub fn forge(key: &HmacKey, header: &str, payload: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        tok::base64url::encode(header.as_bytes()),
        tok::base64url::encode(payload.as_bytes())
    );
    let tag = key.mac(signing_input.as_bytes());
    format!("{signing_input}.{}", tok::base64url::encode(&tag))
}

/// [`forge`] with the standard header.
pub fn forge_claims(key: &HmacKey, payload: &str) -> String {
    forge(key, r#"{"alg":"HS256","typ":"JWT"}"#, payload)
}
