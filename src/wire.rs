//! ext_authz's gRPC messages at the byte level, for the hot path: a `CheckRequest` read in place
//! ([`request`]), a `CheckResponse` written from pre-encoded parts ([`response`]), and a tonic
//! codec and service that pass those bytes through untouched ([`codec`]).
//!
//! Field numbers are wire facts, taken from `proto/`. Everything here agrees with what prost
//! makes of the same bytes (`tests/wire_request.rs`, `tests/wire_response.rs`, the
//! `check_request` fuzz target).

pub mod codec;
pub mod request;
pub mod response;

pub use codec::{Handler, RawCodec, Server};
pub use request::{Check, Header};
pub use response::{Allow, Reply};
