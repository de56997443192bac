//! What tests, benches and fuzz targets share (feature `testkit`): keys and tokens made at run
//! time, a JWKS server the test controls, the real server on loopback with a real gRPC client,
//! and real tools.

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

mod answer;
pub mod browser;
mod grpc;
mod harness;
mod jwks_server;
mod process;
mod proxies;
mod raw;
mod tools;

use serde_json::{Value, json};

pub use answer::*;
pub use grpc::*;
pub use harness::*;
pub use jwks_server::*;
pub use process::{Process, eventually};
pub use proxies::*;
pub use raw::*;
pub use tools::*;

use crate::jwt::{Alg, Signer};

/// A fresh key for `alg` with this `kid`.
pub fn signer(alg: Alg, kid: &str) -> Signer {
    Signer::generate(alg, kid).unwrap()
}

/// The system clock in whole seconds, as JWT time claims are usually written.
pub fn now() -> f64 {
    crate::clock::now().floor()
}

/// Claims valid for an hour from `iss` for audience `aud`.
pub fn claims(iss: &str, aud: &str) -> Value {
    json!({"iss": iss, "aud": aud, "sub": "user-1", "exp": now() + 3600.0, "iat": now() - 10.0})
}

/// The `Authorization` value for a token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
