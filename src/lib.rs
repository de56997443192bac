//! tokengate: a JWT authorizer for Envoy's ext_authz (gRPC and HTTP) and nginx `auth_request`,
//! with API Gateway's JWT and Cognito authorizer rules.
//!
//! # Layout
//! - [`config`] reads and checks the YAML file; [`state`] compiles it into an immutable
//!   snapshot swapped whole on reload.
//! - [`gate`] decides one request: [`route`] picks the route, [`authorizer`] holds an issuer's
//!   rules, [`token_cache`] remembers verified tokens, [`jwt`] parses and checks tokens,
//!   [`jwks`] keeps each issuer's keys. The verdict is a [`decision::Decision`].
//! - [`server`] runs the gRPC, HTTP-authorizer and admin listeners, each turning its request
//!   into a [`gate::Request`] and the decision back into its own response. [`wire`] reads a
//!   `CheckRequest` and writes a `CheckResponse` at the byte level, for the gRPC hot path.
//! - [`metrics`], [`signal`], [`clock`] and [`dev`] (the `serve --dev` issuer) support them;
//!   [`fuzz`] holds what the cargo-fuzz targets run.

pub mod authorizer;
pub mod cli;
pub mod clock;
pub mod config;
pub mod decision;
pub mod dev;
pub mod explain;
pub mod fuzz;
pub mod gate;
pub mod jwks;
pub mod jwt;
pub mod metrics;
pub mod pb;
pub mod route;
pub mod server;
pub mod signal;
pub mod state;
pub mod token_cache;
pub mod wire;
