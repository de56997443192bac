//! `CheckRequest`s as Envoy sends them, and `CheckResponse`s flattened for assertions.

use std::collections::HashMap;

use tonic::transport::Channel;

use prost_types::value::Kind;

use crate::decision::Decision;
use crate::pb::auth::attribute_context::{HttpRequest, Request as AttrRequest};
use crate::pb::auth::authorization_client::AuthorizationClient;
use crate::pb::auth::{
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
    check_response::HttpResponse,
};
use crate::pb::core::{HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction};
use crate::pb::google::rpc;
use crate::pb::types::HttpStatus;

/// A `CheckRequest` as Envoy sends it.
pub fn check_request(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    check_request_with(method, path, headers, &[])
}

/// [`check_request`] with Envoy's per-route `context_extensions`.
pub fn check_request_with(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    context: &[(&str, &str)],
) -> CheckRequest {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
        .collect();
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(AttrRequest {
                http: Some(HttpRequest {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            context_extensions: context
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }),
    }
}

/// A `CheckRequest` as Envoy sends it with `encode_raw_headers`: one `header_map` entry per
/// header line, values as bytes, and an empty `headers` map.
pub fn check_request_raw(method: &str, path: &str, headers: &[(&str, &[u8])]) -> CheckRequest {
    use crate::pb::core::{HeaderMap, HeaderValue};
    let mut req = check_request(method, path, &[]);
    if let Some(http) = req
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
    {
        http.header_map = Some(HeaderMap {
            headers: headers
                .iter()
                .map(|(k, v)| HeaderValue {
                    key: k.to_ascii_lowercase(),
                    raw_value: v.to_vec(),
                    ..Default::default()
                })
                .collect(),
        });
    }
    req
}

/// What a `CheckResponse` says, flattened for assertions.
#[derive(Debug)]
pub struct Verdict {
    /// `CheckResponse.status.code` (-1 when absent).
    pub grpc_code: i32,
    /// The denial's HTTP status.
    pub http_status: Option<i32>,
    /// The denial's body.
    pub body: String,
    /// Headers on the denial (`www-authenticate`, `content-type`).
    pub denied_headers: HashMap<String, String>,
    /// Headers set on the upstream request (allow).
    pub set: HashMap<String, String>,
    /// `append_action` of each set header.
    pub actions: HashMap<String, i32>,
    /// Headers removed from the upstream request (allow).
    pub removed: Vec<String>,
    /// `dynamic_metadata` (the verified claims).
    pub metadata: Option<prost_types::Struct>,
}

/// Flattens a `CheckResponse`.
pub fn verdict(resp: CheckResponse) -> Verdict {
    use crate::pb::auth::check_response::HttpResponse;
    let grpc_code = resp.status.as_ref().map_or(-1, |s| s.code);
    let mut v = Verdict {
        grpc_code,
        http_status: None,
        body: String::new(),
        denied_headers: HashMap::new(),
        set: HashMap::new(),
        actions: HashMap::new(),
        removed: Vec::new(),
        metadata: resp.dynamic_metadata,
    };
    match resp.http_response {
        Some(HttpResponse::DeniedResponse(d)) => {
            v.http_status = d.status.map(|s| s.code);
            v.body = d.body;
            for h in d.headers {
                let hv = h.header.unwrap();
                v.denied_headers.insert(hv.key, hv.value);
            }
        }
        Some(HttpResponse::OkResponse(ok)) => {
            for h in ok.headers {
                let hv = h.header.unwrap();
                v.actions.insert(hv.key.clone(), h.append_action);
                v.set.insert(hv.key, hv.value);
            }
            v.removed = ok.headers_to_remove;
        }
        None => {}
    }
    v
}

/// Sends one check and flattens the answer; the RPC itself must succeed.
pub async fn check(client: &mut AuthorizationClient<Channel>, req: CheckRequest) -> Verdict {
    verdict(
        client
            .check(req)
            .await
            .expect("Check RPC succeeds")
            .into_inner(),
    )
}

/// A decision as a prost-built `CheckResponse`: the reference the byte-level writer
/// ([`crate::wire::response`]) is held to.
pub fn prost_response(decision: &Decision) -> CheckResponse {
    let wire = decision.wire();
    let status = Some(rpc::Status {
        code: wire.grpc_code,
        ..Default::default()
    });
    if decision.is_allow() {
        let headers = decision.set_headers().map(|(k, v)| header(k, v)).collect();
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

/// `authorizer`, the judged `path`, `route` and the verified `claims`, for later filters and access logs.
fn metadata(decision: &Decision) -> Option<prost_types::Struct> {
    let claims: prost_types::Struct = prost::Message::decode(decision.claims()?).ok()?;
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("authorizer".to_owned(), string(&decision.authorizer));
    fields.insert("path".to_owned(), string(&decision.path));
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
