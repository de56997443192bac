//! Reading a parsed YAML file into a checked [`Config`]: every key's type, range and meaning,
//! each problem recorded with its path and line and the reading carried on.

mod authorizer;
mod routes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use marked_yaml::{LoadError, Node};

use super::yaml::{Reader, child};
use super::{Cache, Config, Cors, Http, Listen, OriginalRequest, Paths, Problem, Revocation};
use crate::limits::{Invalid, Limits};
use crate::revocation::{List, ListError};
pub use authorizer::parse_pool;

pub(super) fn load_problem(e: &LoadError) -> Problem {
    let (marker, message) = match e {
        LoadError::TopLevelMustBeMapping(m) => (Some(*m), "the file must be a YAML mapping".into()),
        LoadError::TopLevelMustBeSequence(m) => (Some(*m), "unexpected sequence".into()),
        LoadError::UnexpectedAnchor(m) => {
            (Some(*m), "anchors and aliases are not supported".into())
        }
        LoadError::MappingKeyMustBeScalar(m) => (Some(*m), "mapping keys must be strings".into()),
        LoadError::UnexpectedTag(m) => (Some(*m), "YAML tags are not supported".into()),
        LoadError::ScanError(m, err) => (Some(*m), format!("not valid YAML: {err}")),
        LoadError::DuplicateKey(d) => (
            d.key.span().start().copied(),
            format!(
                "duplicate key `{}` (first at line {})",
                d.key.as_str(),
                d.prev_key.span().start().map_or(0, |m| m.line())
            ),
        ),
    };
    let path = match e {
        LoadError::DuplicateKey(d) => d.key.as_str().to_owned(),
        _ => "(file)".to_owned(),
    };
    Problem {
        path,
        line: marker.map(|m| m.line()),
        message,
    }
}

/// Reads a parsed file into a config and every problem found on the way.
pub(super) fn config(root: &Node) -> (Config, Vec<Problem>) {
    let mut r = Reader::default();
    let config = read_config(&mut r, root);
    (config, r.problems)
}

fn read_config(r: &mut Reader, root: &Node) -> Config {
    let top = r.mapping(
        root,
        "",
        &[
            "listen",
            "http",
            "paths",
            "cache",
            "authorizers",
            "routes",
            "revocation",
            "limits",
            "cors",
        ],
    );

    let mut listen = Listen::default();
    if let Some(node) = Reader::get(top, "listen") {
        let m = r.mapping(node, "listen", &["grpc", "http", "admin"]);
        for (key, slot) in [
            ("grpc", &mut listen.grpc),
            ("http", &mut listen.http),
            ("admin", &mut listen.admin),
        ] {
            if let Some(n) = Reader::get(m, key)
                && let Some(a) = r.addr(n, &child("listen", key))
            {
                *slot = a;
            }
        }
    }

    let mut http = Http::default();
    if let Some(node) = Reader::get(top, "http") {
        let m = r.mapping(node, "http", &["path_prefix", "original_request"]);
        if let Some(n) = Reader::get(m, "original_request")
            && let Some(v) = r.string(n, "http.original_request")
        {
            http.original_request = match v.as_str() {
                "auto" => OriginalRequest::Auto,
                "nginx" => OriginalRequest::Nginx,
                "forwarded" => OriginalRequest::Forwarded,
                "request_line" => OriginalRequest::RequestLine,
                _ => {
                    r.problem(
                        "http.original_request",
                        Some(n),
                        "must be `auto`, `nginx`, `forwarded` or `request_line`",
                    );
                    OriginalRequest::Auto
                }
            };
        }
        if let Some(n) = Reader::get(m, "path_prefix")
            && let Some(p) = r.string(n, "http.path_prefix")
        {
            if !p.is_empty() && !p.starts_with('/') {
                r.problem("http.path_prefix", Some(n), "must start with `/`");
            }
            http.path_prefix = p.trim_end_matches('/').to_owned();
        }
    }

    let mut paths = Paths::default();
    if let Some(n) = Reader::get(top, "paths")
        && let Some(v) = r.string(n, "paths")
    {
        paths = match v.as_str() {
            "strict" => Paths::Strict,
            "raw" => Paths::Raw,
            _ => {
                r.problem("paths", Some(n), "must be `strict` or `raw`");
                Paths::Strict
            }
        };
    }

    let mut cache = Cache::default();
    if let Some(node) = Reader::get(top, "cache") {
        let m = r.mapping(node, "cache", &["tokens", "max_ttl"]);
        if let Some(n) = Reader::get(m, "tokens") {
            cache.tokens = r.count(n, "cache.tokens").unwrap_or(cache.tokens);
        }
        if let Some(n) = Reader::get(m, "max_ttl") {
            cache.max_ttl = r.duration(n, "cache.max_ttl").unwrap_or(cache.max_ttl);
            if cache.max_ttl.is_zero() {
                r.problem("cache.max_ttl", Some(n), "must be more than 0s");
            }
        }
    }

    let mut authorizers = Vec::new();
    if let Some(node) = Reader::get(top, "authorizers") {
        for (name, line, body) in r.entries(node, "authorizers") {
            let path = child("authorizers", name);
            if let Some(a) = authorizer::read(r, name, line, body, &path) {
                authorizers.push(a);
            }
        }
    }

    let revocation = Reader::get(top, "revocation").and_then(|n| read_revocation(r, n));
    let limits = Reader::get(top, "limits").map_or_else(Limits::default, |n| read_limits(r, n));
    let cors = Reader::get(top, "cors").and_then(|n| read_cors(r, n));

    let routes = Reader::get(top, "routes")
        .map(|n| routes::read(r, n, &authorizers))
        .unwrap_or_default();

    Config {
        listen,
        http,
        paths,
        cache,
        authorizers,
        revocation,
        routes,
        limits,
        cors,
    }
}

/// `cors`: exact origins (or `*` without credentials), credentials, exposed headers.
fn read_cors(r: &mut Reader, node: &Node) -> Option<Cors> {
    let m = r.mapping(
        node,
        "cors",
        &["allow_origins", "allow_credentials", "expose_headers"],
    )?;
    let at = |key: &str| child("cors", key);
    let allow_credentials = Reader::get(Some(m), "allow_credentials")
        .and_then(|n| r.bool(n, &at("allow_credentials")))
        .unwrap_or(false);
    let origins_node = Reader::get(Some(m), "allow_origins");
    let allow_origins = match origins_node {
        Some(n) => r.strings(n, &at("allow_origins")).unwrap_or_default(),
        None => Vec::new(),
    };
    let origins_at = origins_node.or(Some(node));
    if allow_origins.is_empty() {
        r.problem(
            &at("allow_origins"),
            origins_at,
            "list the origins whose scripts may read denials (e.g. https://app.example.com)",
        );
    }
    for o in &allow_origins {
        if o == "*" {
            if allow_credentials {
                r.problem(
                    &at("allow_origins"),
                    origins_at,
                    "`*` cannot be used with `allow_credentials: true` (browsers refuse it): list the origins",
                );
            }
            if allow_origins.len() > 1 {
                r.problem(&at("allow_origins"), origins_at, "`*` stands alone");
            }
        } else if let Err(why) = check_origin(o) {
            r.problem(&at("allow_origins"), origins_at, format!("`{o}` {why}"));
        }
    }
    let expose_headers = match Reader::get(Some(m), "expose_headers") {
        Some(n) => {
            let list = r.strings(n, &at("expose_headers")).unwrap_or_default();
            for h in &list {
                if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    r.problem(
                        &at("expose_headers"),
                        Some(n),
                        format!("`{h}` is not a header name"),
                    );
                }
            }
            list.iter().map(|h| h.to_ascii_lowercase()).collect()
        }
        None => vec!["www-authenticate".to_owned()],
    };
    Some(Cors {
        allow_origins,
        allow_credentials,
        expose_headers,
    })
}

/// A serialized origin, as browsers send it: `scheme://host[:port]`, lower case, no path.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    let url = reqwest::Url::parse(origin).map_err(|_| "is not an origin (scheme://host[:port])")?;
    let serialized = url.origin().ascii_serialization();
    if serialized == origin {
        Ok(())
    } else if url.path() != "/" || origin.ends_with('/') {
        Err("is not an origin: an origin has no path (not even a trailing `/`)")
    } else {
        Err("is not written as browsers send it (lower-case scheme and host, no default port)")
    }
}

/// `limits`: what one client may hold of a listener.
fn read_limits(r: &mut Reader, node: &Node) -> Limits {
    const KEYS: [&str; 6] = [
        "max_connections",
        "max_streams",
        "max_request_bytes",
        "request_timeout",
        "header_read_timeout",
        "idle_timeout",
    ];
    let m = r.mapping(node, "limits", &KEYS);
    let mut l = Limits::default();
    let at = |key: &str| child("limits", key);
    if let Some(n) = Reader::get(m, "max_connections") {
        l.max_connections = r
            .count(n, &at("max_connections"))
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(l.max_connections);
    }
    if let Some(n) = Reader::get(m, "max_streams") {
        l.max_streams = r
            .count(n, &at("max_streams"))
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(l.max_streams);
    }
    if let Some(n) = Reader::get(m, "max_request_bytes") {
        l.max_request_bytes = r
            .size(n, &at("max_request_bytes"))
            .unwrap_or(l.max_request_bytes);
    }
    for (key, slot) in [
        ("request_timeout", &mut l.request_timeout),
        ("header_read_timeout", &mut l.header_read_timeout),
        ("idle_timeout", &mut l.idle_timeout),
    ] {
        if let Some(n) = Reader::get(m, key) {
            *slot = r.duration(n, &at(key)).unwrap_or(*slot);
        }
    }
    for problem in l.check() {
        let key = match problem {
            Invalid::Zero(key) => key,
            Invalid::RequestBytesTooSmall | Invalid::RequestBytesTooLarge => "max_request_bytes",
        };
        let n = Reader::get(m, key);
        r.problem(&at(key), n.or(Some(node)), problem.to_string());
    }
    l
}

/// `revocation: {file, refresh}`: the file is read now, and must hold a valid list.
fn read_revocation(r: &mut Reader, node: &Node) -> Option<Revocation> {
    let m = r.mapping(node, "revocation", &["file", "refresh"]);
    let refresh = match Reader::get(m, "refresh") {
        Some(n) => {
            let d = r.duration(n, "revocation.refresh");
            if d.is_some_and(|d| d < Duration::from_secs(1)) {
                r.problem("revocation.refresh", Some(n), "must be at least 1s");
            }
            d.unwrap_or(DEFAULT_REVOCATION_REFRESH)
        }
        None => DEFAULT_REVOCATION_REFRESH,
    };
    let n = Reader::get(m, "file")?;
    let file = r.string(n, "revocation.file")?;
    match List::read(Path::new(&file)) {
        Ok(list) => Some(Revocation {
            file: PathBuf::from(file),
            refresh,
            list: Arc::new(list),
        }),
        Err(ListError::Lines(lines)) => {
            for (line, message) in lines {
                r.problem(
                    "revocation.file",
                    Some(n),
                    format!("{file} line {line}: {message}"),
                );
            }
            None
        }
        Err(e) => {
            r.problem("revocation.file", Some(n), e.to_string());
            None
        }
    }
}

/// How often a revocation file is checked for changes by default.
const DEFAULT_REVOCATION_REFRESH: Duration = Duration::from_secs(10);
