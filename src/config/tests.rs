use super::*;

const GOOD: &str = r#"
listen: {grpc: "127.0.0.1:19191", http: "127.0.0.1:19192", admin: "127.0.0.1:19090"}
http: {path_prefix: "/authz"}
cache:
  tokens: 500
  max_ttl: 2m
authorizers:
  cognito:
    issuer: https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_e5ONyZIM4
    audience: [7c3h2ls0example]
    jwks_uri: null
    identity_source: ["$request.header.Authorization", "$request.cookie.token"]
    algorithms: [RS256, ES256]
    token_use: access
    clock_skew: 30s
    jwks_refresh: 5m
    claims_to_headers: {sub: X-User-Id, scope: x-user-scopes}
    forward_payload_header: x-jwt-payload
    strip_token: true
  partners:
    issuer: http://127.0.0.1:8080/partners
    audience: partner-api
routes:
  "GET /users/{userId}": {authorizer: cognito, scopes: [users/read]}
  "ANY /admin/{proxy+}":  {authorizer: [cognito, partners], scopes: [admin]}
  "GET /health":          {public: true}
  "$default":             {authorizer: cognito}
"#;

fn problems(text: &str) -> Vec<Problem> {
    match Config::parse(text) {
        Err(Error::Invalid(p)) => p,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn the_spec_example_parses_with_its_values() {
    let c = Config::parse(GOOD).expect("valid");
    assert_eq!(c.listen.grpc.port(), 19191);
    assert_eq!(c.http.path_prefix, "/authz");
    assert_eq!(c.cache.tokens, 500);
    assert_eq!(c.cache.max_ttl, Duration::from_secs(120));
    let a = c.authorizer("cognito").expect("cognito");
    assert_eq!(a.algorithms, vec![Alg::RS256, Alg::ES256]);
    assert_eq!(a.token_use, Some(TokenUse::Access));
    assert_eq!(a.clock_skew, Duration::from_secs(30));
    assert_eq!(
        a.claims_to_headers[0],
        ("sub".to_owned(), "x-user-id".to_owned())
    );
    assert_eq!(a.identity_source.len(), 2);
    let p = c.authorizer("partners").expect("partners");
    assert_eq!(
        p.audience,
        Audience::Clients(vec!["partner-api".to_owned()])
    );
    assert_eq!(p.algorithms, Alg::DEFAULT.to_vec());
    assert_eq!(p.jwks_refresh, DEFAULT_JWKS_REFRESH);
    assert_eq!(c.routes.len(), 4);
    assert!(summary(&c).contains("GET /users/{userId}: cognito scopes [users/read]"));
}

#[test]
fn defaults_apply_to_an_empty_file() {
    let c = Config::parse("{}").expect("valid");
    assert_eq!(c.listen, Listen::default());
    assert_eq!(c.listen.grpc.to_string(), DEFAULT_GRPC);
    assert_eq!(c.cache, Cache::default());
    assert!(c.routes.is_empty());
}

#[test]
fn every_error_is_reported_with_its_path_and_line() {
    let text = r#"
listen: {grpc: "nope"}
cache: {tokens: -1, max_ttl: soon, extra: 1}
authorizers:
  none:
    issuer: https://a.example
    audience: [x]
  bad:
    issuer: http://evil.example
    audience: []
    algorithms: [HS256, none, ES512, RS256]
    token_use: refresh
    clock_skew: 5 parsecs
    surprise: true
routes:
  "GET /users/{userId}": {authorizer: missing, scopes: [users/read]}
  "GET /users/{id}": {public: true, scopes: [x]}
  "FETCH /x": {public: true}
  "GET /y": {}
"#;
    let p = problems(text);
    let has = |path: &str, line: usize| {
        assert!(
            p.iter().any(|x| x.path == path && x.line == Some(line)),
            "no problem at {path} line {line} in {p:#?}"
        );
    };
    has("listen.grpc", 2);
    has("cache.tokens", 3);
    has("cache.max_ttl", 3);
    has("cache.extra", 3);
    has("authorizers.none", 5);
    has("authorizers.bad.issuer", 9);
    has("authorizers.bad.audience", 10);
    has("authorizers.bad.algorithms[0]", 11);
    has("authorizers.bad.algorithms[1]", 11);
    has("authorizers.bad.algorithms[2]", 11);
    has("authorizers.bad.token_use", 12);
    has("authorizers.bad.clock_skew", 13);
    has("authorizers.bad.surprise", 14);
    has(r#"routes["GET /users/{userId}"].authorizer"#, 16);
    has(r#"routes["GET /users/{id}"]"#, 17);
    has(r#"routes["GET /users/{id}"].scopes"#, 17);
    has(r#"routes["FETCH /x"]"#, 18);
    has(r#"routes["GET /y"]"#, 19);
    let text = Error::Invalid(p.clone()).to_string();
    assert!(text.contains("listen.grpc (line 2)"), "{text}");
}

#[test]
fn the_same_route_key_twice_is_an_error_with_its_line() {
    let p = problems("routes:\n  \"GET /a\": {public: true}\n  \"GET /a\": {public: true}\n");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, Some(3));
    assert!(p[0].message.contains("duplicate"));
}

#[test]
fn two_authorizers_with_one_issuer_cannot_share_a_route() {
    let p = problems(
        r#"
authorizers:
  a: {issuer: "https://same.example", audience: [x]}
  b: {issuer: "https://same.example", audience: [y]}
routes:
  "GET /x": {authorizer: [a, b]}
"#,
    );
    assert!(p[0].message.contains("same issuer"), "{p:?}");
}

#[test]
fn loopback_http_is_allowed_but_not_elsewhere() {
    for (issuer, ok) in [
        ("http://127.0.0.1:9090", true),
        ("http://localhost:9090", true),
        ("http://[::1]:9090", true),
        ("https://issuer.example", true),
        ("http://10.0.0.1", false),
        ("http://issuer.example", false),
        ("ftp://issuer.example", false),
    ] {
        let text = format!("authorizers:\n  a: {{issuer: \"{issuer}\", audience: [x]}}\n");
        assert_eq!(Config::parse(&text).is_ok(), ok, "{issuer}");
    }
}

#[test]
fn cache_tokens_zero_is_allowed() {
    let c = Config::parse("cache: {tokens: 0}").expect("valid");
    assert_eq!(c.cache.tokens, 0);
}

#[test]
fn a_user_pool_by_id_or_arn_gives_both_issuers_and_its_jwks() {
    for named in [
        "eu-west-3_e5ONyZIM4",
        "arn:aws:cognito-idp:eu-west-3:123456789012:userpool/eu-west-3_e5ONyZIM4",
    ] {
        let c = Config::parse(&format!(
            "authorizers:\n  p: {{user_pool: \"{named}\", audience: [app]}}\n"
        ))
        .expect(named);
        let a = &c.authorizers[0];
        let pool = a.pool.as_ref().expect("a pool");
        assert_eq!(
            pool.issuers(),
            [
                "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_e5ONyZIM4".to_owned(),
                "https://issuer-cognito-idp.eu-west-3.amazonaws.com/eu-west-3_e5ONyZIM4".to_owned()
            ]
        );
        assert!(a.accepts_issuer(&pool.issuers()[1]));
        assert_eq!(
            a.jwks,
            Jwks::Url(
                "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_e5ONyZIM4/.well-known/jwks.json"
                    .to_owned()
            )
        );
    }
    let china = parse_pool("arn:aws-cn:cognito-idp:cn-north-1:1:userpool/cn-north-1_abc").unwrap();
    assert_eq!(
        china.issuers()[0],
        "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_abc"
    );
}

#[test]
fn every_misuse_of_the_new_keys_is_an_error_at_its_path_and_line() {
    let dir = std::env::temp_dir().join(format!("tokengate-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_list = dir.join("bad.txt");
    std::fs::write(&bad_list, "jti ok\nsession x\n").unwrap();
    let text = format!(
        r#"
authorizers:
  both: {{issuer: "https://a.example", user_pool: eu-west-3_abc, audience: [x]}}
  arn: {{user_pool: "arn:aws:cognito-idp:us-east-1:1:userpool/eu-west-3_abc", audience: [x]}}
  nopool: {{issuer: "https://b.example", any_app_client: true}}
  twice: {{user_pool: eu-west-3_abc, audience: [x], any_app_client: true}}
  files: {{issuer: "https://c.example", audience: [x], jwks_uri: "https://c.example/k", jwks_file: /k.json}}
  rules: {{issuer: "https://d.example", audience: [x], claims: {{"cognito:groups": []}}}}
  id: {{user_pool: "not a pool", audience: [x]}}
routes:
  "GET /a": {{public: true, claims: {{g: [x]}}}}
  "GET /b": {{deny: true, authorizer: rules}}
  "GET /c": {{deny: true, public: true}}
revocation: {{file: "{}"}}
"#,
        bad_list.display()
    );
    let p = problems(&text);
    let has = |path: &str, line: usize| {
        assert!(
            p.iter().any(|x| x.path == path && x.line == Some(line)),
            "no problem at {path} line {line} in {p:#?}"
        );
    };
    has("authorizers.both.user_pool", 3);
    has("authorizers.arn.user_pool", 4);
    has("authorizers.nopool.any_app_client", 5);
    has("authorizers.twice.audience", 6);
    has("authorizers.files.jwks_file", 7);
    has(r#"authorizers.rules.claims["cognito:groups"]"#, 8);
    has("authorizers.id.user_pool", 9);
    has(r#"routes["GET /a"].claims"#, 11);
    has(r#"routes["GET /b"].authorizer"#, 12);
    has(r#"routes["GET /c"]"#, 13);
    has("revocation.file", 14);
    assert!(
        p.iter().any(|x| x.message.contains("line 2")),
        "the list's own line number: {p:#?}"
    );
    let missing = problems("revocation: {file: /nonexistent/revoked.txt}\n");
    assert_eq!(missing[0].path, "revocation.file");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn deny_routes_and_claim_rules_parse() {
    let c = Config::parse(
        r#"
authorizers:
  p: {user_pool: eu-west-3_abc, any_app_client: true, claims: {tenant: [acme]}}
routes:
  "DELETE /legacy": {deny: true}
  "ANY /admin/{proxy+}": {authorizer: p, claims: {"cognito:groups": [admins, ops]}}
"#,
    )
    .expect("valid");
    assert_eq!(c.authorizers[0].audience, Audience::AnyAppClient);
    assert_eq!(c.authorizers[0].claims[0].values, ["acme"]);
    assert_eq!(c.routes[0].rule, Rule::Deny);
    let Rule::Protected { claims, .. } = &c.routes[1].rule else {
        panic!("protected")
    };
    assert_eq!(claims[0].claim, "cognito:groups");
    assert_eq!(claims[0].values, ["admins", "ops"]);
    assert!(warnings(&c)[0].contains("any_app_client"));
}

#[test]
fn cors_takes_exact_origins_or_a_lone_star_without_credentials() {
    let c = Config::parse(
        "cors: {allow_origins: [\"https://app.example\", \"http://127.0.0.1:8080\"]}",
    )
    .expect("valid");
    let cors = c.cors.expect("cors");
    assert_eq!(cors.expose_headers, ["www-authenticate"]);
    assert!(!cors.allow_credentials && !cors.any_origin());
    assert!(
        Config::parse("cors: {allow_origins: [\"*\"]}")
            .expect("valid")
            .cors
            .expect("cors")
            .any_origin()
    );
    for (bad, line_has) in [
        (
            "cors: {allow_origins: [\"*\"], allow_credentials: true}",
            "allow_credentials",
        ),
        (
            "cors: {allow_origins: [\"*\", \"https://a.example\"]}",
            "alone",
        ),
        (
            "cors: {allow_origins: [\"https://app.example/\"]}",
            "no path",
        ),
        (
            "cors: {allow_origins: [\"https://APP.example\"]}",
            "as browsers send it",
        ),
        (
            "cors: {allow_origins: [\"https://app.example:443\"]}",
            "as browsers send it",
        ),
        ("cors: {allow_origins: [app.example]}", "not an origin"),
        ("cors: {allow_origins: []}", "list the origins"),
        (
            "cors: {allow_origins: [\"https://a.example\"], expose_headers: [\"bad header\"]}",
            "not a header",
        ),
    ] {
        let p = problems(bad);
        assert!(
            p.iter()
                .any(|x| x.path.starts_with("cors.") && x.message.contains(line_has)),
            "{bad}: {p:#?}"
        );
    }
}
