//! Fuzz target `cookie_header`: see `checks::cookie_header` for the properties it asserts.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::cookie_header(data));
