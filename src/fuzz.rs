//! What the cargo-fuzz targets in `fuzz/` run, kept here so `tests/fuzz.rs` replays the seeds and
//! every past finding on each `cargo test`, with or without cargo-fuzz installed.
//!
//! Each function takes the fuzzer's bytes, must never panic, and asserts what must hold whatever
//! the input: nothing the fuzzer writes verifies, a route selected for a request matches it and
//! is the one the linear reference selects, every config error points into the file, every
//! import error too, and every imported config is YAML.

// The functions assert what must hold: a panic is the finding, not a bug to document.
#![allow(clippy::missing_panics_doc)]

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use crate::config::{self, Audience, Config};
use crate::import;
use crate::jwks::Key;
use crate::jwt::claims::{self, Rules};
use crate::jwt::extract::{self, IdentitySource};
use crate::jwt::{Alg, TokenUse, compact};
use crate::request::checks::{self, Paths};
use crate::route::linear::Linear;
use crate::route::{RouteKey, RouteTable};
use crate::trace::NoTrace;

static KEYS: LazyLock<Vec<Key>> = LazyLock::new(|| {
    [Alg::RS256, Alg::ES256, Alg::ES384, Alg::EdDSA]
        .iter()
        .filter_map(|alg| {
            let signer = crate::jwt::Signer::generate(*alg, "k").ok()?;
            let jwk = serde_json::from_value(signer.jwk()).ok()?;
            Key::from_jwk(&jwk).ok()
        })
        .collect()
});

static SOURCES: LazyLock<Vec<IdentitySource>> = LazyLock::new(|| {
    [
        "$request.header.authorization",
        "$request.querystring.access_token",
        "$request.cookie.session",
    ]
    .iter()
    .filter_map(|s| s.parse().ok())
    .collect()
});

/// Extraction, the compact parse, signature verification with real keys, the payload and every
/// claim check.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let headers = HashMap::from([
        ("authorization".to_owned(), text.to_owned()),
        ("cookie".to_owned(), format!("a=b; session={text}")),
    ]);
    let found = extract::find(SOURCES.iter(), &headers, Some(text))
        .ok()
        .flatten()
        .map(|(t, _)| t);
    for token in [Some(text), found].into_iter().flatten() {
        let Ok(parsed) = compact::parse(token) else {
            continue;
        };
        if let Some(alg) = parsed.alg {
            for key in KEYS.iter().filter(|k| k.fits(alg)) {
                assert!(
                    !key.verify(alg, parsed.signing_input.as_bytes(), &parsed.signature),
                    "a token the fuzzer wrote verified: {token:?}"
                );
            }
        }
        if let Ok(claims) = compact::payload(parsed.payload) {
            let audience = Audience::Clients(vec!["api".to_owned()]);
            let issuers = ["https://issuer.example".to_owned()];
            let rules = Rules {
                issuers: &issuers,
                audience: &audience,
                token_use: Some(TokenUse::Access),
                clock_skew: 60.0,
            };
            let _ = claims::check(&claims, &rules, 1.7e9, &mut NoTrace);
            let _ = claims::issuer(&claims);
            let held = claims::scopes(&claims);
            let _ = claims::has_any_joined_scope(&held.join(" "), &["read".to_owned()]);
            let _ = claims::header_value(&claims, "sub");
            let _ = claims::header_value(&claims, "address.country");
        }
    }
}

const FIXED_ROUTES: [&str; 5] = [
    "GET /pets",
    "GET /pets/{id}",
    "ANY /pets/{proxy+}",
    "POST /{a}/{b}",
    "ANY /{proxy+}",
];

/// A route key on the first line, a method on the second, the request path after.
pub fn route(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(3, '\n');
    let (Some(key), Some(method), Some(path)) = (lines.next(), lines.next(), lines.next()) else {
        return;
    };
    let mut routes: Vec<(RouteKey, Arc<str>, usize)> = FIXED_ROUTES
        .iter()
        .enumerate()
        .filter_map(|(i, k)| Some((RouteKey::parse(k).ok()?, Arc::from(*k), i)))
        .collect();
    if let Ok(parsed) = RouteKey::parse(key) {
        let _ = parsed.shape();
        routes.push((parsed, Arc::from(key), routes.len()));
    }
    let keys: Vec<RouteKey> = routes.iter().map(|(k, _, _)| k.clone()).collect();
    let reference = Linear::new(routes.clone(), None);
    let table = RouteTable::new(routes, None);
    let (bare, _) = crate::request::split_target(path);
    let selected = table.select(method, bare);
    if let Some(selected) = &selected {
        assert!(
            keys[*selected.value].matches(method, bare),
            "selected {} for {method} {path:?}, which it does not match",
            selected.key
        );
    }
    assert_eq!(
        selected.map(|s| *s.value),
        reference.select(method, bare).map(|s| *s.value),
        "the index and the scan disagree on {method} {path:?}"
    );
}

/// The request checks on an arbitrary method and target: never a panic; a path they accept
/// is accepted again unchanged (checking is idempotent), holds no dot or empty inner segment,
/// and every escape left in it is of a reserved character.
pub fn request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (method, target) = text.split_once('\n').unwrap_or(("GET", text));
    let (path, _) = crate::request::split_target(target);
    let Ok(checked) = checks::check(method, path, Paths::Strict) else {
        return;
    };
    assert_eq!(
        checks::check(method, &checked, Paths::Strict).as_deref(),
        Ok(&*checked),
        "checking {path:?} again changed it"
    );
    let mut segments = checked[1..].split('/').peekable();
    while let Some(s) = segments.next() {
        assert!(s != "." && s != "..", "{checked:?} kept a dot segment");
        assert!(
            !s.is_empty() || segments.peek().is_none(),
            "{checked:?} kept //"
        );
    }
    for escape in checked.match_indices('%') {
        let hex = &checked[escape.0 + 1..escape.0 + 3];
        let byte = u8::from_str_radix(hex, 16).expect("a checked escape is two hex digits");
        assert!(
            !byte.is_ascii_alphanumeric() && !b"-._~/\\\0".contains(&byte),
            "{checked:?} kept an escape of {byte:#x}"
        );
    }
}

/// The config loader on arbitrary text.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        Ok(c) => {
            let _ = config::summary(&c);
        }
        Err(config::Error::Invalid(problems)) => {
            assert!(!problems.is_empty(), "an invalid config names no problem");
            for p in &problems {
                assert!(
                    !p.path.is_empty() || p.line.is_some(),
                    "a problem that points nowhere: {p}"
                );
            }
        }
        Err(config::Error::Read { .. }) => {}
    }
}

/// The importer on arbitrary text: the template reader, intrinsic resolution and every reader,
/// with and without `--partial`. Included files point into a directory that does not exist.
pub fn import(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parameters = [
        ("AWS::Region", "eu-west-3"),
        ("AWS::AccountId", "111122223333"),
        (
            "PoolArn",
            "arn:aws:cognito-idp:eu-west-3:111122223333:userpool/eu-west-3_Fuzz00001",
        ),
        (
            "UserPool.Arn",
            "arn:aws:cognito-idp:eu-west-3:111122223333:userpool/eu-west-3_Fuzz00002",
        ),
        ("UserPoolId", "eu-west-3_Fuzz00001"),
        ("ClientId", "fuzzclient"),
    ];
    for partial in [false, true] {
        let opts = import::Options {
            file: "/nonexistent-tokengate-fuzz/template.yaml".into(),
            api: None,
            parameters: parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            partial,
            ignore_resource_policy: partial,
        };
        match import::import_text(&opts, text) {
            Ok(imported) => {
                if let Err(e) = marked_yaml::parse_yaml(0, &imported.config) {
                    panic!("an imported config is not YAML: {e}\n{}", imported.config);
                }
            }
            Err(import::Error::Invalid(problems)) => {
                assert!(!problems.is_empty(), "a failed import names no problem");
                for p in &problems {
                    assert!(
                        p.place.line.is_some(),
                        "an import problem without a line: {p}"
                    );
                }
            }
            Err(import::Error::Read { .. }) => {}
        }
    }
}

/// A serialized `CheckRequest`: the in-place reader never panics, and whenever prost can decode
/// the bytes, the reader reads them too and agrees with prost on every field it reads, and
/// gives each header the value the prost-based transport gave it.
pub fn check_request(data: &[u8]) {
    use crate::wire::Check;
    let ours = Check::decode(data);
    if let Ok(c) = &ours {
        for h in c.headers() {
            let _ = (c.header(h.name), h.text());
        }
    }
    let Ok(theirs) = <crate::pb::auth::CheckRequest as prost::Message>::decode(data) else {
        return;
    };
    let ours = match ours {
        Ok(c) => c,
        // prost's own leniency, not a disagreement on a well-formed request.
        Err(e) if e.is_map_wire_type() => return,
        Err(e) => panic!("prost reads what the wire reader refuses: {e}"),
    };
    agree(&ours, &theirs);
}

fn agree(ours: &crate::wire::Check<'_>, theirs: &crate::pb::auth::CheckRequest) {
    let attributes = theirs.attributes.clone().unwrap_or_default();
    let http = attributes.request.as_ref().and_then(|r| r.http.as_ref());
    assert_eq!(ours.method, http.map_or("", |h| h.method.as_str()));
    assert_eq!(ours.path, http.map_or("", |h| h.path.as_str()));
    let client = attributes
        .source
        .as_ref()
        .and_then(|p| p.address.as_ref())
        .and_then(|a| a.address.as_ref())
        .and_then(|a| match a {
            crate::pb::core::address::Address::SocketAddress(s) => Some(s.address.as_str()),
            _ => None,
        });
    assert_eq!(ours.client, client);
    let context: HashMap<String, String> = ours
        .context_entries()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(context, attributes.context_extensions);
    for (k, v) in &attributes.context_extensions {
        assert_eq!(ours.context(k), Some(v.as_str()));
    }
    let Some(http) = http else {
        assert!(ours.headers().is_empty());
        return;
    };
    // What the prost-based transport handed the gate: the map, or `header_map` lower-cased.
    let expected: HashMap<String, String> = match &http.header_map {
        Some(map) if http.headers.is_empty() => {
            let sent: Vec<(&[u8], &[u8])> = map
                .headers
                .iter()
                .map(|h| {
                    let value = if h.raw_value.is_empty() {
                        h.value.as_bytes()
                    } else {
                        &h.raw_value
                    };
                    (h.key.as_bytes(), value)
                })
                .collect();
            let read: Vec<(&[u8], &[u8])> = ours
                .headers()
                .iter()
                .map(|h| (h.name.as_bytes(), h.value))
                .collect();
            assert_eq!(read, sent, "header_map entries, in order");
            map.headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8(if h.raw_value.is_empty() {
                        h.value.clone().into_bytes()
                    } else {
                        h.raw_value.clone()
                    })
                    .unwrap_or_else(|_| crate::request::NOT_UTF8.to_owned());
                    (h.key.to_ascii_lowercase(), value)
                })
                .collect()
        }
        _ => {
            let read: HashMap<&str, &[u8]> =
                ours.headers().iter().map(|h| (h.name, h.value)).collect();
            let sent: HashMap<&str, &[u8]> = http
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect();
            assert_eq!(read, sent, "headers map, last entry per key");
            http.headers.clone()
        }
    };
    for (name, value) in &expected {
        assert_eq!(ours.header(name), Some(value.as_str()), "header {name}");
    }
    for name in ["authorization", "cookie", "x-absent"] {
        assert_eq!(
            ours.header(name),
            expected.get(name).map(String::as_str),
            "header {name}"
        );
    }
}
