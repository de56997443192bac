//! nginx `auth_request`: the protected location, the auth subrequest, and the error pages that
//! give denials tokengate's JSON bodies and headers.
//!
//! nginx facts this relies on (1.22): every client header reaches the auth subrequest; only
//! 2xx, 401 and 403 from it are honoured (anything else is a 500, hence tokengate's 403 for a
//! bad request in this convention); nginx's own 401/403 pages drop the subrequest's headers
//! but `WWW-Authenticate` on a 401; `add_header` skips an empty value; `proxy_set_header` with
//! an empty value removes the header; `proxy_pass` without a URI part sends the target as the
//! client sent it, the bytes tokengate judged. With `cors`, the error pages add the CORS
//! headers and `Vary` of tokengate's denial, and nothing is added to the app's own answers
//! (`add_header` only in the error locations): the app answers CORS for what it serves.

use std::fmt::Write;

use super::Plan;

/// `$upstream_http_x_user_id` style name part for a header.
fn var(header: &str) -> String {
    header.replace('-', "_")
}

pub(super) fn render(plan: &Plan<'_>) -> String {
    let mut out = plan.preamble(
        "nginx in front of an app, tokengate's HTTP authorizer deciding every request.",
        &format!(
            "tokengate is reached at {}. PLACEHOLDERS: nginx's own `listen` \
             (127.0.0.1:8000) and the app (127.0.0.1:8080). Keep nginx's defaults \
             underscores_in_headers off and ignore_invalid_headers on (a client's x_user_id is \
             then dropped before tokengate and the app), and proxy_pass without a URI part (the \
             app then gets the request target exactly as tokengate judged it).",
            plan.reach(plan.config.listen.http, "listen.http")
        ),
        "#",
    );
    let _ = writeln!(
        out,
        "worker_processes auto;\nevents {{ worker_connections 1024; }}\n\nhttp {{"
    );
    let _ = writeln!(
        out,
        "    upstream tokengate {{ server {}; keepalive 32; }}",
        plan.http
    );
    out.push_str("    upstream app { server 127.0.0.1:8080; keepalive 32; }\n");
    strip_maps(plan, &mut out);
    out.push_str(
        r#"
    server {
        listen 127.0.0.1:8000;

        # nginx's own 400s (bad request line, duplicate Authorization) as JSON. A URI, not a
        # named location: a request whose line failed to parse has no URI to redirect from.
        error_page 400 /_tokengate_400;

        location / {
            auth_request /_tokengate;

"#,
    );
    upstream_headers(plan, &mut out);
    denial_variables(plan, &mut out);
    out.push_str(
        r#"
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # No URI part: the app gets $request_uri, the target tokengate judged.
            proxy_pass http://app;
        }

        location = /_tokengate {
            internal;
            proxy_pass http://tokengate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            # Every client header reaches this subrequest: blank the other family, so no
            # client-sent value can be read as the original request.
            proxy_set_header X-Forwarded-Uri "";
            proxy_set_header X-Forwarded-Method "";
            proxy_set_header X-Real-IP $remote_addr;
        }
"#,
    );
    error_pages(plan, &mut out);
    out.push_str("    }\n}\n");
    out
}

/// `strip_token` on a header: removed when tokengate names it in
/// `x-envoy-auth-headers-to-remove`, kept otherwise (public routes, a token from elsewhere).
fn strip_maps(plan: &Plan<'_>, out: &mut String) {
    if plan.stripped.is_empty() {
        return;
    }
    out.push_str(
        "\n    # strip_token: the header that carried the token is removed when tokengate names \
         it.\n",
    );
    for h in &plan.stripped {
        let _ = writeln!(
            out,
            "    map $tg_removed $tg_keep_{v} {{\n        \"~*(^|,){h}(,|$)\" \"\";\n        default $http_{v};\n    }}",
            v = var(h)
        );
    }
}

fn upstream_headers(plan: &Plan<'_>, out: &mut String) {
    if !plan.upstream.is_empty() {
        out.push_str(
            "            # Claim and payload headers: tokengate's value, or none; the client's \
             is replaced.\n",
        );
        for h in &plan.upstream {
            let v = var(h);
            let _ = writeln!(
                out,
                "            auth_request_set $tg_set_{v} $upstream_http_{v};\n            proxy_set_header {h} $tg_set_{v};"
            );
        }
        out.push_str(
            "            # Their `_` twins, which CGI-style apps read as the same headers, in \
             case\n            # underscores_in_headers is ever turned on.\n",
        );
        for t in &plan.twins {
            let _ = writeln!(out, "            proxy_set_header {t} \"\";");
        }
    }
    if !plan.stripped.is_empty() {
        out.push_str(
            "            auth_request_set $tg_removed $upstream_http_x_envoy_auth_headers_to_remove;\n",
        );
        for h in &plan.stripped {
            let _ = writeln!(out, "            proxy_set_header {h} $tg_keep_{};", var(h));
        }
    }
}

/// What a denial carries into the error pages, and the pages it goes to.
fn denial_variables(plan: &Plan<'_>, out: &mut String) {
    out.push_str(
        "\n            # What a denial carries, for the error pages below: nginx drops the \
         subrequest's\n            # headers from its own pages (but WWW-Authenticate on a 401).\n",
    );
    out.push_str("            auth_request_set $tg_deny_status $upstream_status;\n");
    for h in carried(plan) {
        let v = var(h);
        let _ = writeln!(
            out,
            "            auth_request_set $tg_deny_{v} $upstream_http_{v};"
        );
    }
    out.push_str(
        "            error_page 401 = @tokengate_401;\n            error_page 403 = @tokengate_403;\n            # tokengate's 503 (keys never loaded), which nginx turns into a 500.\n            error_page 500 = @tokengate_500;\n",
    );
}

/// Denial headers the error pages add themselves (`content-type` comes from `default_type`).
fn carried<'p>(plan: &'p Plan<'_>) -> impl Iterator<Item = &'static str> + 'p {
    plan.denial.iter().copied().filter(|h| *h != "content-type")
}

fn error_pages(plan: &Plan<'_>, out: &mut String) {
    out.push_str("\n        # Empty variables add nothing: add_header skips empty values.\n");
    for (status, body) in [(401, "Unauthorized"), (403, "Forbidden")] {
        let _ = writeln!(out, "        location @tokengate_{status} {{");
        for h in carried(plan) {
            // nginx itself copies the 401's WWW-Authenticate; adding it would send it twice.
            if status == 401 && h == "www-authenticate" {
                continue;
            }
            let _ = writeln!(
                out,
                "            add_header {h} $tg_deny_{} always;",
                var(h)
            );
        }
        let _ = writeln!(
            out,
            "            default_type application/json;\n            return {status} '{{\"message\":\"{body}\"}}';\n        }}"
        );
    }
    out.push_str("        location @tokengate_500 {\n");
    // A 503 carries tokengate's headers too; a real 500 has none to carry, and adds none.
    for h in carried(plan).filter(|h| *h != "www-authenticate") {
        let _ = writeln!(
            out,
            "            add_header {h} $tg_deny_{} always;",
            var(h)
        );
    }
    out.push_str(
        r#"            default_type application/json;
            if ($tg_deny_status = 503) {
                return 503 '{"message":"Service Unavailable"}';
            }
            return 500 '{"message":"Internal Server Error"}';
        }
        location = /_tokengate_400 {
            internal;
            default_type application/json;
            return 400 '{"message":"Bad Request"}';
        }
"#,
    );
}
