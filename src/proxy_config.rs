//! `tokengate proxy-config`: the proxy configuration a tokengate config needs, so the proxy and
//! tokengate never disagree about which request was judged or which headers the upstream may
//! trust.
//!
//! A [`Plan`] gathers what every target needs from the config — the headers tokengate sets
//! upstream, where tokens are read, the request headers the proxy must pass to tokengate and
//! the denial headers it must pass back to the client — and each target module renders it.
//! With `cors` (SPEC "Browsers (CORS)") both lists grow: tokengate must see `Origin` and the
//! `Access-Control-Request-*` headers to know a preflight, and the browser must see the CORS
//! headers and `Vary` of a denial to hand it to the script.
//!
//! A target that cannot work with the config is refused ([`refusals`]): the proxy would hand
//! tokengate another request than the one the upstream serves, or drop what it needs. A
//! setting a target cannot honour but that does not open a hole is a [`Warning`].

mod envoy;
mod nginx;
mod plan;
mod traefik;

pub use plan::Plan;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::config::{Config, OriginalRequest, Paths};
use crate::jwt::IdentitySource;

/// Request headers tokengate reads to know a CORS preflight (and whose denial it answers).
const CORS_REQUEST: [&str; 3] = [
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
];

/// Headers of a denial a browser needs to hand it to the script (`cors` configured).
const CORS_DENIAL: [&str; 4] = [
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "vary",
];

/// A proxy `proxy-config` writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// nginx `auth_request` in front of the app.
    Nginx,
    /// Envoy's ext_authz filter over gRPC.
    EnvoyGrpc,
    /// Envoy's ext_authz filter in HTTP mode.
    EnvoyHttp,
    /// Traefik v3 forwardAuth (file provider).
    Traefik,
}

impl Target {
    /// Every target, in the order `proxy-config` lists them.
    pub const ALL: [Target; 4] = [
        Target::EnvoyGrpc,
        Target::EnvoyHttp,
        Target::Nginx,
        Target::Traefik,
    ];

    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Nginx => "nginx",
            Target::EnvoyGrpc => "envoy-grpc",
            Target::EnvoyHttp => "envoy-http",
            Target::Traefik => "traefik",
        }
    }

    /// The `http.original_request` mode made for this proxy (`None`: gRPC, no HTTP authorizer).
    pub fn mode(self) -> Option<OriginalRequest> {
        match self {
            Target::Nginx => Some(OriginalRequest::Nginx),
            Target::EnvoyHttp => Some(OriginalRequest::RequestLine),
            Target::Traefik => Some(OriginalRequest::Forwarded),
            Target::EnvoyGrpc => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a target cannot work with a config.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The HTTP authorizer would read another request than the one the proxy forwards.
    #[error(
        "http.original_request is `{}`, but {target} {why}; use `{}` (or `auto`)",
        mode.as_str(),
        target.mode().map_or("auto", OriginalRequest::as_str)
    )]
    Mode {
        /// The proxy.
        target: Target,
        /// The configured mode.
        mode: OriginalRequest,
        /// What the proxy sends instead.
        why: &'static str,
    },
    /// A token header whose name has `_`, which the proxy drops or refuses.
    #[error(
        "authorizers.{authorizer}.identity_source names header `{header}`: {target} {}; \
         use a name without `_`",
        match target {
            Target::Nginx => "drops headers named with `_` (underscores_in_headers off, which keeps claim-header twins out)",
            _ => "refuses requests with headers named with `_` (headers_with_underscores_action REJECT_REQUEST, which keeps claim-header twins out)",
        }
    )]
    UnderscoreSource {
        /// The proxy.
        target: Target,
        /// The authorizer naming the header.
        authorizer: String,
        /// The header's name.
        header: String,
    },
    /// A header nginx cannot read from tokengate's answer: its variables hold only letters,
    /// digits and `_`.
    #[error(
        "header `{header}` cannot be read by nginx's auth_request_set ($upstream_http_* names \
         hold only letters, digits, `-` and `_`); rename it"
    )]
    NginxName {
        /// The header's name.
        header: String,
    },
}

/// A setting a target cannot honour, short of a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where in the config, e.g. `authorizers.cognito.strip_token`.
    pub path: String,
    /// The targets it applies to.
    pub targets: Vec<Target>,
    /// What happens instead, and what to do.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let targets: Vec<&str> = self.targets.iter().map(|t| t.as_str()).collect();
        write!(
            f,
            "{} [{}]: {}",
            self.path,
            targets.join(", "),
            self.message
        )
    }
}

/// The proxy configuration for `target`, or every reason it cannot work with `config`.
pub fn render(config: &Config, target: Target) -> Result<String, Vec<Refusal>> {
    let refused = refusals(config, target);
    if !refused.is_empty() {
        return Err(refused);
    }
    let plan = Plan::new(config, target);
    Ok(match target {
        Target::Nginx => nginx::render(&plan),
        Target::EnvoyGrpc | Target::EnvoyHttp => envoy::render(&plan),
        Target::Traefik => traefik::render(&plan),
    })
}

/// Why `target` cannot work with `config`; empty when it can.
pub fn refusals(config: &Config, target: Target) -> Vec<Refusal> {
    use OriginalRequest::*;
    let mut out = Vec::new();
    let why = match (target, config.http.original_request) {
        (Target::Nginx, Forwarded) => Some(
            "sends the original request in X-Original-URI/-Method, and passes a client's \
             X-Forwarded-Uri to auth_request untouched",
        ),
        (Target::Nginx, RequestLine) => Some(
            "calls the authorizer at its own auth location: every request would be judged as \
             that one path",
        ),
        (Target::EnvoyHttp, Nginx | Forwarded) => Some(
            "sends the original request as the authorizer's request line (less path_prefix) \
             and no X-Original-*/X-Forwarded-* header",
        ),
        (Target::Traefik, Nginx) => Some(
            "sends the original request in X-Forwarded-Uri/-Method, and X-Original-URI only \
             when a client sends it",
        ),
        (Target::Traefik, RequestLine) => Some(
            "calls the authorizer at its configured address: every request would be judged as \
             that one path",
        ),
        _ => None,
    };
    if let Some(why) = why {
        out.push(Refusal::Mode {
            target,
            mode: config.http.original_request,
            why,
        });
    }
    if matches!(
        target,
        Target::Nginx | Target::EnvoyGrpc | Target::EnvoyHttp
    ) {
        for a in &config.authorizers {
            for src in &a.identity_source {
                if let IdentitySource::Header(h) = src
                    && h.contains('_')
                {
                    out.push(Refusal::UnderscoreSource {
                        target,
                        authorizer: a.name.clone(),
                        header: h.clone(),
                    });
                }
            }
        }
    }
    if target == Target::Nginx {
        let plan = Plan::new(config, target);
        for h in plan.upstream.iter().chain(&plan.stripped) {
            if !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                out.push(Refusal::NginxName {
                    header: (*h).to_owned(),
                });
            }
        }
    }
    out
}

/// What no target, or only some, can honour in `config`.
pub fn warnings(config: &Config) -> Vec<Warning> {
    use Target::*;
    let mut out = Vec::new();
    for a in &config.authorizers {
        let path = |key: &str| format!("authorizers.{}.{key}", a.name);
        let has = |f: fn(&IdentitySource) -> bool| a.identity_source.iter().any(f);
        let query = has(|s| matches!(s, IdentitySource::Query(_)));
        let cookie = has(|s| matches!(s, IdentitySource::Cookie(_)));
        let header = has(|s| matches!(s, IdentitySource::Header(_)));
        if a.strip_token && cookie {
            out.push(Warning {
                path: path("strip_token"),
                targets: Target::ALL.to_vec(),
                message: "a token read from a cookie stays in the Cookie header: no proxy \
                          removes one cookie"
                    .into(),
            });
        }
        if a.strip_token && query {
            out.push(Warning {
                path: path("strip_token"),
                targets: vec![EnvoyHttp, Nginx, Traefik],
                message: "a token read from the query string reaches the upstream: only \
                          envoy-grpc removes a query parameter"
                    .into(),
            });
        }
        if a.strip_token && header {
            out.push(Warning {
                path: path("strip_token"),
                targets: vec![Traefik],
                message: "Traefik removes the token header from every request it forwards, \
                          public routes included (it cannot remove it only when it held the \
                          token)"
                    .into(),
            });
        }
        if query {
            out.push(Warning {
                path: path("identity_source"),
                targets: Target::ALL.to_vec(),
                message: "a query-string token is part of the URL: access logs record it \
                          (nginx's $request_uri, Envoy's and Traefik's request path), and \
                          nginx, Traefik and envoy-http pass it to the upstream"
                    .into(),
            });
        }
    }
    if config.paths == Paths::Raw {
        out.push(Warning {
            path: "paths".into(),
            targets: Target::ALL.to_vec(),
            message: "`raw` matches the path as sent: an upstream that normalizes it \
                      (dot segments, escapes, //) can serve a path no route judged; nginx and \
                      Traefik pass the path as sent"
                .into(),
        });
    }
    out
}

/// Where a proxy reaches a listener: an unspecified address (`0.0.0.0`, `::`) is reached on
/// loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// A YAML scalar: plain when that reads back as the same string, else a JSON string (which
/// YAML reads as a double-quoted scalar).
fn yaml_str(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if plain {
        s.to_owned()
    } else {
        serde_json::Value::from(s).to_string()
    }
}

/// `text` cut into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests;
