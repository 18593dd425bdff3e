//! Fuzz target `authorization_header`: see `checks::authorization_header` for the properties it asserts.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::authorization_header(data));
