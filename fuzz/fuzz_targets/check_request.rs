//! `cargo fuzz run check_request`: see `tokengate::fuzz::check_request` for what it covers and
//! asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokengate::fuzz::check_request(data));
