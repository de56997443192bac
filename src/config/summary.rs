//! The one-screen summary `check-config` prints for a valid config.

use super::{Audience, ClaimRule, Config, Jwks, Rule};

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
