//! Fuzz target `verify_json`: see `checks::verify_json` for the properties it asserts.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::verify_json(data));
