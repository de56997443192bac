//! A SAM API's `Auth`: its authorizers (Cognito for REST, JWT for HTTP, Lambda and IAM refused),
//! the `DefaultAuthorizer`, and the defaults SAM writes on methods that say nothing.
//! https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-api-apiauth.html
//! https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-httpapi-httpapiauth.html

use super::Props;
use crate::import::model::{self, Api, Authorizer, Flavor};
use crate::import::openapi::{self, Doc, Req, Scheme, SchemeKind};
use crate::import::template::Node;
use crate::import::{Loc, Place, Problem, Source};

/// A SAM API's authorizers, as security schemes, and its default.
pub(super) struct Auth {
    pub schemes: Vec<Scheme>,
    /// Each authorizer's own `AuthorizationScopes`, by name.
    pub scopes: Vec<(String, Option<Vec<String>>)>,
    pub default: Option<(String, Place)>,
    pub loc: Loc,
}

impl Auth {
    pub(super) fn is_authorizer(&self, name: &str) -> bool {
        name == "AWS_IAM" || self.scopes.iter().any(|(n, _)| n == name)
    }

    pub(super) fn scopes_of(&self, name: &str) -> Option<&Vec<String>> {
        self.scopes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| s.as_ref())
    }
}

pub(super) fn read_auth(
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

/// SAM's `DefaultAuthorizer` and `ApiKeyRequired` on the methods that do not say otherwise.
pub(super) fn apply_defaults(
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
