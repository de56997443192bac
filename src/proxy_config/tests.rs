use super::*;

fn config(http: &str, authorizer: &str) -> Config {
    let yaml = format!(
        "http: {http}\nauthorizers:\n  main:\n    issuer: https://issuer.example\n    audience: [api]\n{authorizer}routes:\n  \"$default\": {{authorizer: main}}\n"
    );
    Config::parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn mode(m: &str) -> Config {
    config(&format!("{{original_request: {m}}}"), "")
}

#[test]
fn each_target_refuses_the_modes_that_would_judge_another_request() {
    use Target::*;
    // (mode, targets that work with it)
    let table = [
        ("auto", vec![EnvoyGrpc, EnvoyHttp, Nginx, Traefik]),
        ("nginx", vec![EnvoyGrpc, Nginx]),
        ("forwarded", vec![EnvoyGrpc, Traefik]),
        ("request_line", vec![EnvoyGrpc, EnvoyHttp]),
    ];
    for (m, works) in table {
        let c = mode(m);
        for target in Target::ALL {
            let refused = refusals(&c, target);
            assert_eq!(
                refused.is_empty(),
                works.contains(&target),
                "{m} with {target}: {refused:?}"
            );
            if let Some(r) = refused.first() {
                assert!(matches!(r, Refusal::Mode { .. }));
                let text = r.to_string();
                assert!(text.contains(&format!("is `{m}`")), "{text}");
                assert!(render(&c, target).is_err());
            }
        }
    }
    // Each target names the mode made for it.
    let text = Refusal::Mode {
        target: EnvoyHttp,
        mode: OriginalRequest::Nginx,
        why: "x",
    }
    .to_string();
    assert!(text.contains("use `request_line` (or `auto`)"), "{text}");
}

#[test]
fn a_token_header_named_with_an_underscore_is_refused_where_the_proxy_drops_it() {
    let c = config(
        "{}",
        "    identity_source: [\"$request.header.X_Token\", \"$request.cookie.s\"]\n",
    );
    for target in [Target::Nginx, Target::EnvoyGrpc, Target::EnvoyHttp] {
        assert_eq!(
            refusals(&c, target),
            [Refusal::UnderscoreSource {
                target,
                authorizer: "main".into(),
                header: "x_token".into()
            }]
        );
    }
    assert!(refusals(&c, Target::Traefik).is_empty());
}

#[test]
fn nginx_refuses_a_header_its_variables_cannot_name() {
    let c = config("{}", "    claims_to_headers: {sub: x.user}\n");
    assert_eq!(
        refusals(&c, Target::Nginx),
        [Refusal::NginxName {
            header: "x.user".into()
        }]
    );
    assert!(refusals(&c, Target::EnvoyHttp).is_empty());
}

const FULL: &str = "    identity_source: [\"$request.header.X-Token\", \"$request.querystring.t\", \"$request.cookie.s\"]\n    claims_to_headers: {sub: x-user-id, \"cognito:groups\": x-user-groups}\n    forward_payload_header: x-jwt-payload\n    strip_token: true\n";

#[test]
fn the_plan_lists_every_upstream_header_token_header_and_twin_once() {
    let mut c = config("{path_prefix: /authz}", FULL);
    let mut second = c.authorizers[0].clone();
    second.name = "other".into();
    c.authorizers.push(second);
    let p = Plan::new(&c, Target::EnvoyHttp);
    assert_eq!(p.upstream, ["x-user-id", "x-user-groups", "x-jwt-payload"]);
    assert_eq!(p.twins, ["x_user_id", "x_user_groups", "x_jwt_payload"]);
    assert_eq!(p.to_authorizer, ["x-token", "cookie"]);
    assert_eq!(p.stripped, ["x-token"]);
}

#[test]
fn every_target_passes_on_every_header_and_reads_every_source() {
    let c = config("{path_prefix: /authz}", FULL);
    let nginx = render(&c, Target::Nginx).expect("nginx");
    for h in ["x-user-id", "x-user-groups", "x-jwt-payload"] {
        let v = h.replace('-', "_");
        assert!(
            nginx.contains(&format!("auth_request_set $tg_set_{v} $upstream_http_{v};")),
            "{h}"
        );
        assert!(nginx.contains(&format!("proxy_set_header {h} $tg_set_{v};")));
        assert!(nginx.contains(&format!("proxy_set_header {v} \"\";")));
    }
    // strip_token on a header: removed only when tokengate names it.
    assert!(nginx.contains("map $tg_removed $tg_keep_x_token {"));
    assert!(nginx.contains("proxy_set_header x-token $tg_keep_x_token;"));

    let http = render(&c, Target::EnvoyHttp).expect("envoy-http");
    for h in [
        "x-token",
        "cookie",
        "x-user-id",
        "x-user-groups",
        "x-jwt-payload",
    ] {
        assert!(http.contains(&format!("- {{exact: {h}}}")), "{h}");
    }
    assert!(http.contains("path_prefix: /authz"));
    assert!(http.contains("status_on_error: {code: ServiceUnavailable}"));
    for setting in [
        "normalize_path: true",
        "merge_slashes: true",
        "path_with_escaped_slashes_action: REJECT_REQUEST",
        "headers_with_underscores_action: REJECT_REQUEST",
    ] {
        assert!(http.contains(setting), "{setting}");
        assert!(
            render(&c, Target::EnvoyGrpc)
                .expect("grpc")
                .contains(setting)
        );
    }

    let traefik = render(&c, Target::Traefik).expect("traefik");
    for h in [
        "X-Token",
        "Cookie",
        "X-User-Id",
        "X-User-Groups",
        "X-Jwt-Payload",
    ] {
        assert!(traefik.contains(&format!("          - {h}\n")), "{h}");
    }
    assert!(traefik.contains(
        r#"authResponseHeadersRegex: "(?i)^(x[-_]user[-_]id|x[-_]user[-_]groups|x[-_]jwt[-_]payload)$""#
    ));
}

#[test]
fn settings_a_target_cannot_honour_are_warned_about_for_that_target() {
    let c = config("{}", FULL);
    let w = warnings(&c);
    let for_target = |t: Target| -> Vec<String> {
        w.iter()
            .filter(|w| w.targets.contains(&t))
            .map(|w| w.message.clone())
            .collect()
    };
    let grpc = for_target(Target::EnvoyGrpc);
    assert!(grpc.iter().any(|m| m.contains("Cookie header")));
    assert!(!grpc.iter().any(|m| m.contains("only envoy-grpc removes")));
    let nginx = for_target(Target::Nginx);
    assert!(nginx.iter().any(|m| m.contains("only envoy-grpc removes")));
    assert!(nginx.iter().any(|m| m.contains("$request_uri")));
    assert!(
        for_target(Target::Traefik)
            .iter()
            .any(|m| m.contains("public routes included"))
    );
    // And they are in the output, as comments.
    let out = render(&c, Target::Nginx).expect("nginx");
    assert!(out.contains("# WARNING authorizers.main.strip_token:"));
    // A plain config has none.
    assert!(warnings(&mode("auto")).is_empty());
}

#[test]
fn an_unspecified_listen_address_is_reached_on_loopback() {
    let c = Config::parse(
        "listen: {grpc: \"0.0.0.0:1\", http: \"[::]:2\"}\nauthorizers: {}\nroutes: {}\n",
    )
    .expect("config");
    let p = Plan::new(&c, Target::EnvoyGrpc);
    assert_eq!(p.grpc.to_string(), "127.0.0.1:1");
    assert_eq!(p.http.to_string(), "[::1]:2");
    let out = render(&c, Target::EnvoyHttp).expect("envoy-http");
    assert!(out.contains("socket_address: {address: \"::1\", port_value: 2}"));
    assert!(out.contains("listen.http is [::]:2: replace with tokengate's host"));
}

#[test]
fn the_mode_made_for_the_proxy_is_named() {
    let out = render(&mode("auto"), Target::Nginx).expect("nginx");
    assert!(out.contains("# tokengate's http.original_request for this proxy: nginx\n"));
    assert!(out.contains("this config has `auto`, which works"));
    let out = render(&mode("forwarded"), Target::Traefik).expect("traefik");
    assert!(out.contains("for this proxy: forwarded\n"));
    assert!(!out.contains("`auto`"));
}

fn with_cors(original_request: &str) -> Config {
    let yaml = format!(
        "http: {{original_request: {original_request}, path_prefix: /authz}}\ncors: {{allow_origins: [\"https://app.example\"], allow_credentials: true}}\nauthorizers:\n  main:\n    issuer: https://issuer.example\n    audience: [api]\nroutes:\n  \"$default\": {{authorizer: main}}\n"
    );
    Config::parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

const CORS_OUT: [&str; 4] = [
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "vary",
];

#[test]
fn with_cors_nginx_carries_the_denial_headers_into_its_error_pages_only() {
    let out = render(&with_cors("auto"), Target::Nginx).expect("nginx");
    for h in CORS_OUT {
        let v = h.replace('-', "_");
        assert!(
            out.contains(&format!(
                "auth_request_set $tg_deny_{v} $upstream_http_{v};"
            )),
            "{h}"
        );
        // Once in each of the 401, 403 and 500 pages.
        assert_eq!(
            out.matches(&format!("add_header {h} $tg_deny_{v} always;"))
                .count(),
            3,
            "{h}\n{out}"
        );
    }
    // The app's own answers are untouched: no add_header outside the error locations.
    let protected = &out[out.find("location / {").expect("location /")..];
    let protected = &protected[..protected.find("\n        }\n").expect("end")];
    assert!(!protected.contains("add_header"), "{protected}");
    // The 401 page still leaves WWW-Authenticate to nginx, which copies it itself.
    let page = &out[out.find("location @tokengate_401").expect("401")..];
    let page = &page[..page.find('}').expect("end")];
    assert!(!page.contains("www-authenticate"), "{page}");

    // Without cors, none of it.
    let plain = render(&mode("auto"), Target::Nginx).expect("nginx");
    assert!(!plain.contains("access-control"), "{plain}");
    assert!(!plain.contains("vary"));
}

#[test]
fn with_cors_envoy_http_sends_the_preflight_headers_and_passes_the_cors_answer() {
    let out = render(&with_cors("request_line"), Target::EnvoyHttp).expect("envoy-http");
    let section = |key: &str| -> Vec<String> {
        let start = out
            .find(&format!("{key}:"))
            .unwrap_or_else(|| panic!("{key}"));
        out[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.trim_start().starts_with("- {exact:"))
            .map(|l| {
                l.trim_start()
                    .trim_start_matches("- {exact: ")
                    .trim_end_matches('}')
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        section("allowed_headers"),
        [
            "authorization",
            "origin",
            "access-control-request-method",
            "access-control-request-headers"
        ]
    );
    let client = section("allowed_client_headers");
    assert_eq!(client[0], "content-type");
    assert_eq!(client[1..], CORS_OUT);
    let plain = render(&mode("request_line"), Target::EnvoyHttp).expect("envoy-http");
    assert!(!plain.contains("{exact: origin}"), "{plain}");
    assert!(!plain.contains("access-control"));
}

#[test]
fn with_cors_traefik_lets_the_preflight_headers_reach_tokengate() {
    let out = render(&with_cors("forwarded"), Target::Traefik).expect("traefik");
    for h in [
        "Origin",
        "Access-Control-Request-Method",
        "Access-Control-Request-Headers",
    ] {
        assert!(out.contains(&format!("          - {h}\n")), "{h}\n{out}");
    }
    // Envoy over gRPC sees every header and passes every denial header already.
    let grpc = render(&with_cors("auto"), Target::EnvoyGrpc).expect("grpc");
    assert_eq!(
        grpc,
        render(&mode("auto"), Target::EnvoyGrpc).expect("grpc")
    );
}
