//! `cargo fuzz run request`: see `tokengate::fuzz::request` for what it covers and asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokengate::fuzz::request(data));
