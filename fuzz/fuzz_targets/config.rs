//! `cargo fuzz run config`: see `tokengate::fuzz::config` for what it covers and asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokengate::fuzz::config(data));
