//! Reading a parsed YAML file into a checked [`Config`]: every key's type, range and meaning,
//! each problem recorded with its path and line and the reading carried on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use marked_yaml::{LoadError, Node};

use super::yaml::{Reader, child};
use super::{
    Authorizer, Cache, Config, DEFAULT_JWKS_REFRESH, Http, Listen, OriginalRequest, Paths, Problem,
    Route, Rule, url,
};
use crate::jwt::{Alg, IdentitySource, TokenUse};
use crate::route::RouteKey;

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
        &["listen", "http", "paths", "cache", "authorizers", "routes"],
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
            if let Some(a) = read_authorizer(r, name, line, body, &path) {
                authorizers.push(a);
            }
        }
    }

    let mut routes = Vec::new();
    if let Some(node) = Reader::get(top, "routes") {
        let names: HashMap<&str, &Authorizer> =
            authorizers.iter().map(|a| (a.name.as_str(), a)).collect();
        let mut shapes: HashMap<String, String> = HashMap::new();
        for (key, line, body) in r.entries(node, "routes") {
            let path = format!("routes[{key:?}]");
            let parsed = if key == "$default" {
                None
            } else {
                match RouteKey::parse(key) {
                    Ok(k) => {
                        if let Some(first) = shapes.insert(k.shape(), key.to_owned()) {
                            r.problem_at(
                                &path,
                                line,
                                format!("duplicate route: `{key}` is the same route as `{first}`"),
                            );
                        }
                        Some(k)
                    }
                    Err(e) => {
                        r.problem_at(&path, line, e.to_string());
                        continue;
                    }
                }
            };
            if let Some(rule) = read_rule(r, body, line, &path, &names) {
                routes.push(Route {
                    key: key.to_owned(),
                    parsed,
                    rule,
                });
            }
        }
    }

    Config {
        listen,
        http,
        paths,
        cache,
        authorizers,
        routes,
    }
}

const AUTHORIZER_KEYS: [&str; 12] = [
    "issuer",
    "audience",
    "jwks_uri",
    "identity_source",
    "algorithms",
    "token_use",
    "clock_skew",
    "jwks_refresh",
    "claims_to_headers",
    "forward_payload_header",
    "strip_token",
    // Accepted for symmetry with API Gateway's `name`, but must match the map key.
    "name",
];

fn read_authorizer(
    r: &mut Reader,
    name: &str,
    line: Option<usize>,
    node: &Node,
    path: &str,
) -> Option<Authorizer> {
    let before = r.problems.len();
    if name == crate::decision::NO_AUTHORIZER {
        r.problem_at(
            path,
            line,
            "`none` is reserved (it labels public routes in metrics)",
        );
    } else if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        r.problem_at(
            path,
            line,
            "an authorizer name uses only letters, digits, `_`, `-` and `.`",
        );
    }
    let m = r.mapping(node, path, &AUTHORIZER_KEYS);
    if m.is_none() {
        r.problem_at(
            path,
            line,
            "an authorizer needs at least `issuer` and `audience`",
        );
        return None;
    }
    let at = |key: &str| child(path, key);

    if let Some(n) = Reader::get(m, "name")
        && r.string(n, &at("name")).is_some_and(|v| v != name)
    {
        r.problem(&at("name"), Some(n), "must equal the authorizer's key");
    }

    let issuer = match Reader::get(m, "issuer") {
        Some(n) => r
            .string(n, &at("issuer"))
            .inspect(|u| url::check(r, u, &at("issuer"), n)),
        None => {
            r.problem_at(
                &at("issuer"),
                line,
                "required: the exact `iss` of the tokens",
            );
            None
        }
    };

    let audience = match Reader::get(m, "audience") {
        Some(n) => {
            let list = r.strings(n, &at("audience")).unwrap_or_default();
            if list.is_empty() || list.iter().any(String::is_empty) {
                r.problem(
                    &at("audience"),
                    Some(n),
                    "must list at least one non-empty audience",
                );
            }
            list
        }
        None => {
            r.problem_at(
                &at("audience"),
                line,
                "required: the audiences (`aud`) or app client ids (`client_id`) accepted",
            );
            Vec::new()
        }
    };

    let jwks_uri = Reader::get(m, "jwks_uri").and_then(|n| {
        r.string(n, &at("jwks_uri"))
            .inspect(|u| url::check(r, u, &at("jwks_uri"), n))
    });

    let mut identity_source = vec![IdentitySource::default()];
    if let Some(n) = Reader::get(m, "identity_source") {
        let p = at("identity_source");
        let list = r.strings(n, &p).unwrap_or_default();
        if list.is_empty() {
            r.problem(&p, Some(n), "must list at least one source");
        }
        identity_source = list
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.parse() {
                Ok(src) => Some(src),
                Err(e) => {
                    r.problem(&format!("{p}[{i}]"), Some(n), format!("{e}"));
                    None
                }
            })
            .collect();
    }

    let mut algorithms = Alg::DEFAULT.to_vec();
    if let Some(n) = Reader::get(m, "algorithms") {
        let p = at("algorithms");
        let list = r.strings(n, &p).unwrap_or_default();
        if list.is_empty() {
            r.problem(&p, Some(n), "must list at least one algorithm");
        }
        algorithms.clear();
        for (i, a) in list.iter().enumerate() {
            match a.parse::<Alg>() {
                Ok(alg) if !algorithms.contains(&alg) => algorithms.push(alg),
                Ok(_) => {}
                Err(e) => r.problem(&format!("{p}[{i}]"), Some(n), e.to_string()),
            }
        }
    }

    let token_use = Reader::get(m, "token_use").and_then(|n| {
        let s = r.string(n, &at("token_use"))?;
        match s.as_str() {
            "access" => Some(TokenUse::Access),
            "id" => Some(TokenUse::Id),
            _ => {
                r.problem(&at("token_use"), Some(n), "must be `access` or `id`");
                None
            }
        }
    });

    let clock_skew = Reader::get(m, "clock_skew")
        .and_then(|n| r.duration(n, &at("clock_skew")))
        .unwrap_or_default();

    let jwks_refresh = match Reader::get(m, "jwks_refresh") {
        Some(n) => {
            let d = r.duration(n, &at("jwks_refresh"));
            if d.is_some_and(|d| d < Duration::from_secs(1)) {
                r.problem(&at("jwks_refresh"), Some(n), "must be at least 1s");
            }
            d.unwrap_or(DEFAULT_JWKS_REFRESH)
        }
        None => DEFAULT_JWKS_REFRESH,
    };

    let mut claims_to_headers = Vec::new();
    let mut headers_seen = HashSet::new();
    if let Some(n) = Reader::get(m, "claims_to_headers") {
        let p = at("claims_to_headers");
        for (claim, _, hn) in r.entries(n, &p) {
            let hp = child(&p, claim);
            if claim.is_empty() {
                r.problem(&hp, Some(hn), "claim name must not be empty");
            }
            if let Some(h) = r.string(hn, &hp).and_then(|h| check_header(r, &h, &hp, hn)) {
                if !headers_seen.insert(h.clone()) {
                    r.problem(&hp, Some(hn), format!("header `{h}` is set by two claims"));
                }
                claims_to_headers.push((claim.to_owned(), h));
            }
        }
    }

    let forward_payload_header = Reader::get(m, "forward_payload_header").and_then(|n| {
        let p = at("forward_payload_header");
        let h = r.string(n, &p).and_then(|h| check_header(r, &h, &p, n))?;
        if headers_seen.contains(&h) {
            r.problem(&p, Some(n), format!("header `{h}` is also set by a claim"));
        }
        Some(h)
    });

    let strip_token = Reader::get(m, "strip_token")
        .and_then(|n| r.bool(n, &at("strip_token")))
        .unwrap_or(false);

    if r.problems.len() > before {
        return None;
    }
    Some(Authorizer {
        name: name.to_owned(),
        issuer: issuer?,
        audience,
        jwks_uri,
        identity_source,
        algorithms,
        token_use,
        clock_skew,
        jwks_refresh,
        claims_to_headers,
        forward_payload_header,
        strip_token,
    })
}

fn read_rule(
    r: &mut Reader,
    node: &Node,
    line: Option<usize>,
    path: &str,
    authorizers: &HashMap<&str, &Authorizer>,
) -> Option<Rule> {
    let m = r.mapping(node, path, &["authorizer", "scopes", "public"]);
    let at = |key: &str| format!("{path}.{key}");
    let public = Reader::get(m, "public").and_then(|n| r.bool(n, &at("public")));
    let names = Reader::get(m, "authorizer").map(|n| (n, r.strings(n, &at("authorizer"))));
    let scopes = Reader::get(m, "scopes").map(|n| (n, r.strings(n, &at("scopes"))));

    if public == Some(true) {
        if let Some((n, _)) = names {
            r.problem(
                &at("authorizer"),
                Some(n),
                "a public route names no authorizer",
            );
        }
        if let Some((n, _)) = scopes {
            r.problem(&at("scopes"), Some(n), "a public route requires no scopes");
        }
        return Some(Rule::Public);
    }
    let Some((names_node, Some(names))) = names else {
        if names.is_none() {
            r.problem_at(
                path,
                line,
                "a route names an `authorizer` or is `public: true`",
            );
        }
        return None;
    };
    if names.is_empty() {
        r.problem(&at("authorizer"), Some(names_node), "names no authorizer");
    }
    let mut issuers: BTreeMap<&str, &str> = BTreeMap::new();
    for name in &names {
        match authorizers.get(name.as_str()) {
            Some(a) => {
                if let Some(other) = issuers.insert(&a.issuer, name) {
                    r.problem(
                        &at("authorizer"),
                        Some(names_node),
                        format!(
                            "`{other}` and `{name}` have the same issuer, so `iss` cannot pick one"
                        ),
                    );
                }
            }
            None => r.problem(
                &at("authorizer"),
                Some(names_node),
                format!("no authorizer named `{name}`"),
            ),
        }
    }
    let scopes = match scopes {
        Some((n, list)) => {
            let list = list.unwrap_or_default();
            if list.iter().any(|s| s.is_empty() || s.contains(' ')) {
                r.problem(
                    &at("scopes"),
                    Some(n),
                    "scopes are non-empty and hold no spaces",
                );
            }
            list
        }
        None => Vec::new(),
    };
    Some(Rule::Protected {
        authorizers: names,
        scopes,
    })
}

/// A valid header name, lower-cased; pseudo-headers and hop-by-hop names are refused.
fn check_header(r: &mut Reader, name: &str, path: &str, node: &Node) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
        r.problem(
            path,
            Some(node),
            format!("`{name}` is not a valid header name"),
        );
        return None;
    }
    if matches!(
        lower.as_str(),
        "host" | "connection" | "content-length" | "transfer-encoding" | "te" | "upgrade"
    ) {
        r.problem(path, Some(node), format!("`{name}` cannot carry a claim"));
        return None;
    }
    Some(lower)
}
