//! Fuzz target `verify_keyset`: see `checks::verify_keyset` for the properties it asserts.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::verify_keyset(data));
