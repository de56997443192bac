//! The one-screen summary `check-config` prints for a valid config.

use super::{Config, Rule};

/// A one-screen summary of a checked config, for `check-config`.
pub fn summary(c: &Config) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "listen: grpc {}, http {}, admin {}",
        c.listen.grpc, c.listen.http, c.listen.admin
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
        let jwks = a.jwks_uri.as_deref().unwrap_or("(OIDC discovery)");
        let _ = writeln!(
            out,
            "  {}: issuer {}, audience [{}], jwks {jwks}",
            a.name,
            a.issuer,
            a.audience.join(", ")
        );
    }
    let _ = writeln!(out, "routes ({}):", c.routes.len());
    for r in &c.routes {
        let what = match &r.rule {
            Rule::Public => "public".to_owned(),
            Rule::Protected {
                authorizers,
                scopes,
            } if scopes.is_empty() => authorizers.join(" | "),
            Rule::Protected {
                authorizers,
                scopes,
            } => {
                format!("{} scopes [{}]", authorizers.join(" | "), scopes.join(", "))
            }
        };
        let _ = writeln!(out, "  {}: {what}", r.key);
    }
    out
}
