//! Cognito user pools, claim rules and deny routes on the real server, over gRPC and HTTP, with
//! keys and tokens made at run time. The pools' own key URLs are AWS's, so `jwks_uri` points at
//! the test's key set; `iss` is only ever compared.

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use common::*;
use serde_json::{Value, json};
use tokengate::jwt::Alg;

const POOL: &str = "eu-west-3_e5ONyZIM4";
const ARN: &str = "arn:aws:cognito-idp:eu-west-3:123456789012:userpool/eu-west-3_e5ONyZIM4";
const ORIGINAL: &str = "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_e5ONyZIM4";
const UPDATED: &str = "https://issuer-cognito-idp.eu-west-3.amazonaws.com/eu-west-3_e5ONyZIM4";
const INVALID_TOKEN: Option<&str> = Some(r#"Bearer error="invalid_token""#);

/// A Cognito access token of app client `client` from `iss`, valid for an hour.
fn access(iss: &str, client: &str) -> Value {
    json!({"iss": iss, "client_id": client, "token_use": "access", "sub": "user-1",
           "scope": "aws.cognito.signin.user.admin", "exp": now() + 3600.0, "iat": now() - 10.0})
}

/// A Cognito ID token for app client `client` from `iss`.
fn id_token(iss: &str, client: &str) -> Value {
    json!({"iss": iss, "aud": client, "token_use": "id", "sub": "user-1",
           "exp": now() + 3600.0, "iat": now() - 10.0})
}

fn with(mut claims: Value, edits: &[(&str, Value)]) -> Value {
    for (k, v) in edits {
        claims[*k] = v.clone();
    }
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

async fn start(yaml: &str) -> Tokengate {
    Tokengate::start(yaml).await.ready().await
}

#[tokio::test]
async fn a_user_pool_takes_both_issuer_forms_whether_named_by_id_or_arn() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let uri = format!("{}/.well-known/jwks.json", jwks.url);
    let tg = start(&format!(
        r#"
authorizers:
  pool_id: {{user_pool: {POOL}, audience: [app], jwks_uri: "{uri}"}}
  pool_arn: {{user_pool: "{ARN}", audience: [app], jwks_uri: "{uri}"}}
routes:
  "GET /id": {{authorizer: pool_id}}
  "GET /arn": {{authorizer: pool_arn}}
"#
    ))
    .await;
    let mut judge = Judge::new(&tg, &["pool_id", "pool_arn"]).await;
    for (path, name) in [("/id", "pool_id"), ("/arn", "pool_arn")] {
        for iss in [ORIGINAL, UPDATED] {
            let token = k.sign(&access(iss, "app"));
            judge.ask("GET", path, Some(&token)).await.allowed(name);
            let token = k.sign(&id_token(iss, "app"));
            judge.ask("GET", path, Some(&token)).await.allowed(name);
        }
        let refused = [
            // Forms Cognito never issues, and other pools.
            format!("{ORIGINAL}/"),
            ORIGINAL.replace("https://", "http://"),
            ORIGINAL.replace("cognito-idp.", "issuer.cognito-idp."),
            ORIGINAL.replace("cognito-idp.eu-west-3", "cognito-idp.us-east-1"),
            ORIGINAL.replace("e5ONyZIM4", "e5onyzim4"),
            "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_0therPoo1".to_owned(),
            "https://issuer-cognito-idp.eu-west-3.amazonaws.com/eu-west-3_0therPoo1".to_owned(),
            "https://cognito-idp.amazonaws.com/eu-west-3_e5ONyZIM4".to_owned(),
            POOL.to_owned(),
        ];
        for iss in &refused {
            let token = k.sign(&access(iss, "app"));
            judge.ask("GET", path, Some(&token)).await.expect(
                name,
                "wrong_issuer",
                401,
                INVALID_TOKEN,
            );
        }
        let token = k.sign(&access(ORIGINAL, "other-client"));
        judge.ask("GET", path, Some(&token)).await.expect(
            name,
            "wrong_audience",
            401,
            INVALID_TOKEN,
        );
    }
    tg.shutdown().await;
}

#[tokio::test]
async fn a_china_pool_arn_uses_the_china_partition_issuers() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = start(&format!(
        r#"
authorizers:
  china:
    user_pool: "arn:aws-cn:cognito-idp:cn-north-1:123456789012:userpool/cn-north-1_Abc123"
    audience: [app]
    jwks_uri: "{}/.well-known/jwks.json"
routes:
  "$default": {{authorizer: china}}
"#,
        jwks.url
    ))
    .await;
    let mut judge = Judge::new(&tg, &["china"]).await;
    for iss in [
        "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Abc123",
        "https://issuer-cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Abc123",
    ] {
        let token = k.sign(&access(iss, "app"));
        judge.ask("GET", "/x", Some(&token)).await.allowed("china");
    }
    let token = k.sign(&access(
        "https://cognito-idp.cn-north-1.amazonaws.com/cn-north-1_Abc123",
        "app",
    ));
    judge
        .ask("GET", "/x", Some(&token))
        .await
        .expect("china", "wrong_issuer", 401, INVALID_TOKEN);
    tg.shutdown().await;
}

#[tokio::test]
async fn any_app_client_takes_every_client_of_the_pool_but_checks_the_rest() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let uri = format!("{}/.well-known/jwks.json", jwks.url);
    let tg = start(&format!(
        r#"
authorizers:
  rest_access: {{user_pool: {POOL}, any_app_client: true, token_use: access, jwks_uri: "{uri}"}}
  rest_id: {{user_pool: "{ARN}", any_app_client: true, token_use: id, jwks_uri: "{uri}"}}
routes:
  "GET /scoped": {{authorizer: rest_access}}
  "GET /open": {{authorizer: rest_id}}
"#
    ))
    .await;
    let mut judge = Judge::new(&tg, &["rest_access", "rest_id"]).await;
    for client in ["7c3h2ls0example", "another-client", "x"] {
        let token = k.sign(&access(UPDATED, client));
        judge
            .ask("GET", "/scoped", Some(&token))
            .await
            .allowed("rest_access");
        let token = k.sign(&id_token(ORIGINAL, client));
        judge
            .ask("GET", "/open", Some(&token))
            .await
            .allowed("rest_id");
    }
    let cases = [
        (
            "/scoped",
            "rest_access",
            id_token(ORIGINAL, "app"),
            "wrong_token_use",
        ),
        (
            "/open",
            "rest_id",
            access(ORIGINAL, "app"),
            "wrong_token_use",
        ),
        (
            "/scoped",
            "rest_access",
            without(access(ORIGINAL, "app"), "token_use"),
            "malformed",
        ),
        (
            "/scoped",
            "rest_access",
            access(
                "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_0ther",
                "app",
            ),
            "wrong_issuer",
        ),
        (
            "/scoped",
            "rest_access",
            with(access(ORIGINAL, "app"), &[("exp", json!(now() - 1.0))]),
            "expired",
        ),
        (
            "/open",
            "rest_id",
            with(id_token(ORIGINAL, "app"), &[("nbf", json!(now() + 600.0))]),
            "not_yet_valid",
        ),
        (
            // Neither `aud` nor `client_id`: no app client at all.
            "/scoped",
            "rest_access",
            without(access(ORIGINAL, "app"), "client_id"),
            "malformed",
        ),
    ];
    for (path, name, claims, reason) in cases {
        let token = k.sign(&claims);
        judge
            .ask("GET", path, Some(&token))
            .await
            .expect(name, reason, 401, INVALID_TOKEN);
    }
    // A signature by a key the pool never published is still refused.
    let stranger = signer(Alg::RS256, "k");
    let token = stranger.sign(&access(ORIGINAL, "app"));
    judge.ask("GET", "/scoped", Some(&token)).await.expect(
        "rest_access",
        "bad_signature",
        401,
        INVALID_TOKEN,
    );
    tg.shutdown().await;
}

fn rules_config(iss: &str) -> String {
    format!(
        r#"
authorizers:
  tenants:
    issuer: "{iss}"
    audience: [app]
    claims: {{"custom:tenant": [acme, umbrella]}}
routes:
  "GET /open": {{authorizer: tenants}}
  "GET /admin": {{authorizer: tenants, claims: {{"cognito:groups": [admins, ops]}}}}
  "GET /admins-only": {{authorizer: tenants, claims: {{"cognito:groups": [admins]}}}}
  "GET /level": {{authorizer: tenants, claims: {{level: ["3"]}}}}
  "GET /org": {{authorizer: tenants, claims: {{"org.name": [initech]}}}}
  "GET /team": {{authorizer: tenants, claims: {{"cognito:groups": [admins], "custom:team": [blue]}}}}
  "GET /scoped": {{authorizer: tenants, scopes: [admin], claims: {{"cognito:groups": [admins]}}}}
"#
    )
}

#[tokio::test]
async fn claim_rules_match_strings_and_array_elements_exactly() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = start(&rules_config(&jwks.url)).await;
    let mut judge = Judge::new(&tg, &["tenants"]).await;
    let base = with(
        claims(&jwks.url, "app"),
        &[("custom:tenant", json!("acme"))],
    );
    let allowed: [(&str, &[(&str, Value)]); 13] = [
        ("/open", &[]),
        ("/open", &[("custom:tenant", json!("umbrella"))]),
        ("/open", &[("custom:tenant", json!(["other", "acme"]))]),
        ("/admin", &[("cognito:groups", json!(["admins"]))]),
        ("/admin", &[("cognito:groups", json!(["readers", "ops"]))]),
        ("/admin", &[("cognito:groups", json!("ops"))]),
        ("/admin", &[("cognito:groups", json!([1, null, "ops"]))]),
        ("/level", &[("level", json!("3"))]),
        ("/org", &[("org", json!({"name": "initech"}))]),
        ("/org", &[("org.name", json!("initech"))]),
        ("/org", &[("org", json!({"name": ["x", "initech"]}))]),
        (
            "/team",
            &[
                ("cognito:groups", json!(["admins"])),
                ("custom:team", json!("blue")),
            ],
        ),
        (
            "/scoped",
            &[
                ("cognito:groups", json!(["admins"])),
                ("scope", json!("read admin")),
            ],
        ),
    ];
    for (path, edits) in allowed {
        let token = k.sign(&with(base.clone(), edits));
        judge
            .ask("GET", path, Some(&token))
            .await
            .allowed("tenants");
    }
    let refused: [(&str, Value); 19] = [
        // The authorizer's rule, on every route.
        ("/open", without(base.clone(), "custom:tenant")),
        (
            "/open",
            with(base.clone(), &[("custom:tenant", Value::Null)]),
        ),
        (
            "/open",
            with(base.clone(), &[("custom:tenant", json!("ACME"))]),
        ),
        (
            "/open",
            with(base.clone(), &[("custom:tenant", json!("acme "))]),
        ),
        ("/open", with(base.clone(), &[("custom:tenant", json!([]))])),
        (
            "/open",
            with(base.clone(), &[("custom:tenant", json!({"acme": true}))]),
        ),
        (
            "/admin",
            with(
                base.clone(),
                &[
                    ("custom:tenant", json!("initech")),
                    ("cognito:groups", json!(["admins"])),
                ],
            ),
        ),
        // The route's rule on top of it.
        ("/admin", base.clone()),
        (
            "/admin",
            with(base.clone(), &[("cognito:groups", Value::Null)]),
        ),
        (
            "/admin",
            with(base.clone(), &[("cognito:groups", json!(["Admins"]))]),
        ),
        (
            "/admin",
            with(base.clone(), &[("cognito:groups", json!(["admins,ops"]))]),
        ),
        (
            "/admin",
            with(base.clone(), &[("cognito:groups", json!([["admins"]]))]),
        ),
        ("/level", with(base.clone(), &[("level", json!(3))])),
        ("/level", with(base.clone(), &[("level", json!(3.0))])),
        ("/level", with(base.clone(), &[("level", json!(true))])),
        (
            "/org",
            with(base.clone(), &[("org", json!({"name": "INITECH"}))]),
        ),
        // Every claim of a route's rules must be met.
        (
            "/team",
            with(
                base.clone(),
                &[
                    ("cognito:groups", json!(["admins"])),
                    ("custom:team", json!("red")),
                ],
            ),
        ),
        (
            "/team",
            with(base.clone(), &[("custom:team", json!("blue"))]),
        ),
        (
            "/team",
            with(
                base.clone(),
                &[
                    ("cognito:groups", json!(["admins"])),
                    ("custom:tenant", json!("initech")),
                    ("custom:team", json!("blue")),
                ],
            ),
        ),
    ];
    for (path, claims) in refused {
        let token = k.sign(&claims);
        let judged = judge.ask("GET", path, Some(&token)).await;
        assert!(judged.answers[0].upstream.is_empty(), "{claims}");
        judged.expect("tenants", "insufficient_claims", 403, None);
    }
    tg.shutdown().await;
}

#[tokio::test]
async fn scopes_are_checked_before_claim_rules() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = start(&rules_config(&jwks.url).replace("tenants", "scoping")).await;
    let mut judge = Judge::new(&tg, &["scoping"]).await;
    let base = with(
        claims(&jwks.url, "app"),
        &[("custom:tenant", json!("acme"))],
    );
    let scope_challenge = Some(r#"Bearer error="insufficient_scope", scope="admin""#);
    // Missing both the scope and the group: the scope is reported.
    let token = k.sign(&with(base.clone(), &[("scope", json!("read"))]));
    judge.ask("GET", "/scoped", Some(&token)).await.expect(
        "scoping",
        "insufficient_scope",
        403,
        scope_challenge,
    );
    // Missing the scope and the authorizer's own rule: still the scope.
    let token = k.sign(&without(base.clone(), "custom:tenant"));
    judge.ask("GET", "/scoped", Some(&token)).await.expect(
        "scoping",
        "insufficient_scope",
        403,
        scope_challenge,
    );
    // With the scope, the group is what is missing.
    let token = k.sign(&with(base.clone(), &[("scope", json!("admin"))]));
    judge.ask("GET", "/scoped", Some(&token)).await.expect(
        "scoping",
        "insufficient_claims",
        403,
        None,
    );
    tg.shutdown().await;
}

/// Signatures checked by the server's only authorizer so far.
fn verifications(tg: &Tokengate) -> u64 {
    tg.state.snapshot().authorizers[0].keys().verifications()
}

#[tokio::test]
async fn a_cached_token_is_judged_again_by_each_routes_rules() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = start(&rules_config(&jwks.url).replace("tenants", "cached")).await;
    let mut judge = Judge::new(&tg, &["cached"]).await;
    let ops = with(
        claims(&jwks.url, "app"),
        &[
            ("custom:tenant", json!("acme")),
            ("cognito:groups", json!(["ops"])),
            ("level", json!("3")),
        ],
    );
    let token = k.sign(&ops);
    judge
        .ask("GET", "/open", Some(&token))
        .await
        .allowed("cached");
    let verified = verifications(&tg);
    assert!(verified > 0);
    // Every later decision is a cache hit: no signature is checked again.
    judge
        .ask("GET", "/admin", Some(&token))
        .await
        .allowed("cached");
    judge
        .ask("GET", "/level", Some(&token))
        .await
        .allowed("cached");
    judge.ask("GET", "/admins-only", Some(&token)).await.expect(
        "cached",
        "insufficient_claims",
        403,
        None,
    );
    judge.ask("GET", "/team", Some(&token)).await.expect(
        "cached",
        "insufficient_claims",
        403,
        None,
    );
    judge
        .ask("GET", "/org", Some(&token))
        .await
        .expect("cached", "insufficient_claims", 403, None);
    judge
        .ask("GET", "/open", Some(&token))
        .await
        .allowed("cached");
    assert_eq!(verifications(&tg), verified, "all of these were cache hits");
    tg.shutdown().await;
}

#[tokio::test]
async fn a_deny_route_is_forbidden_whatever_the_token() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = start(&format!(
        r#"
authorizers:
  denying: {{issuer: "{}", audience: [app]}}
routes:
  "ANY /api/{{proxy+}}": {{authorizer: denying}}
  "DELETE /api/legacy": {{deny: true}}
  "$default": {{deny: true}}
"#,
        jwks.url
    ))
    .await;
    let mut judge = Judge::new(&tg, &["denying", "none"]).await;
    let token = k.sign(&claims(&jwks.url, "app"));
    judge
        .ask("DELETE", "/api/other", Some(&token))
        .await
        .allowed("denying");
    judge
        .ask("GET", "/api/legacy", Some(&token))
        .await
        .allowed("denying");
    for (method, path, token) in [
        ("DELETE", "/api/legacy", Some(token.as_str())),
        ("DELETE", "/api/legacy", None),
        ("DELETE", "/api/legacy", Some("not-a-token")),
        ("GET", "/elsewhere", Some(token.as_str())),
        ("POST", "/", None),
    ] {
        judge
            .ask(method, path, token)
            .await
            .expect("none", "no_route", 403, None);
    }
    tg.shutdown().await;
}

/// Claim rules and pools are read as written in the AWS guides: a token of the pool with the
/// group passes the route that needs it, from either issuer form.
#[tokio::test]
async fn a_pool_with_a_group_route_reads_cognito_groups() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = start(&format!(
        r#"
authorizers:
  groups: {{user_pool: {POOL}, audience: [app], token_use: access, jwks_uri: "{}/.well-known/jwks.json"}}
routes:
  "ANY /admin/{{proxy+}}": {{authorizer: groups, claims: {{"cognito:groups": [admins]}}}}
  "$default": {{authorizer: groups}}
"#,
        jwks.url
    ))
    .await;
    let mut judge = Judge::new(&tg, &["groups"]).await;
    let admin = with(
        access(UPDATED, "app"),
        &[("cognito:groups", json!(["readers", "admins"]))],
    );
    let reader = with(
        access(ORIGINAL, "app"),
        &[("cognito:groups", json!(["readers"]))],
    );
    let (admin, reader) = (k.sign(&admin), k.sign(&reader));
    judge
        .ask("POST", "/admin/users", Some(&admin))
        .await
        .allowed("groups");
    judge
        .ask("POST", "/admin/users", Some(&reader))
        .await
        .expect("groups", "insufficient_claims", 403, None);
    judge
        .ask("GET", "/home", Some(&reader))
        .await
        .allowed("groups");
    judge.ask("GET", "/admin/users", None).await.expect(
        "groups",
        "missing_token",
        401,
        Some("Bearer"),
    );
    tg.shutdown().await;
}
