//! `cargo fuzz run route`: see `tokengate::fuzz::route` for what it covers and asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokengate::fuzz::route(data));
