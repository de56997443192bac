//! `tokengate import`, end to end: every fixture of `tests/fixtures/import/` imported by the
//! real binary, its output passed by `tokengate check-config`, served by the real server, and
//! each request of the fixture's table (`tests/import/table.rs`) sent over gRPC and both HTTP
//! forms with tokens made now, whose `iss` is the pool's or the JWT authorizer's issuer: the
//! decision must be API Gateway's.

#[path = "../import/table.rs"]
mod table;

mod guide;
mod served;

use std::fmt::Write as _;

use tokengate::config::{Config, Rule};
use tokengate::jwt::Alg;
use tokengate::testkit::{self as common, JwksServer, Tokengate};

use served::{Req, VIAS};
use table::{Expect, FIXTURES, Fixture, Iss, Token};

fn label(f: &Fixture) -> String {
    let mut s = f.file.to_owned();
    let mut args = f.args.iter();
    while let Some(a) = args.next() {
        match *a {
            "--parameter" => {
                args.next();
            }
            a => {
                s.push(' ');
                s.push_str(a);
            }
        }
    }
    s
}

fn shape(t: Token) -> String {
    let iss = |i: Iss| match i {
        Iss::Pool(id) => id.to_owned(),
        Iss::Url(u) => u.to_owned(),
    };
    match t {
        Token::None => "no token".into(),
        Token::Access {
            iss: i,
            client,
            scopes,
        } => format!("access {} {client} [{}]", iss(i), scopes.join(" ")),
        Token::Id { iss: i, client } => format!("id {} {client}", iss(i)),
    }
}

/// The imported config, as it will be served: checked by `check-config` whole (its `cors`
/// block included).
fn imported(f: &Fixture) -> String {
    let out = table::run(f);
    let name = label(f);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if let Err(e) = served::check_config(&text, &name) {
        panic!("{name}: check-config refuses the imported config:\n{e}\n{text}");
    }
    text
}

#[tokio::test]
async fn every_imported_config_decides_as_api_gateway_does() {
    let key = common::signer(Alg::RS256, "cognito-1");
    let jwks = JwksServer::start(&[&key]).await;
    let url = format!("{}/.well-known/jwks.json", jwks.url);
    let mut report = String::new();
    let mut disagree = Vec::new();
    let (mut fixtures, mut rows) = (0, 0);
    for f in FIXTURES.iter().filter(|f| f.outcome.is_ok()) {
        let name = label(f);
        let text = served::with_keys_from(&imported(f), &url);
        let tg = Tokengate::start(&text).await.ready().await;
        fixtures += 1;
        for case in f.cases {
            let token = served::token(&key, case.token);
            let mut got = Vec::new();
            for via in VIAS {
                got.push(served::decide(&tg, via, case.into(), token.as_deref()).await);
            }
            rows += 1;
            let ok = got.iter().all(|g| *g == case.expect);
            let _ = writeln!(
                report,
                "{name} | {} {} {} | {} | API Gateway {:?} | gRPC {:?}, nginx {:?}, request line {:?}{}",
                case.method,
                case.path,
                case.header,
                shape(case.token),
                case.expect,
                got[0],
                got[1],
                got[2],
                if ok { "" } else { "  <-- DISAGREES" }
            );
            if !ok {
                disagree.push(format!("{name}: {case:?}: got {got:?}"));
            }
        }
        tg.shutdown().await;
    }
    println!(
        "{report}{fixtures} imported configs, {rows} requests, each over gRPC, nginx and request line"
    );
    assert!(
        disagree.is_empty(),
        "tokengate disagrees with API Gateway:\n{}\n\n{report}",
        disagree.join("\n")
    );
    assert!(
        fixtures >= 20 && rows >= 80,
        "{fixtures} fixtures, {rows} rows"
    );
}

/// Each `refuse_*` fixture names, for each construct it cannot carry over, the file, the line
/// and the path in the template, and prints no config.
#[test]
fn each_unsupported_construct_is_refused_at_its_file_line_and_path() {
    let mut seen = 0;
    for f in FIXTURES
        .iter()
        .filter(|f| f.file.starts_with("refuse_") && f.outcome.is_err())
    {
        seen += 1;
        let out = table::run(f);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", label(f));
        assert!(out.stdout.is_empty(), "{}: printed a config", label(f));
        let prefix = format!("{}/{}:", table::DIR, f.file);
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(!lines.is_empty(), "{}: no error", label(f));
        for line in &lines {
            let rest = line
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{}: not at a place in the file: {line}", label(f)));
            let (number, rest) = rest.split_once(": ").unwrap_or(("", ""));
            assert!(
                number.parse::<usize>().is_ok_and(|n| n > 0),
                "{}: no line number: {line}",
                label(f)
            );
            // The document root of an OpenAPI export has no path; everything else does.
            let path = rest.split(": ").next().unwrap_or("");
            assert!(
                path.starts_with("Resources.")
                    || path.starts_with("paths[")
                    || rest.starts_with("not carried over"),
                "{}: no template path: {line}",
                label(f)
            );
        }
    }
    let refusing: std::collections::BTreeSet<&str> = FIXTURES
        .iter()
        .map(|f| f.file)
        .filter(|f| f.starts_with("refuse_"))
        .collect();
    assert_eq!(seen, refusing.len(), "a refuse_ fixture never refused");
}

/// A request that a route key matches: `{x}` as `x`, `{proxy+}` as two segments, `ANY` as GET.
fn request_for(key: &str) -> (String, String) {
    let (method, path) = key.split_once(' ').unwrap_or(("GET", "/anything/else"));
    let path: Vec<String> = path
        .split('/')
        .map(|s| match s.strip_prefix('{') {
            Some(p) if p.ends_with("+}") => "a/b".to_owned(),
            Some(p) => p.trim_end_matches('}').to_owned(),
            None => s.to_owned(),
        })
        .collect();
    let method = if method == "ANY" { "GET" } else { method };
    (method.to_owned(), path.join("/"))
}

/// `--partial` prints what it cannot carry over as `{deny: true}` routes; served, each answers
/// 403 whatever the token, over every transport.
#[tokio::test]
async fn partial_configs_pass_check_config_and_their_deny_routes_answer_403() {
    let key = common::signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&key]).await;
    let url = format!("{}/.well-known/jwks.json", jwks.url);
    let mut denied = 0;
    for f in FIXTURES
        .iter()
        .filter(|f| f.args.contains(&"--partial") && f.outcome.is_ok())
    {
        let text = served::with_keys_from(&imported(f), &url);
        let config = Config::parse(&text).expect("parsed");
        let tg = Tokengate::start(&text).await.ready().await;
        // No token, and a token from each authorizer's issuer.
        let mut tokens = vec![None];
        for a in &config.authorizers {
            let mut claims = common::claims(&a.issuer, "client");
            claims["client_id"] = "client".into();
            claims["token_use"] = "access".into();
            tokens.push(Some(key.sign(&claims)));
        }
        for route in config.routes.iter().filter(|r| r.rule == Rule::Deny) {
            let (method, path) = request_for(&route.key);
            let req = Req {
                method: &method,
                path: &path,
                header: "Authorization",
            };
            for token in &tokens {
                for via in VIAS {
                    let got = served::decide(&tg, via, req, token.as_deref()).await;
                    assert_eq!(
                        got,
                        Expect::Forbidden,
                        "{}: {} ({method} {path}) via {via:?}",
                        label(f),
                        route.key
                    );
                }
            }
            denied += 1;
        }
        tg.shutdown().await;
    }
    assert!(denied >= 6, "{denied} deny routes");
}
