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
    assert_eq!(p.audience, vec!["partner-api".to_owned()]);
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
