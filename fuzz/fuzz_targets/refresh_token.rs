//! Fuzz target `refresh_token`: see `checks::refresh_token` for the properties it asserts.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::refresh_token(data));
