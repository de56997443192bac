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

mod auth;
mod event;

use super::model::{Access, Api, Cors, Flavor, Route};
use super::openapi::{self, Doc, Op, Req, Scheme};
use super::template::{Entry, Kind, Node};
use super::{Loc, Place, Problem, Source};
use auth::Auth;
use event::Event;

pub(crate) use event::implicit_apis;

pub const IMPLICIT_REST: &str = "ServerlessRestApi";
pub const IMPLICIT_HTTP: &str = "ServerlessHttpApi";

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
pub(super) struct Props {
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

    pub(super) fn get(&self, key: &str) -> Option<(&Node, &Loc)> {
        self.props
            .iter()
            .find(|(k, n, _)| k == key && !n.is_null())
            .map(|(_, n, l)| (n, l))
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
    let auth = auth::read_auth(src, props.get("Auth"), flavor, &mut api)?;
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
    let mine: Vec<Event> = event::events(src)?
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
            Flavor::Rest => event::rest_event(
                src,
                ev,
                &auth,
                &mut doc,
                managed || merge_definitions,
                inline,
                &mut api,
            )?,
            Flavor::Http => event::http_event(src, ev, &auth, &mut doc, managed)?,
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
    auth::apply_defaults(src, &props, &auth, flavor, &mut doc)?;

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

/// Mutual TLS on the API's SAM `Domain`: tokengate sees no client certificate.
fn mtls(props: &Props, api: &mut Api) {
    if let Some((domain, loc)) = props.get("Domain")
        && let Some(m) = domain.entry("MutualTlsAuthentication")
        && !m.value.is_null()
    {
        api.mtls = Some(loc.key("MutualTlsAuthentication").place(m.line));
    }
}
