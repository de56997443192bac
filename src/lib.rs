//! tokengate: a JWT authorizer for Envoy's ext_authz (gRPC and HTTP) and nginx `auth_request`,
//! with API Gateway's JWT and Cognito authorizer rules.
//!
//! # Layout
//! - [`config`] reads and checks the YAML file; [`state`] compiles it into an immutable
//!   snapshot swapped whole on reload.
//! - [`gate`] decides one [`request::Request`]: [`route`] picks the route, [`authorizer`]
//!   holds an issuer's rules and verifies its tokens, [`token_cache`] remembers verified
//!   tokens, [`jwt`] parses and checks tokens, [`jwks`] keeps each issuer's keys. The verdict
//!   is a [`decision::Decision`]; each step is reported to a [`trace::Trace`].
//! - [`server`] starts the gRPC, HTTP-authorizer and admin listeners; each front end turns its
//!   request into a [`request::Request`] and the decision back into its own response, through
//!   one pipeline ([`server::check`]). [`wire`] reads a `CheckRequest` and writes a
//!   `CheckResponse` at the byte level, for the gRPC hot path.
//! - [`cli`] runs the commands: [`explain`] (`verify`), [`dev`] (`serve --dev`), [`import`]
//!   (a config from an AWS SAM/CloudFormation template or an API Gateway OpenAPI export).
//! - [`metrics`], [`signal`] and [`clock`] support them; [`fuzz`] holds what the cargo-fuzz
//!   targets run.

pub mod authorizer;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cors;
pub mod decision;
pub mod dev;
pub mod explain;
pub mod fuzz;
pub mod gate;
pub mod import;
pub mod jwks;
pub mod jwt;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod pb;
pub mod request;
pub mod revocation;
pub mod route;
pub mod server;
pub mod signal;
pub mod state;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod token_cache;
pub mod trace;
pub mod wire;
