//! AWS SAM: `AWS::Serverless::Api` (REST) and `AWS::Serverless::HttpApi` (HTTP), explicit or
//! implicit (`ServerlessRestApi`/`ServerlessHttpApi`, made of function events without
//! `RestApiId`/`ApiId`), with `Globals` merged in, as SAM turns them into an OpenAPI body.
//!
//! The rules follow SAM's translator and its documentation:
//! - An event's `Auth.Authorizer` replaces the `DefaultAuthorizer`; `NONE` opts out. A REST
//!   event's `AuthorizationScopes` replace the authorizer's (an empty list too); an HTTP event's
//!   replace them only when not empty.
//!   https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-function-apifunctionauth.html
//!   https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-function-httpapifunctionauth.html
//! - With an inline `DefinitionBody`, a REST API's routes are the body's, and an event's `Auth`
//!   is ignored unless it sets `OverrideApiAuth` (same pages). HTTP API events always add their
//!   route and auth to the body.
//! - The default authorizer applies to body methods that have an integration and no
//!   authorizer of their own; REST `OPTIONS` methods get it unless
//!   `AddDefaultAuthorizerToCorsPreflight: false`, HTTP `OPTIONS` never.
//!   https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-api-apiauth.html
//! - `Globals` merge maps key by key, concatenate lists, and let the resource's scalar win.
//!   https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-specification-template-anatomy-globals.html

use super::model::{self, Access, Api, Authorizer, Cors, Flavor, Route};
use super::openapi::{self, Doc, Op, Req, Scheme, SchemeKind};
use super::template::{Entry, Kind, Node};
use super::{Loc, Place, Problem, Source};

pub const IMPLICIT_REST: &str = "ServerlessRestApi";
pub const IMPLICIT_HTTP: &str = "ServerlessHttpApi";

const FUNCTION_TYPES: [&str; 2] = ["AWS::Serverless::Function", "AWS::Serverless::StateMachine"];

/// The APIs that function events create on their own.
pub fn implicit_apis(src: &Source) -> Result<Vec<(String, Flavor, Place)>, Problem> {
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
struct Event<'t> {
    flavor: Flavor,
    /// The logical id of the API it names; `None`: the implicit one.
    api: Option<String>,
    props: &'t Node,
    loc: Loc,
    line: usize,
}

fn events(src: &Source) -> Result<Vec<Event<'_>>, Problem> {
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
                Some(n) => Some(match super::intrinsic::Resolver::target(n) {
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

/// SAM's Globals merge: maps key by key, lists concatenated, the resource's scalars win.
fn merge(global: &Node, local: &Node) -> Node {
    match (&global.kind, &local.kind) {
        (Kind::Map(g), Kind::Map(l))
            if global.intrinsic().is_none() && local.intrinsic().is_none() =>
        {
            let mut out: Vec<Entry> = g.clone();
            for e in l {
                match out.iter_mut().find(|o| o.key == e.key) {
                    Some(o) => o.value = merge(&o.value, &e.value),
                    None => out.push(e.clone()),
                }
            }
            Node {
                line: local.line,
                kind: Kind::Map(out),
            }
        }
        (Kind::Seq(g), Kind::Seq(l)) => Node {
            line: local.line,
            kind: Kind::Seq(g.iter().chain(l).cloned().collect()),
        },
        _ => local.clone(),
    }
}

/// An API's properties with `Globals.Api` or `Globals.HttpApi` merged in.
struct Props {
    props: Vec<(String, Node, Loc)>,
}

impl Props {
    fn new(src: &Source, flavor: Flavor, resource: Option<(&Node, Loc)>) -> Props {
        let section = if flavor == Flavor::Rest {
            "Api"
        } else {
            "HttpApi"
        };
        let gloc = Loc::new(&src.file, "Globals").key(section);
        let global = src.root.get("Globals").and_then(|g| g.get(section));
        let mut props: Vec<(String, Node, Loc)> = Vec::new();
        for e in global.and_then(Node::entries).unwrap_or(&[]) {
            props.push((e.key.clone(), e.value.clone(), gloc.key(&e.key)));
        }
        if let Some((res, rloc)) = resource {
            let ploc = rloc.key("Properties");
            for e in res.get("Properties").and_then(Node::entries).unwrap_or(&[]) {
                match props.iter_mut().find(|(k, _, _)| *k == e.key) {
                    Some(p) => *p = (e.key.clone(), merge(&p.1, &e.value), ploc.key(&e.key)),
                    None => props.push((e.key.clone(), e.value.clone(), ploc.key(&e.key))),
                }
            }
        }
        Props { props }
    }

    fn get(&self, key: &str) -> Option<(&Node, &Loc)> {
        self.props
            .iter()
            .find(|(k, n, _)| k == key && !n.is_null())
            .map(|(_, n, l)| (n, l))
    }
}

/// A SAM authorizer's own scopes, by name.
struct Auth {
    schemes: Vec<Scheme>,
    scopes: Vec<(String, Option<Vec<String>>)>,
    default: Option<(String, Place)>,
    loc: Loc,
}

impl Auth {
    fn is_authorizer(&self, name: &str) -> bool {
        name == "AWS_IAM" || self.scopes.iter().any(|(n, _)| n == name)
    }

    fn scopes_of(&self, name: &str) -> Option<&Vec<String>> {
        self.scopes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| s.as_ref())
    }
}

fn read_auth(
    src: &Source,
    node: Option<(&Node, &Loc)>,
    flavor: Flavor,
    api: &mut Api,
) -> Result<Auth, Problem> {
    let r = &src.resolver;
    let loc = node.map_or_else(|| Loc::new(&src.file, "Auth"), |(_, l)| l.clone());
    let mut auth = Auth {
        schemes: Vec::new(),
        scopes: Vec::new(),
        default: None,
        loc: loc.clone(),
    };
    let Some((node, _)) = node else {
        return Ok(auth);
    };
    let Some(node) = r.pick(node, &loc)? else {
        return Ok(auth);
    };
    auth.schemes.push(Scheme {
        name: "AWS_IAM".into(),
        kind: SchemeKind::Refused("IAM authorization (AWS_IAM)".into()),
        place: loc.place(node.line),
    });
    auth.schemes.push(Scheme {
        name: "api_key".into(),
        kind: SchemeKind::ApiKey,
        place: loc.place(node.line),
    });
    if let Some(p) = node.entry("ResourcePolicy") {
        api.policy = Some(loc.key("ResourcePolicy").place(p.line));
    }
    let aloc = loc.key("Authorizers");
    if let Some(list) = node.get("Authorizers") {
        let Some(entries) = r.pick(list, &aloc)?.and_then(Node::entries) else {
            return Err(aloc.problem(list, "Authorizers is a mapping"));
        };
        for e in entries {
            let eloc = aloc.key(&e.key);
            let (kind, scopes) = read_authorizer(src, &e.key, &e.value, &eloc, flavor)?;
            auth.scopes.push((e.key.clone(), scopes));
            auth.schemes.push(Scheme {
                name: e.key.clone(),
                kind,
                place: eloc.place(e.line),
            });
        }
    }
    if let Some(d) = node.get("DefaultAuthorizer") {
        let dloc = loc.key("DefaultAuthorizer");
        if let Some(name) = r.string(d, &dloc)? {
            let known = name == "AWS_IAM" || auth.scopes.iter().any(|(n, _)| *n == name);
            if !known {
                return Err(dloc.problem(
                    d,
                    format!("DefaultAuthorizer `{name}` is not one of Authorizers"),
                ));
            }
            auth.default = Some((name, dloc.place(d.line)));
        }
    }
    Ok(auth)
}

fn read_authorizer(
    src: &Source,
    name: &str,
    node: &Node,
    loc: &Loc,
    flavor: Flavor,
) -> Result<(SchemeKind, Option<Vec<String>>), Problem> {
    let r = &src.resolver;
    let scopes = match node.get("AuthorizationScopes") {
        Some(n) => Some(r.strings(n, &loc.key("AuthorizationScopes"))?),
        None => None,
    };
    if node.get("FunctionArn").is_some() {
        return Ok((
            SchemeKind::Refused(format!("Lambda authorizer {name}")),
            scopes,
        ));
    }
    match flavor {
        Flavor::Rest => {
            let ploc = loc.key("UserPoolArn");
            let Some(pool_node) = node.get("UserPoolArn") else {
                return Err(loc.problem(
                    node,
                    format!("authorizer {name} has neither UserPoolArn nor FunctionArn"),
                ));
            };
            let pools = r.strings(pool_node, &ploc)?;
            if pools.is_empty() {
                return Err(ploc.problem(pool_node, "no user pool ARN"));
            }
            for p in &pools {
                model::check_pool_arn(p).map_err(|m| ploc.problem(pool_node, m))?;
            }
            let identity = node.get("Identity");
            let iloc = loc.key("Identity");
            if identity.is_some_and(|i| i.get("ValidationExpression").is_some()) {
                return Ok((
                    SchemeKind::Refused(openapi::validation_expression(name)),
                    scopes,
                ));
            }
            let header = match identity.and_then(|i| i.get("Header")) {
                Some(h) => r
                    .string(h, &iloc.key("Header"))?
                    .unwrap_or_else(|| "Authorization".into()),
                None => "Authorization".into(),
            };
            let source = model::identity_source(&format!("$request.header.{header}"))
                .map_err(|m| iloc.problem(node, m))?;
            let kind = SchemeKind::Authorizer(Authorizer::Cognito {
                name: name.to_owned(),
                pools,
                sources: vec![source],
            });
            Ok((kind, scopes))
        }
        Flavor::Http => {
            let cloc = loc.key("JwtConfiguration");
            let Some(config) = node.get("JwtConfiguration") else {
                return Err(loc.problem(
                    node,
                    format!("authorizer {name} has neither JwtConfiguration nor FunctionArn"),
                ));
            };
            let value = |key: &str| config.get(key).map(|n| (n, cloc.key(key)));
            let issuer = match value("issuer") {
                Some((n, l)) => r.string(n, &l)?,
                None => None,
            }
            .ok_or_else(|| cloc.problem(config, "JwtConfiguration needs an issuer"))?;
            let audience = match value("audience") {
                Some((n, l)) => r.strings(n, &l)?,
                None => Vec::new(),
            };
            if audience.is_empty() {
                return Err(cloc.problem(config, "JwtConfiguration needs an audience"));
            }
            let sources = openapi::sources(
                node.get("IdentitySource"),
                &loc.key("IdentitySource"),
                r,
                node,
            )?;
            let kind = SchemeKind::Authorizer(Authorizer::Jwt {
                name: name.to_owned(),
                issuer,
                audience,
                sources,
            });
            Ok((kind, scopes))
        }
    }
}

/// A SAM API: explicit (`resource` is its template entry) or implicit.
pub fn api(
    src: &Source,
    id: &str,
    flavor: Flavor,
    resource: Option<(&Node, Loc)>,
    place: Place,
) -> Result<Api, Problem> {
    let r = &src.resolver;
    let what = match (&resource, flavor) {
        (Some(_), Flavor::Rest) => format!("AWS::Serverless::Api {id}"),
        (Some(_), Flavor::Http) => format!("AWS::Serverless::HttpApi {id}"),
        (None, _) => format!(
            "{id} (SAM's implicit {}, from function events)",
            flavor.as_str()
        ),
    };
    let mut api = Api {
        what,
        place,
        flavor,
        routes: Vec::new(),
        cors: None,
        policy: None,
        mtls: None,
        warnings: Vec::new(),
    };
    let props = Props::new(src, flavor, resource);
    let auth = read_auth(src, props.get("Auth"), flavor, &mut api)?;
    mtls(&props, &mut api);

    let (mut doc, inline) = body(src, &props, flavor, &auth)?;
    api.warnings.append(&mut doc.warnings);
    if doc.policy.is_some() {
        api.policy = doc.policy.clone();
    }
    let managed = props.get("DefinitionBody").is_none() && props.get("DefinitionUri").is_none();
    let merge_definitions = match props.get("MergeDefinitions") {
        Some((n, l)) => r.boolean(n, l)?.unwrap_or(false),
        None => false,
    };
    let mine: Vec<Event> = events(src)?
        .into_iter()
        .filter(|e| e.flavor == flavor)
        .filter(|e| match &e.api {
            Some(a) => a == id,
            None => {
                id == if flavor == Flavor::Rest {
                    IMPLICIT_REST
                } else {
                    IMPLICIT_HTTP
                }
            }
        })
        .collect();
    for ev in &mine {
        if !managed && !inline {
            // SAM edits no body it did not inline: with `DefinitionUri` the file is the API.
            if ev.props.get("Auth").is_some() {
                api.warnings.push(format!(
                    "{}: SAM ignores this event's Auth because the API is defined by DefinitionUri",
                    ev.loc.parent()
                ));
            }
            continue;
        }
        match flavor {
            Flavor::Rest => rest_event(
                src,
                ev,
                &auth,
                &mut doc,
                managed || merge_definitions,
                inline,
                &mut api,
            )?,
            Flavor::Http => http_event(src, ev, &auth, &mut doc, managed)?,
        }
    }
    let preflights = match flavor {
        Flavor::Rest => rest_cors(src, &props, &mut doc, &mut api)?,
        Flavor::Http => {
            http_cors(src, &props, &mut doc)?;
            api.cors = doc.cors.take();
            0
        }
    };
    apply_defaults(src, &props, &auth, flavor, &mut doc)?;

    let mut schemes: Vec<Scheme> = doc.schemes.clone();
    schemes.retain(|s| !auth.schemes.iter().any(|a| a.name == s.name));
    schemes.extend(auth.schemes.iter().cloned());
    let first_preflight = doc.ops.len() - preflights;
    let mut guarded_preflight = false;
    for (i, op) in doc.ops.iter().enumerate() {
        let reqs: Vec<Req> = op
            .security
            .clone()
            .or_else(|| doc.top.clone())
            .unwrap_or_default();
        let access = if op.security.is_none() && !op.integration && auth.default.is_some() {
            Access::Refused(Problem {
                place: op.place.clone(),
                message: format!(
                    "{}: has no x-amazon-apigateway-integration, so SAM leaves it without the \
                     DefaultAuthorizer (and API Gateway cannot deploy it)",
                    op.key()
                ),
            })
        } else {
            openapi::access(&reqs, &schemes, op)
        };
        if i >= first_preflight && !matches!(access, Access::Public) {
            guarded_preflight = true;
        }
        api.routes.push(Route {
            key: op.key(),
            from: op.from.clone(),
            place: op.place.clone(),
            access,
        });
    }
    if guarded_preflight {
        // API Gateway runs the default authorizer on SAM's preflight methods, which browsers
        // send without a token; tokengate's `cors` block would let them through instead.
        api.cors = None;
        api.warnings.push(
            "Cors: SAM puts the DefaultAuthorizer on its OPTIONS methods \
             (AddDefaultAuthorizerToCorsPreflight), so preflights need a token: no `cors` block, \
             the OPTIONS routes keep the authorizer"
                .into(),
        );
    }
    Ok(api)
}

/// The OpenAPI body SAM starts from: inline, included, from `DefinitionUri`, or empty.
fn body(src: &Source, props: &Props, flavor: Flavor, auth: &Auth) -> Result<(Doc, bool), Problem> {
    if let Some((node, loc)) = props.get("DefinitionBody") {
        let doc = match src.include(node, loc)? {
            Some(inc) => openapi::read(
                &inc.root,
                &Loc::new(&inc.file, ""),
                &src.resolver,
                Some(flavor),
            )?,
            None => openapi::read(node, loc, &src.resolver, Some(flavor))?,
        };
        return Ok((doc, true));
    }
    if let Some((node, loc)) = props.get("DefinitionUri") {
        if auth.schemes.len() > 2 || auth.default.is_some() {
            // SAM: "Auth works only with inline Swagger specified in 'DefinitionBody' property."
            return Err(auth.loc.problem(
                node,
                "SAM applies Auth only to an inline DefinitionBody, not to DefinitionUri",
            ));
        }
        let inc = src.uri(node, loc)?;
        let doc = openapi::read(
            &inc.root,
            &Loc::new(&inc.file, ""),
            &src.resolver,
            Some(flavor),
        )?;
        return Ok((doc, false));
    }
    Ok((
        Doc {
            flavor: Some(flavor),
            ..Doc::default()
        },
        false,
    ))
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

fn rest_event(
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

fn http_event(
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

/// SAM's REST `Cors`: an `OPTIONS` method on every path that has none. Returns how many it
/// added (they are the last operations).
fn rest_cors(src: &Source, props: &Props, doc: &mut Doc, api: &mut Api) -> Result<usize, Problem> {
    let r = &src.resolver;
    let Some((node, loc)) = props.get("Cors") else {
        return Ok(0);
    };
    let Some(node) = r.pick(node, loc)? else {
        return Ok(0);
    };
    let unquote = |s: String| s.trim().trim_matches('\'').to_owned();
    let mut cors = Cors::default();
    if node.entries().is_some() && node.intrinsic().is_none() {
        let origin = node
            .get("AllowOrigin")
            .ok_or_else(|| loc.problem(node, "Cors needs AllowOrigin"))?;
        cors.origins = vec![unquote(
            r.string(origin, &loc.key("AllowOrigin"))?
                .unwrap_or_default(),
        )];
        if let Some(c) = node.get("AllowCredentials") {
            cors.credentials = r.boolean(c, &loc.key("AllowCredentials"))?.unwrap_or(false);
        }
    } else {
        cors.origins = vec![unquote(r.string(node, loc)?.unwrap_or_default())];
    }
    let mut paths: Vec<String> = Vec::new();
    for op in &doc.ops {
        let p = if op.path.len() > 1 {
            op.path.trim_end_matches('/')
        } else {
            op.path.as_str()
        };
        if !paths.iter().any(|x| x == p) && op.path != "$default" {
            paths.push(p.to_owned());
        }
    }
    let mut added = 0;
    for path in paths {
        if doc.ops.iter().any(|o| {
            o.method == "OPTIONS" && o.path.trim_end_matches('/') == path.trim_end_matches('/')
        }) {
            continue;
        }
        doc.ops.push(Op {
            method: "OPTIONS".into(),
            path,
            security: None,
            integration: true,
            place: loc.place(node.line),
            from: format!("{} (the preflight method SAM adds)", loc.path),
        });
        added += 1;
    }
    api.cors = Some(cors);
    Ok(added)
}

/// SAM's HTTP `CorsConfiguration`, over the body's `x-amazon-apigateway-cors`.
fn http_cors(src: &Source, props: &Props, doc: &mut Doc) -> Result<(), Problem> {
    let r = &src.resolver;
    let Some((node, loc)) = props.get("CorsConfiguration") else {
        return Ok(());
    };
    let Some(node) = r.pick(node, loc)? else {
        return Ok(());
    };
    let mut cors = doc.cors.take().unwrap_or_default();
    if node.entries().is_some() && node.intrinsic().is_none() {
        if let Some(n) = node.get("AllowOrigins") {
            cors.origins = r.strings(n, &loc.key("AllowOrigins"))?;
        }
        if let Some(n) = node.get("ExposeHeaders") {
            cors.expose = r.strings(n, &loc.key("ExposeHeaders"))?;
        }
        if let Some(n) = node.get("AllowCredentials") {
            cors.credentials = r.boolean(n, &loc.key("AllowCredentials"))?.unwrap_or(false);
        }
    } else if r.boolean(node, loc)? == Some(true) {
        cors.origins = vec!["*".into()];
    } else {
        return Ok(());
    }
    doc.cors = Some(cors);
    Ok(())
}

/// SAM's `DefaultAuthorizer` and `ApiKeyRequired` on the methods that do not say otherwise.
fn apply_defaults(
    src: &Source,
    props: &Props,
    auth: &Auth,
    flavor: Flavor,
    doc: &mut Doc,
) -> Result<(), Problem> {
    let r = &src.resolver;
    let flag = |key: &str| -> Result<bool, Problem> {
        let node = props.get("Auth").and_then(|(a, _)| a.get(key));
        match node {
            Some(n) => Ok(r.boolean(n, &auth.loc.key(key))?.unwrap_or(true)),
            None => Ok(true),
        }
    };
    let preflight_auth = flag("AddDefaultAuthorizerToCorsPreflight")?;
    let preflight_key = flag("AddApiKeyRequiredToCorsPreflight")?;
    let api_key = match props.get("Auth").and_then(|(a, _)| a.get("ApiKeyRequired")) {
        Some(n) if flavor == Flavor::Rest => r
            .boolean(n, &auth.loc.key("ApiKeyRequired"))?
            .unwrap_or(false)
            .then(|| auth.loc.key("ApiKeyRequired").place(n.line)),
        _ => None,
    };
    for op in doc.ops.iter_mut().filter(|o| o.integration) {
        let options = op.method == "OPTIONS";
        if let Some((default, place)) = &auth.default {
            let existing = op.security.take().unwrap_or_default();
            match flavor {
                Flavor::Rest if options && !preflight_auth => op.security = Some(existing),
                Flavor::Rest => {
                    let (authz, mut other): (Vec<Req>, Vec<Req>) = existing
                        .into_iter()
                        .partition(|q| auth.is_authorizer(&q.scheme));
                    if let Some(i) = other.iter().position(|q| q.scheme == "NONE") {
                        other.remove(i);
                    } else if !authz.is_empty() {
                        other.extend(authz);
                    } else {
                        let scopes = auth.scopes_of(default).cloned().unwrap_or_default();
                        other.push(Req {
                            scheme: default.clone(),
                            scopes,
                            place: place.clone(),
                        });
                        op.from = format!("{}, DefaultAuthorizer", op.from);
                    }
                    op.security = Some(other);
                }
                Flavor::Http if !options && existing.is_empty() => {
                    let scopes = auth.scopes_of(default).cloned().unwrap_or_default();
                    op.security = Some(vec![Req {
                        scheme: default.clone(),
                        scopes,
                        place: place.clone(),
                    }]);
                    op.from = format!("{}, DefaultAuthorizer", op.from);
                }
                Flavor::Http => op.security = Some(existing).filter(|e| !e.is_empty()),
            }
        }
        if let Some(place) = &api_key {
            let mut security = op.security.take().unwrap_or_default();
            let had_false = security.iter().position(|q| q.scheme == "api_key_false");
            if let Some(i) = had_false {
                security.remove(i);
            } else if options && !preflight_key {
                security.retain(|q| q.scheme != "api_key");
            } else if !security.iter().any(|q| q.scheme == "api_key") {
                security.push(Req {
                    scheme: "api_key".into(),
                    scopes: Vec::new(),
                    place: place.clone(),
                });
            }
            op.security = Some(security);
        }
    }
    Ok(())
}

/// Mutual TLS on the API's SAM `Domain`: tokengate sees no client certificate.
fn mtls(props: &Props, api: &mut Api) {
    if let Some((domain, loc)) = props.get("Domain")
        && let Some(m) = domain.entry("MutualTlsAuthentication")
        && !m.value.is_null()
    {
        api.mtls = Some(loc.key("MutualTlsAuthentication").place(m.line));
    }
}
