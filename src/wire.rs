//! ext_authz's gRPC messages at the byte level, for the hot path: a `CheckRequest` read in place
//! ([`request`]).
//!
//! Field numbers are wire facts, taken from `proto/`. Everything here agrees with what prost
//! makes of the same bytes (`tests/wire_request.rs`, the `check_request` fuzz target).

pub mod request;

pub use request::{Check, Header};
