//! SAM function events of type `Api` and `HttpApi`: the implicit APIs they make, and the method
//! and security each writes into its API's OpenAPI body, as SAM's translator does.
//! https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-function-api.html
//! https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-function-httpapi.html

use super::auth::Auth;
use super::{IMPLICIT_HTTP, IMPLICIT_REST};
use crate::import::model::{self, Api, Flavor};
use crate::import::openapi::{Doc, Op, Req};
use crate::import::template::Node;
use crate::import::{Loc, Place, Problem, Source};

const FUNCTION_TYPES: [&str; 2] = ["AWS::Serverless::Function", "AWS::Serverless::StateMachine"];

/// The APIs that function events create on their own.
pub(crate) fn implicit_apis(src: &Source) -> Result<Vec<(String, Flavor, Place)>, Problem> {
    let mut out: Vec<(String, Flavor, Place)> = Vec::new();
    for ev in events(src)? {
        let (id, flavor) = match ev.flavor {
            Flavor::Rest => (IMPLICIT_REST, Flavor::Rest),
            Flavor::Http => (IMPLICIT_HTTP, Flavor::Http),
        };
        if ev.api.is_none() && !out.iter().any(|(i, _, _)| i == id) {
            out.push((id.to_owned(), flavor, ev.loc.place(ev.line)));
        }
    }
    Ok(out)
}

/// One `Api` or `HttpApi` event of a function.
pub(super) struct Event<'t> {
    pub flavor: Flavor,
    /// The logical id of the API it names; `None`: the implicit one.
    pub api: Option<String>,
    pub props: &'t Node,
    pub loc: Loc,
    pub line: usize,
}

pub(super) fn events(src: &Source) -> Result<Vec<Event<'_>>, Problem> {
    let r = &src.resolver;
    let mut out = Vec::new();
    let Some(resources) = src.root.get("Resources").and_then(Node::entries) else {
        return Ok(out);
    };
    for res in resources {
        let rloc = Loc::new(&src.file, "Resources").key(&res.key);
        let kind = res.value.get("Type").and_then(Node::scalar).unwrap_or("");
        if !FUNCTION_TYPES.contains(&kind) || !r.exists(&res.value, &rloc)? {
            continue;
        }
        let ploc = rloc.key("Properties").key("Events");
        let Some(evs) = res
            .value
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Node::entries)
        else {
            continue;
        };
        for e in evs {
            let eloc = ploc.key(&e.key);
            let flavor = match e.value.get("Type").and_then(Node::scalar) {
                Some("Api") => Flavor::Rest,
                Some("HttpApi") => Flavor::Http,
                _ => continue,
            };
            let props = e.value.get("Properties").unwrap_or(&e.value);
            let id_key = if flavor == Flavor::Rest {
                "RestApiId"
            } else {
                "ApiId"
            };
            let api = match props.get(id_key) {
                None => None,
                Some(n) => Some(match crate::import::intrinsic::Resolver::target(n) {
                    Some((id, None)) => id.to_owned(),
                    _ => n.scalar().map(str::to_owned).ok_or_else(|| {
                        eloc.key("Properties")
                            .key(id_key)
                            .problem(n, "expected !Ref of an API in this template")
                    })?,
                }),
            };
            out.push(Event {
                flavor,
                api,
                props,
                loc: eloc.key("Properties"),
                line: e.line,
            });
        }
    }
    Ok(out)
}

fn event_method_path(src: &Source, ev: &Event) -> Result<(String, String), Problem> {
    let r = &src.resolver;
    let path = match ev.props.get("Path") {
        Some(n) => r.string(n, &ev.loc.key("Path"))?,
        None => None,
    };
    let method = match ev.props.get("Method") {
        Some(n) => r.string(n, &ev.loc.key("Method"))?,
        None => None,
    };
    let (path, method) = match (path, method, ev.flavor) {
        (Some(p), Some(m), _) => (p, m),
        (None, None, Flavor::Http) => ("$default".into(), "ANY".into()),
        _ => return Err(ev.loc.problem(ev.props, "an event needs Path and Method")),
    };
    let method = match method.to_ascii_uppercase().as_str() {
        "X-AMAZON-APIGATEWAY-ANY-METHOD" => "ANY".to_owned(),
        m => m.to_owned(),
    };
    let path = if path == "/$default" {
        "$default".to_owned()
    } else {
        path
    };
    Ok((method, path))
}

fn find_op<'d>(doc: &'d mut Doc, method: &str, path: &str) -> Option<&'d mut Op> {
    doc.ops
        .iter_mut()
        .find(|o| o.method == method && o.path == path)
}

pub(super) fn rest_event(
    src: &Source,
    ev: &Event,
    auth: &Auth,
    doc: &mut Doc,
    adds_routes: bool,
    inline: bool,
    api: &mut Api,
) -> Result<(), Problem> {
    let r = &src.resolver;
    let (method, path) = event_method_path(src, ev)?;
    let aloc = ev.loc.key("Auth");
    let ev_auth = ev.props.get("Auth");
    if let Some(p) = ev_auth.and_then(|a| a.entry("ResourcePolicy")) {
        api.policy = Some(aloc.key("ResourcePolicy").place(p.line));
    }
    let override_auth = match ev_auth.and_then(|a| a.get("OverrideApiAuth")) {
        Some(n) => r.boolean(n, &aloc.key("OverrideApiAuth"))?.unwrap_or(false),
        None => false,
    };
    let reqs = match ev_auth {
        Some(a) => rest_event_auth(src, a, &aloc, auth)?,
        None => Vec::new(),
    };
    let from = format!("{} ({method} {path})", ev.loc.parent());
    let place = ev.loc.parent_place(ev.line);
    if adds_routes {
        if find_op(doc, &method, &path).is_some() && !inline {
            return Err(ev.loc.problem(
                ev.props,
                format!("{method} {path} is defined by two events"),
            ));
        }
        doc.ops.retain(|o| !(o.method == method && o.path == path));
        let op = Op {
            method,
            path,
            security: if reqs.is_empty() { None } else { Some(reqs) },
            integration: true,
            place,
            from,
        };
        model::check_key(&op.key()).map_err(|m| ev.loc.problem(ev.props, m))?;
        doc.ops.push(op);
    } else if override_auth {
        match find_op(doc, &method, &path) {
            Some(op) => {
                let mut security = op.security.take().unwrap_or_default();
                security.extend(reqs);
                op.security = Some(security);
                op.from = format!("{}, Auth from {from} (OverrideApiAuth)", op.from);
            }
            None => api.warnings.push(format!(
                "{from}: OverrideApiAuth, but the DefinitionBody has no {method} {path}"
            )),
        }
    } else if ev_auth.is_some() {
        api.warnings.push(format!(
            "{from}: SAM ignores this event's Auth because the API has a DefinitionBody \
             (set OverrideApiAuth: true to apply it)"
        ));
    }
    Ok(())
}

/// A REST event's `Auth` as the security SAM writes on its method.
fn rest_event_auth(src: &Source, node: &Node, loc: &Loc, auth: &Auth) -> Result<Vec<Req>, Problem> {
    let r = &src.resolver;
    let mut reqs = Vec::new();
    let scopes_node = node.get("AuthorizationScopes");
    let scopes = match scopes_node {
        Some(n) => Some(r.strings(n, &loc.key("AuthorizationScopes"))?),
        None => None,
    };
    let authorizer = match node.get("Authorizer") {
        Some(n) => r.string(n, &loc.key("Authorizer"))?.map(|s| (s, n)),
        None => None,
    };
    match &authorizer {
        Some((name, n)) => {
            let aloc = loc.key("Authorizer");
            if name == "NONE" && auth.default.is_none() {
                return Err(aloc.problem(
                    n,
                    "Authorizer NONE is valid only when the API has a DefaultAuthorizer",
                ));
            }
            if name != "NONE" && !auth.is_authorizer(name) {
                return Err(
                    aloc.problem(n, format!("`{name}` is not one of the API's Authorizers"))
                );
            }
            let scopes = match name.as_str() {
                "NONE" | "AWS_IAM" => Vec::new(),
                _ => scopes
                    .clone()
                    .or_else(|| auth.scopes_of(name).cloned())
                    .unwrap_or_default(),
            };
            reqs.push(Req {
                scheme: name.clone(),
                scopes,
                place: aloc.place(n.line),
            });
        }
        None => {
            if let (Some(s), Some(n)) = (&scopes, scopes_node)
                && !s.is_empty()
            {
                return Err(loc
                    .key("AuthorizationScopes")
                    .problem(n, "AuthorizationScopes works only when Authorizer is set"));
            }
        }
    }
    if let Some(n) = node.get("ApiKeyRequired") {
        let kloc = loc.key("ApiKeyRequired");
        if let Some(required) = r.boolean(n, &kloc)? {
            let scheme = if required { "api_key" } else { "api_key_false" };
            reqs.push(Req {
                scheme: scheme.into(),
                scopes: Vec::new(),
                place: kloc.place(n.line),
            });
        }
    }
    Ok(reqs)
}

pub(super) fn http_event(
    src: &Source,
    ev: &Event,
    auth: &Auth,
    doc: &mut Doc,
    managed: bool,
) -> Result<(), Problem> {
    let r = &src.resolver;
    let (method, path) = event_method_path(src, ev)?;
    let from = format!(
        "{} ({})",
        ev.loc.parent(),
        if path == "$default" {
            path.clone()
        } else {
            format!("{method} {path}")
        }
    );
    let place = ev.loc.parent_place(ev.line);
    if find_op(doc, &method, &path).is_some_and(|o| o.integration) && managed {
        return Err(ev.loc.problem(
            ev.props,
            format!("{method} {path} is defined by two events"),
        ));
    }
    if find_op(doc, &method, &path).is_none() {
        let op = Op {
            method: method.clone(),
            path: path.clone(),
            security: None,
            integration: true,
            place,
            from,
        };
        model::check_key(&op.key()).map_err(|m| ev.loc.problem(ev.props, m))?;
        doc.ops.push(op);
    }
    let Some(op) = find_op(doc, &method, &path) else {
        return Ok(());
    };
    op.integration = true;
    let Some(a) = ev.props.get("Auth") else {
        return Ok(());
    };
    let aloc = ev.loc.key("Auth");
    let named = match a.get("Authorizer") {
        Some(n) => r.string(n, &aloc.key("Authorizer"))?.map(|s| (s, n.line)),
        None => None,
    };
    let (name, line) = match (named, &auth.default) {
        (Some(n), _) => n,
        (None, Some((d, p))) => (d.clone(), p.line.unwrap_or(ev.line)),
        (None, None) => {
            return Err(aloc.problem(
                a,
                "Auth needs an Authorizer or a DefaultAuthorizer on the HttpApi",
            ));
        }
    };
    if name == "NONE" && auth.default.is_none() {
        return Err(aloc.problem(
            a,
            "Authorizer NONE is valid only when the API has a DefaultAuthorizer",
        ));
    }
    if name != "NONE" && !auth.is_authorizer(&name) {
        return Err(aloc.problem(a, format!("`{name}` is not one of the API's Authorizers")));
    }
    let event_scopes = match a.get("AuthorizationScopes") {
        Some(n) => r.strings(n, &aloc.key("AuthorizationScopes"))?,
        None => Vec::new(),
    };
    let scopes = match name.as_str() {
        "NONE" | "AWS_IAM" => Vec::new(),
        _ if !event_scopes.is_empty() => event_scopes,
        _ => auth.scopes_of(&name).cloned().unwrap_or_default(),
    };
    let mut security = op.security.take().unwrap_or_default();
    security.push(Req {
        scheme: name,
        scopes,
        place: aloc.place(line),
    });
    op.security = Some(security);
    Ok(())
}
