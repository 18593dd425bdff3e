//! Fuzz target `end_body`: see `checks::end_body` for the properties it asserts.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::end_body(data));
