//! The ext_authz service with its messages left as bytes: [`RawCodec`] hands the request's bytes
//! to the handler untouched and writes the handler's [`Reply`] into the frame, and [`Server`]
//! serves `Check` with it where the generated `AuthorizationServer` would run prost both ways.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use prost::bytes::{Buf, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::response::Reply;

/// The gRPC service name, as in `proto/envoy/service/auth/v3/external_auth.proto`.
pub const SERVICE: &str = "envoy.service.auth.v3.Authorization";
/// The path of `Check`.
pub const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// Messages as bytes both ways: decoding takes the message's bytes without a copy (they are a
/// slice of the frame buffer), encoding writes a [`Reply`] straight into the frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Reply;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Reply;
    type Error = Status;

    fn encode(&mut self, item: Reply, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.write(dst);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Answers `Check`: a serialized `CheckRequest` in, a serialized `CheckResponse` out.
pub trait Handler: Send + Sync + 'static {
    /// Decides one `Check` call from its bytes.
    fn check(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Reply>, Status>> + Send;
}

/// `envoy.service.auth.v3.Authorization` over [`RawCodec`], for `tonic`'s router.
pub struct Server<H> {
    handler: Arc<H>,
}

impl<H> Server<H> {
    /// The service over `handler`.
    pub fn new(handler: H) -> Server<H> {
        Server {
            handler: Arc::new(handler),
        }
    }
}

impl<H> Clone for Server<H> {
    fn clone(&self) -> Self {
        Server {
            handler: self.handler.clone(),
        }
    }
}

impl<H> NamedService for Server<H> {
    const NAME: &'static str = SERVICE;
}

impl<H, B> Service<http::Request<B>> for Server<H>
where
    H: Handler,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != CHECK_PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let check = Check(self.handler.clone());
        Box::pin(async move { Ok(Grpc::new(RawCodec).unary(check, req).await) })
    }
}

struct Check<H>(Arc<H>);

impl<H: Handler> UnaryService<Bytes> for Check<H> {
    type Response = Reply;
    type Future = BoxFuture<Response<Reply>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let handler = self.0.clone();
        Box::pin(async move { handler.check(request).await })
    }
}
