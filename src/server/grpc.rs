//! Envoy's ext_authz gRPC `Check`: the `CheckRequest` read in place ([`wire::Check`]), the
//! core's decision written into the frame as `CheckResponse` bytes ([`wire::Reply`]). Every decision is
//! a successful RPC; the verdict is in `status`.

use prost::bytes::Bytes;
use tonic::{Request, Response, Status};

use crate::request;
use crate::server::check::{Checker, Origin};
use crate::wire::{self, Check, Reply};

/// The `envoy.service.auth.v3.Authorization` service.
#[derive(Clone)]
pub struct AuthService {
    checker: Checker,
}

impl AuthService {
    /// The service over `checker`.
    pub fn new(checker: Checker) -> AuthService {
        AuthService { checker }
    }
}

impl wire::Handler for AuthService {
    async fn check(&self, request: Request<Bytes>) -> Result<Response<Reply>, Status> {
        let peer = request.remote_addr();
        let bytes = request.into_inner();
        // Malformed protobuf fails the RPC, as tonic's own decoder would: Envoy applies its
        // failure policy (`failure_mode_allow`, `status_on_error`).
        let check = Check::decode(&bytes).map_err(|e| Status::internal(e.to_string()))?;
        let input = request::Request {
            method: check.method,
            target: check.path,
            headers: &check,
            context: Some(&check),
        };
        let from = Origin {
            peer,
            client: check.client,
        };
        let snap = self.checker.snapshot();
        let decision = self.checker.check(&snap, &input, from).await;
        Ok(Response::new(Reply::new(decision)))
    }
}
