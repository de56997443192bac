//! The `routes` map: API Gateway route keys, each public, denied, or judged by one or more
//! authorizers with scopes and claim rules.

use std::collections::{BTreeMap, HashMap};

use marked_yaml::Node;

use super::super::yaml::Reader;
use super::super::{Authorizer, Route, Rule};
use super::authorizer::claim_rules;
use crate::route::RouteKey;

pub(in crate::config) fn read(
    r: &mut Reader,
    node: &Node,
    authorizers: &[Authorizer],
) -> Vec<Route> {
    let names: HashMap<&str, &Authorizer> =
        authorizers.iter().map(|a| (a.name.as_str(), a)).collect();
    let mut shapes: HashMap<String, String> = HashMap::new();
    let mut routes = Vec::new();
    for (key, line, body) in r.entries(node, "routes") {
        let path = format!("routes[{key:?}]");
        let parsed = if key == "$default" {
            None
        } else {
            match RouteKey::parse(key) {
                Ok(k) => {
                    if let Some(first) = shapes.insert(k.shape(), key.to_owned()) {
                        r.problem_at(
                            &path,
                            line,
                            format!("duplicate route: `{key}` is the same route as `{first}`"),
                        );
                    }
                    Some(k)
                }
                Err(e) => {
                    r.problem_at(&path, line, e.to_string());
                    continue;
                }
            }
        };
        if let Some(rule) = rule(r, body, line, &path, &names) {
            routes.push(Route {
                key: key.to_owned(),
                parsed,
                rule,
            });
        }
    }
    routes
}

fn rule(
    r: &mut Reader,
    node: &Node,
    line: Option<usize>,
    path: &str,
    authorizers: &HashMap<&str, &Authorizer>,
) -> Option<Rule> {
    let m = r.mapping(
        node,
        path,
        &["authorizer", "scopes", "claims", "public", "deny"],
    );
    let at = |key: &str| format!("{path}.{key}");
    let public = Reader::get(m, "public").and_then(|n| r.bool(n, &at("public")));
    let deny = Reader::get(m, "deny").and_then(|n| r.bool(n, &at("deny")));
    let names = Reader::get(m, "authorizer").map(|n| (n, r.strings(n, &at("authorizer"))));
    let scopes = Reader::get(m, "scopes").map(|n| (n, r.strings(n, &at("scopes"))));
    let claims = Reader::get(m, "claims").map(|n| (n, claim_rules(r, n, &at("claims"))));

    let fixed = match (public, deny) {
        (Some(true), Some(true)) => {
            r.problem_at(path, line, "a route is `public` or `deny`, not both");
            return None;
        }
        (Some(true), _) => Some(("public", Rule::Public)),
        (_, Some(true)) => Some(("deny", Rule::Deny)),
        _ => None,
    };
    if let Some((what, rule)) = fixed {
        for (key, node) in [
            ("authorizer", names.as_ref().map(|(n, _)| *n)),
            ("scopes", scopes.as_ref().map(|(n, _)| *n)),
            ("claims", claims.as_ref().map(|(n, _)| *n)),
        ] {
            if let Some(n) = node {
                r.problem(
                    &at(key),
                    Some(n),
                    format!("a {what} route takes no `{key}`: no token is judged"),
                );
            }
        }
        return Some(rule);
    }
    let Some((names_node, Some(names))) = names else {
        if names.is_none() {
            r.problem_at(
                path,
                line,
                "a route names an `authorizer`, or is `public: true` or `deny: true`",
            );
        }
        return None;
    };
    if names.is_empty() {
        r.problem(&at("authorizer"), Some(names_node), "names no authorizer");
    }
    let mut issuers: BTreeMap<String, &str> = BTreeMap::new();
    for name in &names {
        match authorizers.get(name.as_str()) {
            Some(a) => {
                let forms = a
                    .pool
                    .as_ref()
                    .map_or_else(|| vec![a.issuer.clone()], |p| p.issuers().to_vec());
                for form in forms {
                    if let Some(other) = issuers.insert(form, name) {
                        r.problem(
                            &at("authorizer"),
                            Some(names_node),
                            format!(
                                "`{other}` and `{name}` have the same issuer, so `iss` cannot pick one"
                            ),
                        );
                        break;
                    }
                }
            }
            None => r.problem(
                &at("authorizer"),
                Some(names_node),
                format!("no authorizer named `{name}`"),
            ),
        }
    }
    let scopes = match scopes {
        Some((n, list)) => {
            let list = list.unwrap_or_default();
            if list.iter().any(|s| s.is_empty() || s.contains(' ')) {
                r.problem(
                    &at("scopes"),
                    Some(n),
                    "scopes are non-empty and hold no spaces",
                );
            }
            list
        }
        None => Vec::new(),
    };
    Some(Rule::Protected {
        authorizers: names,
        scopes,
        claims: claims.map(|(_, c)| c).unwrap_or_default(),
    })
}
