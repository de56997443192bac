//! Request smuggling: a corpus of requests built to make tokengate judge one request while the
//! upstream serves another — path forms that proxies and servers normalize differently, tricks
//! with the headers that carry the original request, identity sources sent twice, `_` twins of
//! claim headers — each sent through gRPC (Envoy's `headers` map and its raw `header_map`) and
//! the HTTP authorizer's three conventions (nginx's `X-Original-*`, forward auth's
//! `X-Forwarded-*`, Envoy HTTP mode's request line under a `path_prefix`), and held to the
//! SPEC's exact answer: status, body, gRPC code, `WWW-Authenticate`, the headers to remove,
//! and the reason counted in `/metrics`. Legitimate requests that look alike must keep working.

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use common::*;
use serde_json::json;
use tokengate::decision::Reason;
use tokengate::jwt::Alg;
use tokengate::pb::auth::authorization_client::AuthorizationClient;
use tonic::transport::Channel;

const ISSUER: &str = "https://issuer.example/smuggling";
const PREFIX: &str = "/authz";
const CLAIM_HEADERS: [&str; 4] = [
    "x-user-id",
    "x-user-scopes",
    "x-user-groups",
    "x-jwt-payload",
];

/// A way a request reaches tokengate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Conv {
    /// gRPC, headers in Envoy's `headers` map (a repeated header joined with `,`).
    GrpcMap,
    /// gRPC, Envoy's `encode_raw_headers`: one `header_map` entry per line.
    GrpcRaw,
    /// HTTP, `original_request: nginx`: the target in `X-Original-URI`.
    Nginx,
    /// HTTP, `original_request: forwarded`: the target in `X-Forwarded-Uri`.
    Forwarded,
    /// HTTP, `original_request: request_line` under `path_prefix: /authz`.
    RequestLine,
    /// HTTP, `original_request: auto`, headers exactly as the case gives them.
    Auto,
}

const DEFAULT_CONVS: [Conv; 5] = [
    Conv::GrpcMap,
    Conv::GrpcRaw,
    Conv::Nginx,
    Conv::Forwarded,
    Conv::RequestLine,
];

/// What a case must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// This decision, answered as the SPEC says for the convention.
    Is(Reason),
    /// Refused by the HTTP/1 parser before any check (hyper's own 400): nothing is judged.
    Parser,
}

struct Case {
    class: &'static str,
    name: String,
    method: &'static str,
    target: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    want: Reason,
    /// Conventions to run, and per-convention answers where they differ from `want`.
    convs: Vec<Conv>,
    per: Vec<(Conv, Want)>,
    /// Whether the HTTP conventions add the header (or request line) that carries the target.
    carrier: bool,
}

impl Case {
    fn new(class: &'static str, target: impl AsRef<[u8]>, want: Reason) -> Case {
        let target = target.as_ref().to_vec();
        Case {
            class,
            name: String::from_utf8_lossy(&target).escape_debug().to_string(),
            method: "GET",
            target,
            headers: Vec::new(),
            want,
            convs: DEFAULT_CONVS.to_vec(),
            per: Vec::new(),
            carrier: true,
        }
    }

    fn named(mut self, name: &str) -> Case {
        self.name = name.to_owned();
        self
    }

    fn method(mut self, m: &'static str) -> Case {
        self.method = m;
        self
    }

    fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Case {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    fn on(mut self, convs: &[Conv]) -> Case {
        self.convs = convs.to_vec();
        self
    }

    fn but(mut self, conv: Conv, want: Want) -> Case {
        self.per.push((conv, want));
        self
    }

    fn no_carrier(mut self) -> Case {
        self.carrier = false;
        self
    }

    /// The answer for `conv`, or `None` when this convention cannot carry the request.
    fn want(&self, conv: Conv) -> Option<Want> {
        if let Some((_, w)) = self.per.iter().find(|(c, _)| *c == conv) {
            return Some(*w);
        }
        let t = &self.target;
        let reason = self.want;
        match conv {
            // A proto string: valid UTF-8 only (Envoy escapes or sanitizes the rest).
            Conv::GrpcMap | Conv::GrpcRaw => std::str::from_utf8(t).ok().map(|_| Want::Is(reason)),
            Conv::Nginx | Conv::Forwarded | Conv::Auto if self.carrier => {
                if t.iter().any(|b| matches!(b, 0 | b'\r' | b'\n')) {
                    None
                } else if t.iter().any(|b| *b < 0x20 && *b != b'\t' || *b == 0x7f) {
                    Some(Want::Parser)
                } else if !t.iter().all(|b| (0x21..=0x7e).contains(b)) {
                    // SPEC: a header value that is not visible ASCII is a bad request.
                    Some(Want::Is(Reason::BadRequest))
                } else {
                    Some(Want::Is(reason))
                }
            }
            Conv::RequestLine if self.carrier => {
                if t.iter().any(|b| matches!(b, b' ' | b'\r' | b'\n')) {
                    None
                } else if t.iter().any(|b| *b < 0x20 || *b == 0x7f)
                    || std::str::from_utf8(t).is_err()
                {
                    Some(Want::Parser)
                } else {
                    Some(Want::Is(reason))
                }
            }
            _ => Some(Want::Is(reason)),
        }
    }
}

/// The tokengates under test: one per HTTP convention (the first also serves gRPC).
struct Lab {
    nginx: Tokengate,
    forwarded: Tokengate,
    line: Tokengate,
    auto: Tokengate,
    token: String,
    payload: String,
}

fn yaml(mode: &str, jwks: &str) -> String {
    format!(
        r#"
http: {{original_request: {mode}, path_prefix: {PREFIX}}}
cache: {{tokens: 0}}
authorizers:
  main:
    issuer: "{ISSUER}"
    jwks_uri: "{jwks}/.well-known/jwks.json"
    audience: [api]
    identity_source: ["$request.header.Authorization", "$request.querystring.access_token", "$request.cookie.session"]
    claims_to_headers: {{sub: x-user-id, scope: x-user-scopes, groups: x-user-groups}}
    forward_payload_header: x-jwt-payload
routes:
  "GET /health": {{public: true}}
  "GET /static/{{proxy+}}": {{public: true}}
  "GET /users/{{id}}": {{authorizer: main, scopes: [users/read]}}
  "ANY /admin/{{proxy+}}": {{authorizer: main, scopes: [admin]}}
  "$default": {{authorizer: main}}
"#
    )
}

/// The SPEC's decision table, written out here rather than taken from `Reason::wire`:
/// (HTTP status, gRPC code, body, challenge).
fn spec(reason: Reason) -> (u16, i32, &'static str, Option<&'static str>) {
    const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;
    const FORBIDDEN: &str = r#"{"message":"Forbidden"}"#;
    match reason {
        Reason::Verified | Reason::Public => (200, 0, "", None),
        Reason::BadRequest => (400, 3, r#"{"message":"Bad Request"}"#, None),
        Reason::MissingToken => (401, 16, UNAUTHORIZED, Some("Bearer")),
        Reason::Malformed => (
            401,
            16,
            UNAUTHORIZED,
            Some(r#"Bearer error="invalid_token""#),
        ),
        Reason::InsufficientScope => (
            403,
            7,
            FORBIDDEN,
            Some(r#"Bearer error="insufficient_scope", scope="admin""#),
        ),
        Reason::NoRoute => (403, 7, FORBIDDEN, None),
        other => panic!("{other:?} is not a corpus outcome"),
    }
}

/// The answer in a convention: nginx's `auth_request` turns a 400 into a 500, so a bad request
/// that came in nginx's form is a 403 (SPEC, "Request checks").
fn http_spec(reason: Reason, nginx_form: bool) -> (u16, &'static str, Option<&'static str>) {
    if reason == Reason::BadRequest && nginx_form {
        return (403, r#"{"message":"Forbidden"}"#, None);
    }
    let (status, _, body, challenge) = spec(reason);
    (status, body, challenge)
}

fn authorizer_label(reason: Reason) -> &'static str {
    match reason {
        Reason::BadRequest | Reason::Public | Reason::NoRoute => "none",
        _ => "main",
    }
}

/// The headers a decision must have removed upstream: the claim headers it did not set, and
/// each `_` twin the request carried (SPEC, "Decisions").
fn removed(reason: Reason, headers: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut out: Vec<String> = if reason == Reason::Verified {
        Vec::new()
    } else {
        CLAIM_HEADERS.iter().map(|h| (*h).to_owned()).collect()
    };
    for h in CLAIM_HEADERS {
        let twin = h.replace('-', "_");
        if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(&twin)) && !out.contains(&twin) {
            out.push(twin);
        }
    }
    out.sort();
    out
}

type Counts = HashMap<(String, String, String, String), u64>;

/// `tokengate_checks_total` by (transport, authorizer, decision, reason). The registry is the
/// process's, shared by every tokengate in this test; cases run one at a time.
async fn counts(admin: SocketAddr) -> Counts {
    let page = metrics_page(admin).await;
    let mut out = HashMap::new();
    for line in page.lines() {
        let Some(rest) = line.strip_prefix("tokengate_checks_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").unwrap();
        let l: HashMap<&str, &str> = labels
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        let key = (
            l["transport"].to_owned(),
            l["authorizer"].to_owned(),
            l["decision"].to_owned(),
            l["reason"].to_owned(),
        );
        *out.entry(key).or_default() += value.parse::<f64>().unwrap() as u64;
    }
    out
}

fn increments(before: &Counts, after: &Counts) -> BTreeMap<(String, String, String, String), u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

fn expected_count(
    transport: &str,
    reason: Reason,
) -> BTreeMap<(String, String, String, String), u64> {
    let decision = if reason.is_allow() { "allow" } else { "deny" };
    let key = (
        transport.to_owned(),
        authorizer_label(reason).to_owned(),
        decision.to_owned(),
        reason.as_str().to_owned(),
    );
    [(key, 1)].into()
}

/// Envoy's `headers` map: names lower-cased, a repeated header joined with `,`.
fn joined(headers: &[(String, Vec<u8>)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in headers {
        let k = k.to_ascii_lowercase();
        let v = String::from_utf8_lossy(v).into_owned();
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some((_, old)) => {
                old.push(',');
                old.push_str(&v);
            }
            None => out.push((k, v)),
        }
    }
    out
}

async fn over_grpc(
    client: &mut AuthorizationClient<Channel>,
    lab: &Lab,
    case: &Case,
    conv: Conv,
    reason: Reason,
) -> Vec<String> {
    let target = String::from_utf8(case.target.clone()).unwrap();
    let req = match conv {
        Conv::GrpcMap => {
            let pairs = joined(&case.headers);
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            check_request(case.method, &target, &refs)
        }
        _ => {
            let refs: Vec<(&str, &[u8])> = case
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_slice()))
                .collect();
            check_request_raw(case.method, &target, &refs)
        }
    };
    let v = check(client, req).await;
    let (status, code, body, challenge) = spec(reason);
    let mut errors = Vec::new();
    let what = format!("[{}] {} over {conv:?}", case.class, case.name);
    if reason.is_allow() {
        let mut got_removed = v.removed.clone();
        got_removed.sort();
        let want_removed = removed(reason, &case.headers);
        if v.grpc_code != 0 || v.http_status.is_some() || got_removed != want_removed {
            errors.push(format!(
                "{what}: allowed with code {} removing {got_removed:?}, want code 0 removing {want_removed:?} ({v:?})",
                v.grpc_code
            ));
        }
        if reason == Reason::Verified {
            let want_set: HashMap<String, String> = [
                ("x-user-id", "user-1"),
                ("x-user-scopes", "users/read"),
                ("x-user-groups", "staff,ops"),
                ("x-jwt-payload", lab.payload.as_str()),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            if v.set != want_set {
                errors.push(format!("{what}: set {:?}, want {want_set:?}", v.set));
            }
        } else if !v.set.is_empty() {
            errors.push(format!("{what}: a public route set {:?}", v.set));
        }
    } else {
        let got = (
            v.grpc_code,
            v.http_status,
            v.body.as_str(),
            v.denied_headers.get("www-authenticate").map(String::as_str),
            v.denied_headers.get("content-type").map(String::as_str),
        );
        let want = (
            code,
            Some(i32::from(status)),
            body,
            challenge,
            Some("application/json"),
        );
        if got != want || !v.set.is_empty() || !v.removed.is_empty() {
            errors.push(format!("{what}: answered {got:?}, want {want:?}"));
        }
    }
    errors
}

/// The HTTP request a convention sends for a case: (server, request bytes).
fn http_request(lab: &Lab, case: &Case, conv: Conv) -> (SocketAddr, Vec<u8>) {
    let mut headers: Vec<(&str, Vec<u8>)> = Vec::new();
    let (addr, method, line) = match conv {
        Conv::Nginx | Conv::Forwarded | Conv::Auto => {
            let (server, uri, method_header, own) = match conv {
                Conv::Nginx => (
                    &lab.nginx,
                    "X-Original-URI",
                    "X-Original-Method",
                    "/_tokengate",
                ),
                Conv::Forwarded => (&lab.forwarded, "X-Forwarded-Uri", "X-Forwarded-Method", "/"),
                _ => (&lab.auto, "", "", "/_tokengate"),
            };
            if case.carrier && conv != Conv::Auto {
                headers.push((uri, case.target.clone()));
                headers.push((method_header, case.method.as_bytes().to_vec()));
            }
            (server.http, "GET", own.as_bytes().to_vec())
        }
        _ => {
            let line = if case.target.starts_with(b"/") && case.carrier {
                [PREFIX.as_bytes(), &case.target].concat()
            } else {
                case.target.clone()
            };
            (lab.line.http, case.method, line)
        }
    };
    let mut all: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    all.extend(case.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
    (addr, raw_request(method, &line, &all))
}

/// Whether a bad request in this convention came in nginx's form (`X-Original-*`).
fn nginx_form(case: &Case, conv: Conv) -> bool {
    match conv {
        Conv::Nginx => true,
        Conv::Auto => case
            .headers
            .iter()
            .any(|(k, _)| k.to_ascii_lowercase().starts_with("x-original-")),
        _ => false,
    }
}

async fn over_http(lab: &Lab, case: &Case, conv: Conv, want: Want) -> Vec<String> {
    let (addr, request) = http_request(lab, case, conv);
    let r = raw_exchange(addr, &request).await;
    let what = format!("[{}] {} over {conv:?}", case.class, case.name);
    let mut errors = Vec::new();
    let reason = match want {
        Want::Parser => {
            if r.status != 400 || !r.body.is_empty() {
                errors.push(format!(
                    "{what}: {} {:?}, want the parser's bare 400",
                    r.status, r.body
                ));
            }
            return errors;
        }
        Want::Is(reason) => reason,
    };
    let (status, body, challenge) = http_spec(reason, nginx_form(case, conv));
    let challenges = r.header("www-authenticate");
    let mut got_removed: Vec<String> = r
        .header("x-envoy-auth-headers-to-remove")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .collect();
    got_removed.sort();
    let want_removed = removed(reason, &case.headers);
    let want_challenges: Vec<&str> = challenge.into_iter().collect();
    let content_type = r.header("content-type");
    let want_type: Vec<&str> = if reason.is_allow() {
        Vec::new()
    } else {
        vec!["application/json"]
    };
    if r.status != status
        || r.body != body
        || challenges != want_challenges
        || content_type != want_type
        || got_removed != want_removed
    {
        errors.push(format!(
            "{what}: answered {} {:?} {challenges:?} {content_type:?} removing {got_removed:?}, want {status} {body:?} {want_challenges:?} removing {want_removed:?}",
            r.status, r.body
        ));
    }
    let user = r.header("x-user-id");
    let want_user: Vec<&str> = if reason == Reason::Verified {
        vec!["user-1"]
    } else {
        Vec::new()
    };
    if user != want_user {
        errors.push(format!("{what}: x-user-id {user:?}, want {want_user:?}"));
    }
    errors
}

fn paths(c: &mut Vec<Case>) {
    use Reason::*;
    let bad: &[&[u8]] = &[
        b"/static/../admin/x",
        b"/static/%2e%2e/admin/x",
        b"/static/%2E%2E/admin/x",
        b"/static/%2e%2E/admin/x",
        b"/static/.%2e/admin/x",
        b"/static/%2e./admin/x",
        b"/static/%2e%2e/%2e%2e/admin/x",
        b"/static/..;/admin/x",
        b"/static/%2e%2e%2fadmin/x",
        b"/static/%2e%2e%5cadmin/x",
        b"//admin/x",
        b"/static//admin",
        b"/./admin/x",
        b"/admin/./x",
        b"/admin/%2e/x",
        b"/users/7/.",
        b"/users/7/..",
        b"/users/7/%2e",
        b"/users/7/%2E%2e",
        b"/admin;x=1/y",
        b"/admin/x;jsessionid=1",
        b"/admin\\x",
        b"/static\\..\\admin\\x",
        b"/admin%5cx",
        b"/admin%5Cx",
        b"/admin%2fx",
        b"/admin%2Fx",
        b"/admin%00x",
        b"/a%",
        b"/a%2",
        b"/a%zz",
        b"/a%g0",
        b"/a%%30",
        b"/ad\tmin/x",
        b"/admin/\tx",
        b"/a\x7fb",
        b"/a\x01b",
        b"/caf\xc3\xa9",
        b"/\xef\xbd\x81dmin/x",
        b"/static/\xef\xbc\x8e\xef\xbc\x8e/admin/x",
        b"/static/\xe2\x80\xa4\xe2\x80\xa4/admin/x",
        b"/admin\xe2\x88\x95x",
        b"/admin/x\xc2\xa0",
        b"*",
        b"http://h/admin/x",
        b"https://h/admin/x",
        b"admin/x",
        b"",
    ];
    for t in bad {
        c.push(Case::new("paths refused", t, BadRequest));
    }
    // A raw NUL: over gRPC only (it can be neither a header value nor a request-line byte).
    c.push(Case::new("paths refused", b"/a\0b", BadRequest).on(&[Conv::GrpcMap, Conv::GrpcRaw]));
    // Not UTF-8: over HTTP only (a gRPC path is a proto string).
    c.push(Case::new("paths refused", b"/a\xffb", BadRequest).on(&[
        Conv::Nginx,
        Conv::Forwarded,
        Conv::RequestLine,
    ]));
    // `#`: refused in a header; over the request line hyper drops the fragment before
    // tokengate sees it, so `/admin/x#frag` is judged as `/admin/x` (Envoy refuses `#` itself).
    c.push(
        Case::new("paths refused", b"/admin/x#frag", BadRequest)
            .but(Conv::RequestLine, Want::Is(InsufficientScope)),
    );
    c.push(
        Case::new("paths refused", b"/static/x#/../../admin/x", BadRequest)
            .but(Conv::RequestLine, Want::Is(Public)),
    );
    // Empty and non-origin targets over the request line: hyper's own answer.
    for t in [&b""[..], b"admin/x"] {
        if let Some(case) = c.iter_mut().find(|k| k.target == t) {
            case.per.push((Conv::RequestLine, Want::Parser));
        }
    }

    // Decoded, then judged as what the upstream serves.
    let decoded: &[(&[u8], Reason)] = &[
        (b"/%61dmin/x", InsufficientScope),
        (b"/%61%64%6d%69%6e/x", InsufficientScope),
        (b"/%41dmin/x", Verified), // `Admin`: routes are case-sensitive
        (b"/admin/%78", InsufficientScope),
        (b"/admin/x.", InsufficientScope),
        (b"/admin/x..", InsufficientScope),
        (b"/admin./x", Verified), // a segment `admin.` is not `admin`
        (b"/users/7.", Verified),
        (b"/users/%37", Verified),
        (b"/%75sers/%37", Verified),
        (b"/static/%252e%252e/admin/x", Public), // `%25` is kept: no double decoding
        (b"/%2561dmin/x", Verified),
        (b"/static/%c0%ae%c0%ae/admin/x", Public), // overlong UTF-8: kept as sent
        (b"/%c0%ae%c0%ae/admin/x", Verified),
        (b"/admin%c0%afx", Verified),
        (b"/%EF%BD%81dmin/x", Verified), // a full-width `a`, escaped: kept
        (b"/static/%E2%80%A4%E2%80%A4/admin/x", Public),
        (b"/ADMIN/x", Verified),
        (b"/admin", Verified),
        (b"/admin/", Verified),
        (b"/static/.../admin", Public),
        (b"/static/.x/admin", Public),
    ];
    for (t, want) in decoded {
        c.push(Case::new("paths decoded", t, *want));
    }
}

fn methods(c: &mut Vec<Case>) {
    use Reason::*;
    for m in ["get", "Get", "G_T", "GET-X", "G3T"] {
        c.push(
            Case::new("methods", "/users/7", BadRequest)
                .method(m)
                .named(&format!("method {m}")),
        );
    }
    c.push(
        Case::new("methods", "/users/7", Verified)
            .method("PROPFIND")
            .named("method PROPFIND ($default)"),
    );
    c.push(
        Case::new("methods", "/admin/x", InsufficientScope)
            .method("DELETE")
            .named("method DELETE /admin/x"),
    );
}

fn controls(c: &mut Vec<Case>) {
    use Reason::*;
    for (t, want) in [
        (&b"/users/john%40example.com"[..], Verified),
        (b"/users/%7E7", Verified),
        (b"/users/%7e7", Verified),
        (
            b"/users/7?next=../../admin/x;a=b&c=%2F..%2F&d=%00&e=;;&f=%2e%2e",
            Verified,
        ),
        (b"/users/7?q=..%5c..%5cadmin&r=//admin", Verified),
        (b"/health", Public),
        (b"/health?redirect=/admin/x", Public),
        (b"/static/css/app.css", Public),
        (b"/static/a/b/c.js", Public),
        (b"/", Verified),
        (b"/users/7/", Verified),
        (b"/v1.2/items/x-y_z~1", Verified),
    ] {
        c.push(Case::new("controls", t, want));
    }
}

/// `c` with a token in `Authorization`.
fn tokened(mut c: Case, token: &str) -> Case {
    c.headers
        .insert(0, ("Authorization".into(), bearer(token).into_bytes()));
    c
}

fn original_request(c: &mut Vec<Case>) {
    use Conv::*;
    use Reason::*;
    // The issue's exploits.
    c.push(
        Case::new("original request", "/admin/secret", MissingToken)
            .named("client X-Forwarded-Uri: /health behind nginx")
            .header("X-Forwarded-Uri", "/health")
            .header("X-Forwarded-Method", "GET")
            .on(&[GrpcMap, GrpcRaw, Nginx, RequestLine]),
    );
    c.push(
        Case::new("original request", "/admin/secret", MissingToken)
            .named("client X-Original-URI: /health behind forward auth")
            .header("X-Original-URI", "/health")
            .header("X-Original-Method", "GET")
            .on(&[GrpcMap, GrpcRaw, Forwarded, RequestLine]),
    );
    c.push(
        Case::new("original request", "/admin/secret?q=\u{e9}", MissingToken)
            .named("non-ASCII X-Original-URI with a client X-Forwarded-Uri: /health")
            .header("X-Forwarded-Uri", "/health")
            .on(&[GrpcMap, GrpcRaw, Nginx, RequestLine]),
    );
    // Auto: the headers as sent, no carrier.
    let auto = |name: &str, want: Reason| {
        Case::new("original request", "/_tokengate", want)
            .named(name)
            .on(&[Auto])
            .no_carrier()
    };
    c.push(
        auto("auto: both families", BadRequest)
            .header("X-Original-URI", "/admin/secret")
            .header("X-Forwarded-Uri", "/health"),
    );
    c.push(
        auto("auto: both families, methods only", BadRequest)
            .header("X-Original-Method", "GET")
            .header("X-Forwarded-Method", "GET"),
    );
    c.push(
        auto(
            "auto: non-ASCII X-Original-URI beside X-Forwarded-Uri",
            BadRequest,
        )
        .header("X-Original-URI", "/admin/secret?q=\u{e9}")
        .header("X-Forwarded-Uri", "/health"),
    );
    c.push(
        auto("auto: non-ASCII X-Original-URI alone", BadRequest)
            .header("X-Original-URI", "/admin/secret?q=\u{e9}"),
    );
    c.push(
        auto("auto: X-Original-Method without X-Original-URI", BadRequest)
            .header("X-Original-Method", "GET"),
    );
    c.push(
        auto("auto: X-Forwarded-Uri alone is read", Public).header("X-Forwarded-Uri", "/health"),
    );
    c.push(auto(
        "auto: neither family reads the request line",
        MissingToken,
    ));
    // Each header mode: a header it reads is used or refused.
    let nginx = |name: &str, want: Reason| {
        Case::new("original request", "/_tokengate", want)
            .named(name)
            .on(&[Nginx])
            .no_carrier()
    };
    let fwd = |name: &str, want: Reason| {
        Case::new("original request", "/", want)
            .named(name)
            .on(&[Forwarded])
            .no_carrier()
    };
    c.push(nginx("nginx: no X-Original-URI", BadRequest));
    c.push(
        nginx(
            "nginx: no X-Original-URI, client X-Forwarded-Uri",
            BadRequest,
        )
        .header("X-Forwarded-Uri", "/health"),
    );
    c.push(nginx("nginx: empty X-Original-URI", BadRequest).header("X-Original-URI", ""));
    c.push(
        nginx("nginx: X-Original-URI twice", BadRequest)
            .header("X-Original-URI", "/health")
            .header("X-Original-URI", "/admin/secret"),
    );
    c.push(
        nginx("nginx: X-Original-Method twice", BadRequest)
            .header("X-Original-URI", "/health")
            .header("X-Original-Method", "GET")
            .header("X-Original-Method", "POST"),
    );
    c.push(
        nginx("nginx: empty X-Original-Method", BadRequest)
            .header("X-Original-URI", "/health")
            .header("X-Original-Method", ""),
    );
    c.push(
        nginx("nginx: lower-case X-Original-Method", BadRequest)
            .header("X-Original-URI", "/health")
            .header("X-Original-Method", "get"),
    );
    c.push(
        nginx("nginx: absolute-form X-Original-URI", BadRequest)
            .header("X-Original-URI", "http://h/health"),
    );
    c.push(
        nginx("nginx: tab inside X-Original-URI", BadRequest).header("X-Original-URI", "/hea\tlth"),
    );
    c.push(
        nginx(
            "nginx: X-Original-Method POST on a GET-only public route",
            MissingToken,
        )
        .header("X-Original-URI", "/health")
        .header("X-Original-Method", "POST"),
    );
    c.push(
        nginx(
            "nginx: X-Original-URI without a method takes the request's",
            Public,
        )
        .header("X-Original-URI", "/health"),
    );
    c.push(fwd("forwarded: no X-Forwarded-Uri", BadRequest));
    c.push(
        fwd(
            "forwarded: no X-Forwarded-Uri, client X-Original-URI",
            BadRequest,
        )
        .header("X-Original-URI", "/health"),
    );
    c.push(fwd("forwarded: empty X-Forwarded-Uri", BadRequest).header("X-Forwarded-Uri", ""));
    c.push(
        fwd("forwarded: X-Forwarded-Uri twice", BadRequest)
            .header("X-Forwarded-Uri", "/health")
            .header("X-Forwarded-Uri", "/admin/secret"),
    );
    c.push(
        fwd("forwarded: non-ASCII X-Forwarded-Uri", BadRequest)
            .header("X-Forwarded-Uri", "/health?q=\u{e9}"),
    );
    c.push(
        fwd("forwarded: X-Forwarded-Method POST", MissingToken)
            .header("X-Forwarded-Uri", "/health")
            .header("X-Forwarded-Method", "POST"),
    );
    // The request line: both families ignored, path_prefix stripped on a segment boundary.
    let line = |name: &str, target: &str, want: Reason| {
        Case::new("original request", target, want)
            .named(name)
            .on(&[RequestLine])
            .no_carrier()
    };
    c.push(
        line(
            "request_line: client X-Original-URI ignored",
            "/authz/admin/secret",
            MissingToken,
        )
        .header("X-Original-URI", "/health"),
    );
    c.push(
        line(
            "request_line: client X-Forwarded-Uri ignored",
            "/authz/admin/secret",
            MissingToken,
        )
        .header("X-Forwarded-Uri", "/health"),
    );
    c.push(line(
        "request_line: without the prefix, read as it is",
        "/admin/secret",
        MissingToken,
    ));
    c.push(line(
        "request_line: a longer first segment keeps the prefix",
        "/authzhealth",
        MissingToken,
    ));
    c.push(line("request_line: /authz/health", "/authz/health", Public));
    c.push(line(
        "request_line: the prefix alone is /",
        "/authz",
        MissingToken,
    ));
    c.push(line(
        "request_line: absolute-form",
        "http://h/authz/health",
        BadRequest,
    ));
    // gRPC never reads either family.
    c.push(
        Case::new("original request", "/admin/secret", MissingToken)
            .named("gRPC ignores X-Original-URI and X-Forwarded-Uri")
            .header("X-Original-URI", "/health")
            .header("X-Forwarded-Uri", "/health")
            .on(&[GrpcMap, GrpcRaw]),
    );
}

fn duplicates(c: &mut Vec<Case>, token: &str) {
    use Reason::*;
    let t = token;
    let auth = bearer(t);
    c.push(
        Case::new("duplicate sources", "/users/7", Malformed)
            .named("Authorization twice")
            .header("Authorization", &auth)
            .header("Authorization", &auth),
    );
    c.push(
        Case::new("duplicate sources", "/users/7", Malformed)
            .named("Authorization twice, one empty")
            .header("Authorization", &auth)
            .header("Authorization", ""),
    );
    c.push(
        Case::new("duplicate sources", "/users/7", Malformed)
            .named("Authorization twice, other scheme")
            .header("Authorization", "Basic dTpw")
            .header("Authorization", &auth),
    );
    c.push(
        Case::new(
            "duplicate sources",
            format!("/users/7?access_token={t}&access_token={t}"),
            Malformed,
        )
        .named("query parameter twice"),
    );
    c.push(
        Case::new(
            "duplicate sources",
            format!("/users/7?access_token=&access_token={t}"),
            Malformed,
        )
        .named("query parameter twice, one empty"),
    );
    c.push(
        Case::new(
            "duplicate sources",
            format!("/users/7?x=1&access_token={t}&y=2&access_token=x"),
            Malformed,
        )
        .named("query parameter twice, apart"),
    );
    c.push(
        Case::new("duplicate sources", "/users/7", Malformed)
            .named("cookie twice in one header")
            .header("Cookie", format!("session={t}; session={t}")),
    );
    c.push(
        Case::new("duplicate sources", "/users/7", Malformed)
            .named("cookie twice across headers")
            .header("Cookie", format!("session={t}"))
            .header("Cookie", format!("a=1; session={t}")),
    );
    c.push(
        Case::new("duplicate sources", "/users/7", Malformed)
            .named("cookie crumbs, twice")
            .header("Cookie", "a=1")
            .header("Cookie", format!("session={t}"))
            .header("Cookie", "session=x"),
    );
    // Controls: one of each, crumbs read as one list.
    c.push(
        Case::new(
            "duplicate sources",
            format!("/users/7?access_token={t}"),
            Verified,
        )
        .named("query parameter once"),
    );
    c.push(
        Case::new("duplicate sources", "/users/7", Verified)
            .named("cookie crumbs, once")
            .header("Cookie", "a=1")
            .header("Cookie", format!("session={t}"))
            .header("Cookie", "b=2"),
    );
    c.push(
        Case::new("duplicate sources", "/users/7", Verified)
            .named("cookie once beside look-alike names")
            .header("Cookie", format!("sessionx=1; xsession=2; session={t}")),
    );
}

fn twins(c: &mut Vec<Case>, token: &str) {
    use Reason::*;
    let auth = bearer(token);
    c.push(
        Case::new("underscore twins", "/users/7", Verified)
            .named("allow: x_user_id, X_User_Scopes, x_jwt_payload forged")
            .header("Authorization", &auth)
            .header("x_user_id", "admin")
            .header("X_User_Scopes", "admin")
            .header("x_jwt_payload", "e30"),
    );
    c.push(
        Case::new("underscore twins", "/users/7", Verified)
            .named("allow: dash spellings forged, replaced")
            .header("Authorization", &auth)
            .header("x-user-id", "admin")
            .header("x-user-groups", "admins"),
    );
    c.push(
        Case::new("underscore twins", "/users/7", MissingToken)
            .named("deny: x_user_groups forged")
            .header("x_user_groups", "admins"),
    );
    c.push(
        Case::new("underscore twins", "/admin/x", InsufficientScope)
            .named("deny (scope): x_user_id forged")
            .header("Authorization", &auth)
            .header("x_user_id", "admin"),
    );
    c.push(
        Case::new("underscore twins", "/health", Public)
            .named("public: x_user_id and x-user-groups forged")
            .header("x_user_id", "admin")
            .header("x-user-groups", "admins"),
    );
    c.push(
        Case::new("underscore twins", "/users/7", Verified)
            .named("control: x_other is not a twin")
            .header("Authorization", &auth)
            .header("x_other", "1"),
    );
}

#[tokio::test]
async fn the_smuggling_corpus_gets_the_spec_answer_on_every_transport() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let mut claims = claims(ISSUER, "api");
    claims["scope"] = json!("users/read");
    claims["groups"] = json!(["staff", "ops"]);
    let token = k.sign(&claims);
    let payload = token.split('.').nth(1).unwrap().to_owned();
    let lab = Lab {
        nginx: Tokengate::start(&yaml("nginx", &jwks.url))
            .await
            .ready()
            .await,
        forwarded: Tokengate::start(&yaml("forwarded", &jwks.url))
            .await
            .ready()
            .await,
        line: Tokengate::start(&yaml("request_line", &jwks.url))
            .await
            .ready()
            .await,
        auto: Tokengate::start(&yaml("auto", &jwks.url))
            .await
            .ready()
            .await,
        token,
        payload,
    };

    let mut corpus = Vec::new();
    let mut plain = Vec::new();
    paths(&mut plain);
    methods(&mut plain);
    controls(&mut plain);
    // Path, method and control cases carry the (read-only) token.
    corpus.extend(plain.into_iter().map(|c| tokened(c, &lab.token)));
    original_request(&mut corpus);
    duplicates(&mut corpus, &lab.token);
    twins(&mut corpus, &lab.token);

    let mut client = lab.nginx.client().await;
    let admin = lab.nginx.admin;
    let mut errors = Vec::new();
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut sent: BTreeMap<Conv, usize> = BTreeMap::new();
    let mut parser = 0;
    let mut before = counts(admin).await;
    for case in &corpus {
        *sizes.entry(case.class).or_default() += 1;
        for &conv in &case.convs {
            let Some(want) = case.want(conv) else {
                continue;
            };
            *sent.entry(conv).or_default() += 1;
            let (transport, reason) = match (conv, want) {
                (Conv::GrpcMap | Conv::GrpcRaw, Want::Is(reason)) => {
                    errors.extend(over_grpc(&mut client, &lab, case, conv, reason).await);
                    ("grpc", Some(reason))
                }
                (Conv::GrpcMap | Conv::GrpcRaw, Want::Parser) => {
                    unreachable!("gRPC has no parser refusal")
                }
                (_, want) => {
                    errors.extend(over_http(&lab, case, conv, want).await);
                    match want {
                        Want::Is(reason) => ("http", Some(reason)),
                        Want::Parser => {
                            parser += 1;
                            ("http", None)
                        }
                    }
                }
            };
            let after = counts(admin).await;
            let got = increments(&before, &after);
            let want_count = reason
                .map(|r| expected_count(transport, r))
                .unwrap_or_default();
            if got != want_count {
                errors.push(format!(
                    "[{}] {} over {conv:?}: counted {got:?}, want {want_count:?}",
                    case.class, case.name
                ));
            }
            before = after;
        }
    }
    assert!(
        errors.is_empty(),
        "{} answers went wrong:\n{}",
        errors.len(),
        errors.join("\n")
    );
    let total: usize = sent.values().sum();
    eprintln!(
        "smuggling corpus: {} cases, {total} requests ({parser} refused by the HTTP/1 parser before any check)\n  by class: {}\n  by transport: {}",
        corpus.len(),
        sizes
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        sent.iter()
            .map(|(k, n)| format!("{k:?} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for tg in [lab.nginx, lab.forwarded, lab.line, lab.auto] {
        tg.shutdown().await;
    }
}
