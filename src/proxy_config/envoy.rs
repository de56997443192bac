//! Envoy's ext_authz filter, over gRPC or in HTTP mode, behind an HTTP connection manager set
//! so that Envoy's routes, tokengate and the app read one path: RFC 3986 normalization (escapes
//! of unreserved characters decoded, dot segments removed, bytes above 0x7E escaped), `//`
//! merged, escaped `/` and `\` refused, and headers named with `_` refused. Without
//! `normalize_path` a raw non-UTF-8 byte reaches tokengate as `!` and the app as itself.

use std::fmt::Write;
use std::net::SocketAddr;

use super::{Plan, Target, yaml_str};

pub(super) fn render(plan: &Plan<'_>) -> String {
    let grpc = plan.target == Target::EnvoyGrpc;
    let (what, listener) = if grpc {
        (
            "Envoy in front of an app, tokengate answering ext_authz over gRPC.",
            format!(
                "tokengate is reached at {}.",
                plan.reach(plan.config.listen.grpc, "listen.grpc")
            ),
        )
    } else {
        (
            "Envoy in front of an app, tokengate's HTTP authorizer answering ext_authz in HTTP mode.",
            format!(
                "tokengate is reached at {}.",
                plan.reach(plan.config.listen.http, "listen.http")
            ),
        )
    };
    let mut out = plan.preamble(
        what,
        &format!(
            "{listener} PLACEHOLDERS: Envoy's listener (127.0.0.1:10000), its admin interface \
             (127.0.0.1:9901) and the app (127.0.0.1:8080). Every request goes through ext_authz, \
             public routes included: that is where forged claim headers are removed."
        ),
        "#",
    );
    out.push_str(
        r#"admin:
  address: {socket_address: {address: 127.0.0.1, port_value: 9901}}

static_resources:
  listeners:
  - name: ingress
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          use_remote_address: true
          # One path for Envoy's routes, tokengate and the app (see tokengate's README, "Trust
          # boundary"): normalized, // merged, %2F and %5C refused; and headers named with '_'
          # (x_user_id, read as X-User-Id by CGI-style apps) refused.
          normalize_path: true
          merge_slashes: true
          path_with_escaped_slashes_action: REJECT_REQUEST
          common_http_protocol_options: {headers_with_underscores_action: REJECT_REQUEST}
          route_config:
            virtual_hosts:
            - name: app
              domains: ["*"]
              routes:
              - match: {prefix: /}
                route: {cluster: app}
          http_filters:
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              failure_mode_allow: false
              # tokengate unreachable, or (HTTP mode) any 5xx from it: 503, not Envoy's 403.
              status_on_error: {code: ServiceUnavailable}
"#,
    );
    if grpc {
        out.push_str(
            r#"              grpc_service:
                envoy_grpc: {cluster_name: tokengate_grpc}
                timeout: 0.25s
"#,
        );
    } else {
        http_service(plan, &mut out);
    }
    out.push_str(
        r#"          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router

  clusters:
"#,
    );
    if grpc {
        cluster(&mut out, "tokengate_grpc", plan.grpc, true);
    } else {
        cluster(&mut out, "tokengate_http", plan.http, false);
    }
    cluster(
        &mut out,
        "app",
        SocketAddr::from(([127, 0, 0, 1], 8080)),
        false,
    );
    out
}

/// HTTP mode: what Envoy sends tokengate, and which of its answer's headers go where.
fn http_service(plan: &Plan<'_>, out: &mut String) {
    if !plan.to_authorizer.is_empty() {
        out.push_str(if plan.config.cors.is_some() {
            "              # Sent to tokengate besides Host, the method, the path (after \
                 path_prefix) and\n              # Authorization: every header a token may be \
                 read from, and what marks a CORS\n              # preflight (which tokengate \
                 lets through: the app or a CORS filter answers it).\n"
        } else {
            "              # Sent to tokengate besides Host, the method, the path (after \
                 path_prefix) and\n              # Authorization: every header a token may be \
                 read from.\n"
        });
        patterns(out, "              allowed_headers", &plan.to_authorizer);
    }
    let _ = writeln!(
        out,
        "              http_service:\n                server_uri: {{uri: {}, cluster: tokengate_http, timeout: 0.25s}}",
        yaml_str(&format!("http://{}", plan.http))
    );
    let prefix = &plan.config.http.path_prefix;
    if !prefix.is_empty() {
        let _ = writeln!(
            out,
            "                path_prefix: {}  # tokengate's http.path_prefix",
            yaml_str(prefix)
        );
    }
    out.push_str("                authorization_response:\n");
    if !plan.upstream.is_empty() {
        out.push_str(
            "                  # Claim headers tokengate sets replace the client's; the ones it \
             did not set (and\n                  # their '_' twins) it names in \
             x-envoy-auth-headers-to-remove.\n",
        );
        patterns(
            out,
            "                  allowed_upstream_headers",
            &plan.upstream,
        );
    }
    out.push_str(
        "                  # A denial's body, status and WWW-Authenticate (always passed once \
         this list is set),\n                  # and these.\n",
    );
    let client: Vec<&str> = plan
        .denial
        .iter()
        .copied()
        .filter(|h| *h != "www-authenticate")
        .collect();
    patterns(out, "                  allowed_client_headers", &client);
}

fn patterns(out: &mut String, key: &str, names: &[&str]) {
    let _ = writeln!(out, "{key}:");
    let indent = " ".repeat(key.len() - key.trim_start().len());
    let _ = writeln!(out, "{indent}  patterns:");
    for n in names {
        let _ = writeln!(out, "{indent}  - {{exact: {}}}", yaml_str(n));
    }
}

fn cluster(out: &mut String, name: &str, addr: SocketAddr, http2: bool) {
    let _ = writeln!(
        out,
        "  - name: {name}\n    type: STATIC\n    connect_timeout: 0.25s"
    );
    if http2 {
        out.push_str(
            r#"    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
"#,
        );
    }
    let _ = writeln!(
        out,
        "    load_assignment:\n      cluster_name: {name}\n      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: {}, port_value: {}}}}}}}}}]}}]",
        yaml_str(&addr.ip().to_string()),
        addr.port()
    );
}
