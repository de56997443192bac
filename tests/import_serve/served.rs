//! An imported config made servable on loopback, and requests sent to it as API Gateway's
//! clients send them.
//!
//! The imported authorizers fetch keys from AWS. The only change made to serve them here is a
//! `jwks_uri` on each authorizer, pointing at a JWKS server the test runs; the parsed config is
//! compared with the imported one to prove that nothing else changed (issuer, pool, audience,
//! token use, identity source, routes, scopes).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokengate::config::{Config, Jwks};
use tokengate::jwt::Signer;
use tokengate::testkit::{self as common, Tokengate};

use super::table::{Case, Expect, Iss, Token, bin};

/// `tokengate check-config` on `text`: its stdout, or its stderr when it refuses.
pub fn check_config(text: &str, name: &str) -> Result<String, String> {
    // Tests run in parallel and check the same fixture's config: one file per call.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let file = std::env::temp_dir().join(format!(
        "tokengate-import-serve-{}-{n}.yaml",
        std::process::id()
    ));
    std::fs::write(&file, text).expect("write config");
    let out = Command::new(bin())
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .expect("run tokengate check-config");
    std::fs::remove_file(&file).ok();
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Some(1) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        other => panic!("check-config {name}: exit {other:?}"),
    }
}

/// `text` with `jwks_uri: URL` added to every authorizer, and proof that this is the only
/// change: the parsed configs differ in each authorizer's key source and nothing else.
pub fn with_keys_from(text: &str, url: &str) -> String {
    let mut out = String::new();
    let mut in_authorizers = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if !line.starts_with(' ') && !line.starts_with('#') {
            in_authorizers = line == "authorizers:";
        } else if in_authorizers
            && line.starts_with("  ")
            && !line.starts_with("   ")
            && !line.trim_start().starts_with('#')
            && line.ends_with(':')
        {
            out.push_str(&format!("    jwks_uri: \"{url}\"\n"));
        }
    }
    let before = Config::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let after = Config::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let mut expected = before.clone();
    for a in &mut expected.authorizers {
        // Served as imported, the keys come from AWS: the pool's JWKS, or the issuer's discovery.
        let aws = match &a.pool {
            Some(pool) => Jwks::Url(pool.jwks_url()),
            None => Jwks::Discover,
        };
        assert_eq!(a.jwks, aws, "authorizer {}: imported key source", a.name);
        a.jwks = Jwks::Url(url.to_owned());
    }
    assert_eq!(
        after, expected,
        "adding jwks_uri changed more than the key source"
    );
    out
}

/// The issuer a token of `iss` carries: a pool's is Cognito's original issuer form.
pub fn issuer(iss: Iss) -> String {
    match iss {
        Iss::Pool(id) => {
            let region = id.split_once('_').map_or(id, |(r, _)| r);
            format!("https://cognito-idp.{region}.amazonaws.com/{id}")
        }
        Iss::Url(url) => url.to_owned(),
    }
}

/// A token of the shape Cognito issues, valid for an hour.
pub fn token(key: &Signer, t: Token) -> Option<String> {
    let now = common::now();
    let mut claims =
        json!({"sub": "user-1", "exp": now + 3600.0, "iat": now - 10.0, "auth_time": now - 10.0});
    let add = |claims: &mut Value, more: Value| {
        if let (Some(c), Some(m)) = (claims.as_object_mut(), more.as_object()) {
            c.extend(m.clone());
        }
    };
    match t {
        Token::None => return None,
        Token::Access {
            iss,
            client,
            scopes,
        } => add(
            &mut claims,
            json!({"iss": issuer(iss), "client_id": client, "token_use": "access", "scope": scopes.join(" ")}),
        ),
        Token::Id { iss, client } => add(
            &mut claims,
            json!({"iss": issuer(iss), "aud": client, "token_use": "id", "cognito:username": "user-1"}),
        ),
    }
    Some(key.sign(&claims))
}

/// How a request reaches tokengate.
#[derive(Clone, Copy, Debug)]
pub enum Via {
    /// Envoy's ext_authz `Check`.
    Grpc,
    /// nginx `auth_request`: `X-Original-Method` and `X-Original-URI`.
    Nginx,
    /// Envoy's HTTP mode: the request line itself.
    RequestLine,
}

pub const VIAS: [Via; 3] = [Via::Grpc, Via::Nginx, Via::RequestLine];

/// A request as the table gives it: method, path, and the header its token goes in.
#[derive(Clone, Copy, Debug)]
pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub header: &'a str,
}

impl<'a> From<&'a Case> for Req<'a> {
    fn from(c: &'a Case) -> Req<'a> {
        Req {
            method: c.method,
            path: c.path,
            header: c.header,
        }
    }
}

/// tokengate's decision on `req`, carrying `token` (the raw JWT: both API Gateway
/// authorizers take it without a `Bearer ` prefix).
pub async fn decide(tg: &Tokengate, via: Via, req: Req<'_>, token: Option<&str>) -> Expect {
    let headers: Vec<(&str, &str)> = token.map(|t| (req.header, t)).into_iter().collect();
    let status = match via {
        Via::Grpc => {
            let check = common::check_request(req.method, req.path, &headers);
            let v = common::check(&mut tg.client().await, check).await;
            return match v.grpc_code {
                0 => Expect::Allow,
                16 => Expect::Unauthorized,
                7 => Expect::Forbidden,
                other => panic!("{req:?}: gRPC code {other}"),
            };
        }
        Via::Nginx => {
            let mut http = reqwest::Client::new()
                .get(format!("http://{}/_tokengate", tg.http))
                .header("x-original-method", req.method)
                .header("x-original-uri", req.path);
            for (k, v) in &headers {
                http = http.header(*k, *v);
            }
            http.send().await.expect("HTTP authorizer").status()
        }
        Via::RequestLine => {
            let method = reqwest::Method::from_bytes(req.method.as_bytes()).expect("method");
            let mut http =
                reqwest::Client::new().request(method, format!("http://{}{}", tg.http, req.path));
            for (k, v) in &headers {
                http = http.header(*k, *v);
            }
            http.send().await.expect("HTTP authorizer").status()
        }
    };
    match status.as_u16() {
        200 => Expect::Allow,
        401 => Expect::Unauthorized,
        403 => Expect::Forbidden,
        other => panic!("{req:?} via {via:?}: HTTP {other}"),
    }
}
