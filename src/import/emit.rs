//! Writes an imported API as a tokengate config: a header naming the source and the command,
//! the authorizers its routes use, one commented line per route in a stable order, and `cors`.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::model::{Access, Api, Authorizer, DEFAULT_SOURCE};

/// One emitted authorizer: a REST Cognito authorizer becomes one per pool and token use.
struct Emitted {
    name: String,
    body: Vec<String>,
    comment: String,
}

/// The config text for `api`; `command` is how the import was run.
pub fn config(api: &Api, command: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# tokengate config imported from {}",
        comment(&api.place.file)
    );
    let line = api
        .place
        .line
        .map(|l| format!(", line {l}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "# API: {} ({}{line})",
        comment(&api.what),
        api.flavor.as_str()
    );
    let _ = writeln!(out, "# by: {}", comment(command));
    let _ = writeln!(
        out,
        "# Each route says where it came from; check with `tokengate check-config`."
    );
    for w in &api.warnings {
        let _ = writeln!(out, "# warning: {}", comment(w));
    }

    let mut routes: Vec<_> = api.routes.iter().collect();
    routes.sort_by_key(|r| order(&r.key));

    let mut emitted: Vec<Emitted> = Vec::new();
    let mut names: HashMap<(Authorizer, Option<usize>, bool), String> = HashMap::new();
    let mut lines: Vec<String> = Vec::new();
    for route in &routes {
        let line = route
            .place
            .line
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        let mut text = format!(
            "  # from {}{line}: {}\n",
            comment(&route.place.file),
            comment(&route.from)
        );
        let value = match &route.access {
            Access::Public => "{public: true}".to_owned(),
            Access::Refused(p) => {
                let _ = writeln!(
                    text,
                    "  # denied: not carried over: {} ({})",
                    comment(&p.message),
                    comment(&p.place.to_string())
                );
                "{deny: true}".to_owned()
            }
            Access::Guarded { authorizer, scopes } => {
                let refs = refer(authorizer, scopes, &mut names, &mut emitted);
                let target = if refs.len() == 1 {
                    scalar(&refs[0])
                } else {
                    list(&refs)
                };
                if scopes.is_empty() {
                    format!("{{authorizer: {target}}}")
                } else {
                    format!("{{authorizer: {target}, scopes: {}}}", list(scopes))
                }
            }
        };
        let _ = writeln!(text, "  {}: {value}", quoted(&route.key));
        lines.push(text);
    }

    if !emitted.is_empty() {
        out.push_str("authorizers:\n");
        for a in &emitted {
            let _ = writeln!(out, "  # {}", comment(&a.comment));
            let _ = writeln!(out, "  {}:", scalar(&a.name));
            for b in &a.body {
                let _ = writeln!(out, "    {b}");
            }
        }
    }
    if lines.is_empty() {
        out.push_str("# The API has no routes: tokengate denies every request.\nroutes: {}\n");
    } else {
        out.push_str("routes:\n");
        for l in &lines {
            out.push_str(l);
        }
    }
    if let Some(cors) = &api.cors {
        out.push_str("# API Gateway answers CORS preflights before any authorizer.\ncors:\n");
        let _ = writeln!(out, "  allow_origins: {}", list(&cors.origins));
        let _ = writeln!(out, "  allow_credentials: {}", cors.credentials);
        if !cors.expose.is_empty() {
            let _ = writeln!(out, "  expose_headers: {}", list(&cors.expose));
        }
    }
    out
}

/// Routes by path, then method; `$default` last.
fn order(key: &str) -> (bool, String, String) {
    match key.split_once(' ') {
        Some((m, p)) => (false, p.to_owned(), m.to_owned()),
        None => (true, String::new(), key.to_owned()),
    }
}

/// The emitted authorizer names a route uses, emitting them on first use.
fn refer(
    a: &Authorizer,
    scopes: &[String],
    names: &mut HashMap<(Authorizer, Option<usize>, bool), String>,
    emitted: &mut Vec<Emitted>,
) -> Vec<String> {
    let mut out = Vec::new();
    match a {
        Authorizer::Jwt {
            name,
            issuer,
            audience,
            sources,
        } => {
            let key = (a.clone(), None, false);
            let n = names.entry(key).or_insert_with(|| {
                let n = unique(&sanitize(name), emitted);
                let mut body = vec![
                    format!("issuer: {}", scalar(issuer)),
                    format!("audience: {}", list(audience)),
                ];
                if sources != &[DEFAULT_SOURCE] {
                    body.push(format!("identity_source: {}", list(sources)));
                }
                emitted.push(Emitted {
                    name: n.clone(),
                    body,
                    comment: format!("JWT authorizer {name}"),
                });
                n
            });
            out.push(n.clone());
        }
        Authorizer::Cognito {
            name,
            pools,
            sources,
        } => {
            // API Gateway's REST Cognito authorizer takes ID tokens on a method without scopes
            // and access tokens on one with scopes, from any app client of the pool.
            // https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-enable-cognito-user-pool.html
            let access = !scopes.is_empty();
            let token_use = if access { "access" } else { "id" };
            for (i, pool) in pools.iter().enumerate() {
                // A pool named twice is one authorizer (two with one issuer would not load).
                if pools[..i].contains(pool) {
                    continue;
                }
                let key = (a.clone(), Some(i), access);
                let n = names.entry(key).or_insert_with(|| {
                    let base = if pools.len() == 1 {
                        format!("{}-{token_use}", sanitize(name))
                    } else {
                        let id = pool.rsplit('/').next().unwrap_or(pool);
                        format!("{}-{}-{token_use}", sanitize(name), sanitize(id))
                    };
                    let n = unique(&base, emitted);
                    let mut body = vec![
                        format!("user_pool: {}", scalar(pool)),
                        "any_app_client: true".to_owned(),
                    ];
                    if access {
                        // API Gateway checks the method's scopes against whatever token it is
                        // given there, so an ID token (no `scope`) is refused 403, not 401 as
                        // `token_use: access` would answer. A claim rule keeps ID tokens out
                        // with the same 403, even one whose `scope` a trigger filled.
                        body.push("# an ID token is refused 403 here, as API Gateway refuses it (it has no scopes)".to_owned());
                        body.push("claims: {token_use: [access]}".to_owned());
                    } else {
                        body.push(format!("token_use: {token_use}"));
                    }
                    if sources != &[DEFAULT_SOURCE] {
                        body.push(format!("identity_source: {}", list(sources)));
                    }
                    let which = if access {
                        "methods with scopes: access tokens"
                    } else {
                        "methods without scopes: ID tokens"
                    };
                    let comment =
                        format!("Cognito authorizer {name} on {which}, of any app client");
                    emitted.push(Emitted {
                        name: n.clone(),
                        body,
                        comment,
                    });
                    n
                });
                out.push(n.clone());
            }
        }
    }
    out
}

fn unique(base: &str, emitted: &[Emitted]) -> String {
    let mut name = base.to_owned();
    let mut i = 2;
    while emitted.iter().any(|e| e.name == name) || name == "none" {
        name = format!("{base}-{i}");
        i += 1;
    }
    name
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() { "authorizer".into() } else { s }
}

/// A YAML scalar, plain when that is unambiguous (no `:`, so URLs and ARNs are quoted), else
/// double-quoted (JSON's quoting is YAML's).
pub fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain { s.to_owned() } else { quoted(s) }
}

pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| scalar(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// Text from the template as one comment line: control characters escaped.
fn comment(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
