//! The one-screen summary `check-config` prints for a valid config: listeners, cache,
//! authorizers, routes, the headers the upstream may trust and behind which proxy setups, and
//! the settings a transport cannot honour.

use super::{Audience, ClaimRule, Config, Jwks, Rule};
use crate::proxy_config::{self, Target};

/// A one-screen summary of a checked config, for `check-config`.
pub fn summary(c: &Config) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "listen: grpc {}, http {}, admin {}",
        c.listen.grpc, c.listen.http, c.listen.admin
    );
    let prefix = if c.http.path_prefix.is_empty() {
        "(none)"
    } else {
        &c.http.path_prefix
    };
    let paths = match c.paths {
        super::Paths::Strict => "strict",
        super::Paths::Raw => "raw (routes match the path as sent)",
    };
    let _ = writeln!(
        out,
        "http: original_request {}, path_prefix {prefix}; paths: {paths}",
        c.http.original_request.as_str()
    );
    let cache = if c.cache.tokens == 0 {
        "off".to_owned()
    } else {
        format!(
            "{} tokens, max_ttl {}",
            c.cache.tokens,
            humantime::format_duration(c.cache.max_ttl)
        )
    };
    let _ = writeln!(out, "cache: {cache}");
    let _ = writeln!(out, "authorizers ({}):", c.authorizers.len());
    for a in &c.authorizers {
        let jwks = match &a.jwks {
            Jwks::Discover => "(OIDC discovery)".to_owned(),
            Jwks::Url(url) => url.clone(),
            Jwks::File(file) => format!("file {}", file.display()),
        };
        let issuer = match &a.pool {
            Some(pool) => format!("user pool {} ({})", pool.id, pool.issuers().join(" or ")),
            None => format!("issuer {}", a.issuer),
        };
        let audience = match &a.audience {
            Audience::Clients(list) => format!("audience [{}]", list.join(", ")),
            Audience::AnyAppClient => "any app client of the pool".to_owned(),
        };
        let _ = writeln!(out, "  {}: {issuer}, {audience}, jwks {jwks}", a.name);
        if !a.claims.is_empty() {
            let _ = writeln!(out, "    claims {}", rules(&a.claims));
        }
    }
    let _ = writeln!(out, "routes ({}):", c.routes.len());
    for r in &c.routes {
        let what = match &r.rule {
            Rule::Public => "public".to_owned(),
            Rule::Deny => "deny".to_owned(),
            Rule::Protected {
                authorizers,
                scopes,
                claims,
            } => {
                let mut what = authorizers.join(" | ");
                if !scopes.is_empty() {
                    what.push_str(&format!(" scopes [{}]", scopes.join(", ")));
                }
                if !claims.is_empty() {
                    what.push_str(&format!(" claims {}", rules(claims)));
                }
                what
            }
        };
        let _ = writeln!(out, "  {}: {what}", r.key);
    }
    trust(c, &mut out);
    if let Some(rev) = &c.revocation {
        let _ = writeln!(
            out,
            "revocation: {} ({} entries, checked every {})",
            rev.file.display(),
            rev.list.len(),
            humantime::format_duration(rev.refresh)
        );
    }
    out
}

/// What a valid config may still get wrong: settings that weaken a check on purpose.
pub fn warnings(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for a in &c.authorizers {
        if a.audience == Audience::AnyAppClient {
            out.push(format!(
                "authorizers.{}.any_app_client: tokens of ANY app client of the pool are \
                 accepted, as API Gateway's REST Cognito authorizer does; list the app client \
                 ids in `audience` to accept only yours",
                a.name
            ));
        }
    }
    out
}

/// `{"cognito:groups": [admins, ops]}`.
fn rules(rules: &[ClaimRule]) -> String {
    let each: Vec<String> = rules
        .iter()
        .map(|r| format!("{:?}: [{}]", r.claim, r.values.join(", ")))
        .collect();
    format!("{{{}}}", each.join(", "))
}

/// The headers the upstream may trust, the proxy setups under which it may, and the warnings.
fn trust(c: &Config, out: &mut String) {
    use std::fmt::Write;
    let mut headers: Vec<String> = Vec::new();
    for a in &c.authorizers {
        for (claim, h) in &a.claims_to_headers {
            headers.push(format!("{h} ({}: {claim})", a.name));
        }
        if let Some(h) = &a.forward_payload_header {
            headers.push(format!("{h} ({}: payload)", a.name));
        }
    }
    if headers.is_empty() {
        let _ = writeln!(out, "upstream headers: none");
    } else {
        let _ = writeln!(
            out,
            "upstream headers (set from a verified token, else removed, with their `_` twins):
  {}",
            headers.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "trusted only behind a proxy set up by `tokengate proxy-config TARGET`:"
    );
    for target in Target::ALL {
        let refused = proxy_config::refusals(c, target);
        let verdict = match (refused.first(), target.mode()) {
            (Some(r), _) => format!("cannot: {r}"),
            (None, Some(fit)) if fit != c.http.original_request => format!(
                "yes (http.original_request {}; {} is the exact fit)",
                c.http.original_request.as_str(),
                fit.as_str()
            ),
            (None, _) => "yes".to_owned(),
        };
        let _ = writeln!(out, "  {:<10} {verdict}", target.as_str());
    }
    for w in proxy_config::warnings(c) {
        let _ = writeln!(out, "warning: {w}");
    }
}
