//! `cargo fuzz run token`: see `tokengate::fuzz::token` for what it covers and asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokengate::fuzz::token(data));
