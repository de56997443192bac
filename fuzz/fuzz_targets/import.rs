//! `cargo fuzz run import`: see `tokengate::fuzz::import` for what it covers and asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokengate::fuzz::import(data));
