//! `CheckRequest`s as Envoy sends them, and `CheckResponse`s flattened for assertions.

use std::collections::HashMap;

use tonic::transport::Channel;

use crate::pb::auth::attribute_context::{HttpRequest, Request as AttrRequest};
use crate::pb::auth::authorization_client::AuthorizationClient;
use crate::pb::auth::{AttributeContext, CheckRequest, CheckResponse};

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
