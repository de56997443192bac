//! Envoy's ext_authz gRPC `Check`: a `CheckRequest` in, the core's decision out as a
//! `CheckResponse`. Every decision is a successful RPC; the verdict is in `status`.

use prost_types::value::Kind;
use tonic::{Request, Response, Status};

use crate::decision::Decision;
use crate::pb::auth::authorization_server::Authorization;
use crate::pb::auth::{
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
    check_response::HttpResponse,
};
use crate::pb::core::{HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction};
use crate::pb::google::rpc;
use crate::pb::types::HttpStatus;
use crate::request::{self, Headers};
use crate::server::check::{Checker, Origin};

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

#[tonic::async_trait]
impl Authorization for AuthService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let peer = request.remote_addr();
        let attributes = request.into_inner().attributes.unwrap_or_default();
        let http = attributes.request.as_ref().and_then(|r| r.http.as_ref());
        let raw_headers: Vec<(String, String)>;
        let headers: &dyn Headers = match http {
            Some(h) if h.headers.is_empty() && h.header_map.is_some() => {
                raw_headers = header_map(h.header_map.as_ref());
                &raw_headers
            }
            Some(h) => &h.headers,
            None => {
                raw_headers = Vec::new();
                &raw_headers
            }
        };
        let input = request::Request {
            method: http.map_or("", |h| h.method.as_str()),
            target: http.map_or("", |h| h.path.as_str()),
            headers,
            context: Some(&attributes.context_extensions),
        };
        let from = Origin {
            peer,
            client: client_address(&attributes),
        };
        let snap = self.checker.snapshot();
        let decision = self.checker.check(&snap, &input, from).await;
        Ok(Response::new(response(&decision)))
    }
}

/// Envoy's `encode_raw_headers` mode sends `header_map`, one entry per header line, instead of
/// the `headers` map that joins repeated headers.
fn header_map(map: Option<&crate::pb::core::HeaderMap>) -> Vec<(String, String)> {
    map.map(|m| {
        m.headers
            .iter()
            .map(|h| {
                let value = if h.raw_value.is_empty() {
                    h.value.clone()
                } else {
                    // A value that is not UTF-8 is still present, read as the HTTP
                    // authorizer reads it: judged (malformed), not skipped as absent.
                    String::from_utf8(h.raw_value.clone())
                        .unwrap_or_else(|_| request::NOT_UTF8.to_owned())
                };
                (h.key.to_ascii_lowercase(), value)
            })
            .collect()
    })
    .unwrap_or_default()
}

fn client_address(attributes: &AttributeContext) -> Option<&str> {
    use crate::pb::core::address::Address as A;
    let address = attributes
        .source
        .as_ref()?
        .address
        .as_ref()?
        .address
        .as_ref()?;
    match address {
        A::SocketAddress(s) => Some(&s.address),
        _ => None,
    }
}

/// Renders a decision as Envoy expects it.
pub fn response(decision: &Decision) -> CheckResponse {
    let wire = decision.wire();
    let status = Some(rpc::Status {
        code: wire.grpc_code,
        ..Default::default()
    });
    if decision.is_allow() {
        let headers = decision
            .set_headers
            .iter()
            .map(|(k, v)| header(k, v))
            .collect();
        CheckResponse {
            status,
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers,
                headers_to_remove: decision
                    .remove_headers
                    .iter()
                    .map(|h| h.to_string())
                    .collect(),
                query_parameters_to_remove: decision
                    .remove_query
                    .iter()
                    .map(|q| q.to_string())
                    .collect(),
                ..Default::default()
            })),
            dynamic_metadata: metadata(decision),
        }
    } else {
        let headers = decision
            .denial_headers()
            .iter()
            .map(|(k, v)| header(k, v))
            .collect();
        CheckResponse {
            status,
            http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                status: Some(HttpStatus {
                    code: i32::from(wire.http_status),
                }),
                headers,
                body: wire.body.to_owned(),
            })),
            dynamic_metadata: None,
        }
    }
}

/// A header that replaces any value the request or response already has.
fn header(key: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_owned(),
            value: value.to_owned(),
            ..Default::default()
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

/// `authorizer`, `route` and the verified `claims`, for later filters and access logs.
fn metadata(decision: &Decision) -> Option<prost_types::Struct> {
    let claims = decision.claims.as_ref()?.to_struct()?;
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("authorizer".to_owned(), string(&decision.authorizer));
    if let Some(route) = &decision.route {
        fields.insert("route".to_owned(), string(route));
    }
    fields.insert(
        "claims".to_owned(),
        prost_types::Value {
            kind: Some(Kind::StructValue(claims)),
        },
    );
    Some(prost_types::Struct { fields })
}

fn string(s: &str) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    }
}
