//! Fuzz target `inspect`: see `checks::inspect` for the properties it asserts.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::inspect(data));
