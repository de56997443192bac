//! Traefik v3 forwardAuth (dynamic configuration, file provider).
//!
//! Traefik facts this relies on (v3 source and docs): forwardAuth copies the client's headers
//! to the auth request, filtered by `authRequestHeaders` when that list is not empty, then sets
//! `X-Forwarded-Method`/`-Uri`/… itself, overwriting the client's unless `trustForwardHeader`;
//! on a 2xx each `authResponseHeaders` name is deleted from the request and set from the answer
//! if it has it, and `authResponseHeadersRegex` does the same for every matching name; any
//! other answer goes to the client whole (status, headers, body).

use std::fmt::Write;

use super::{Plan, yaml_str};

pub(super) fn render(plan: &Plan<'_>) -> String {
    let mut out = plan.preamble(
        "Traefik v3 dynamic configuration (file provider): tokengate as forwardAuth.",
        &format!(
            "tokengate is reached at {}. PLACEHOLDER: the app \
             (http://127.0.0.1:8080). In Traefik's static configuration keep the entry point's \
             http.sanitizePath (the default, true), and list in forwardedHeaders.trustedIPs only \
             proxies that set X-Forwarded-* themselves.",
            plan.reach(plan.config.listen.http, "listen.http")
        ),
        "#",
    );
    out.push_str("http:\n  middlewares:\n    tokengate:\n      forwardAuth:\n");
    let _ = writeln!(
        out,
        "        address: {}",
        yaml_str(&format!("http://{}/", plan.http))
    );
    out.push_str(
        "        # X-Forwarded-Method/-Uri/-Host/-Proto/-For are Traefik's, never the client's.\n        trustForwardHeader: false\n",
    );
    // An empty list would pass every client header, X-Original-* included.
    let mut asked: Vec<&str> = plan.to_authorizer.clone();
    if asked.is_empty() {
        asked.push("authorization");
    }
    out.push_str(
        "        # Only these client headers reach tokengate (never a client's X-Original-*); Traefik\n        # adds its X-Forwarded-* after this filter.\n        authRequestHeaders:\n",
    );
    for h in asked {
        let _ = writeln!(out, "          - {}", yaml_str(&canonical(h)));
    }
    let removed: Vec<&str> = plan
        .upstream
        .iter()
        .chain(&plan.stripped)
        .copied()
        .collect();
    if !removed.is_empty() {
        out.push_str(
            "        # On a 2xx each is removed from the request, then set from tokengate's answer.\n        authResponseHeaders:\n",
        );
        for h in &removed {
            let _ = writeln!(out, "          - {}", yaml_str(&canonical(h)));
        }
    }
    if !plan.upstream.is_empty() {
        let alternatives: Vec<String> = plan.upstream.iter().map(|h| either_spelling(h)).collect();
        out.push_str(
            "        # Same, for the '_' spellings, which Go does not canonicalize to the names above.\n",
        );
        let _ = writeln!(
            out,
            "        authResponseHeadersRegex: {}",
            yaml_str(&format!("(?i)^({})$", alternatives.join("|")))
        );
    }
    out.push_str(
        r#"  routers:
    app:
      rule: "PathPrefix(`/`)"
      middlewares: [tokengate]
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:8080"
"#,
    );
    out
}

/// Go's canonical header form: `x-user-id` → `X-User-Id`.
fn canonical(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    let mut upper = true;
    for c in header.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// A regular expression (RE2) matching `header` spelt with `-` or `_` at each `-`.
fn either_spelling(header: &str) -> String {
    let mut out = String::new();
    for c in header.chars() {
        match c {
            '-' => out.push_str("[-_]"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out
}
