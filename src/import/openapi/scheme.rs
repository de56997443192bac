//! Security schemes as API Gateway reads them — `x-amazon-apigateway-authorizer` (`jwt`,
//! `cognito_user_pools`, or a Lambda `token`/`request` one), `x-amazon-apigateway-authtype`
//! (`awsSigv4` is IAM), plain `apiKey` schemes — and what an operation's `security` requirement
//! of them means: public, one authorizer with scopes, or refused.

use super::{Doc, Op, Req};
use crate::import::intrinsic::Resolver;
use crate::import::model::{self, Access, Authorizer, Flavor};
use crate::import::template::Node;
use crate::import::{Loc, Place, Problem};

/// What a security scheme is to tokengate.
#[derive(Clone, Debug)]
pub enum SchemeKind {
    Authorizer(Authorizer),
    /// Not carried over; the text says what it is.
    Refused(String),
    /// An API key (`apiKey` scheme without API Gateway extensions).
    ApiKey,
}

/// A named security scheme.
#[derive(Clone, Debug)]
pub struct Scheme {
    pub name: String,
    pub kind: SchemeKind,
    pub place: Place,
}

/// The document's security schemes (`securityDefinitions`, or `components.securitySchemes`).
pub(super) fn read(root: &Node, loc: &Loc, r: &Resolver, doc: &mut Doc) -> Result<(), Problem> {
    let (node, sloc) = match root.get("securityDefinitions") {
        Some(n) => (n, loc.key("securityDefinitions")),
        None => match root
            .get("components")
            .and_then(|c| c.get("securitySchemes"))
        {
            Some(n) => (n, loc.key("components").key("securitySchemes")),
            None => return Ok(()),
        },
    };
    let Some(entries) = r.pick(node, &sloc)?.and_then(Node::entries) else {
        return Err(sloc.problem(node, "security schemes are a mapping"));
    };
    for e in entries {
        let eloc = sloc.key(&e.key);
        let kind = read_scheme(&e.key, &e.value, &eloc, r, doc)?;
        doc.schemes.push(Scheme {
            name: e.key.clone(),
            kind,
            place: eloc.place(e.line),
        });
    }
    Ok(())
}

fn read_scheme(
    name: &str,
    node: &Node,
    loc: &Loc,
    r: &Resolver,
    doc: &mut Doc,
) -> Result<SchemeKind, Problem> {
    let text = |key: &str| -> Result<Option<String>, Problem> {
        match node.get(key) {
            Some(n) => r.string(n, &loc.key(key)),
            None => Ok(None),
        }
    };
    let authtype = text("x-amazon-apigateway-authtype")?.unwrap_or_default();
    let Some(auth) = node.get("x-amazon-apigateway-authorizer") else {
        if authtype.eq_ignore_ascii_case("awsSigv4") {
            return Ok(SchemeKind::Refused(format!(
                "IAM authorization (scheme {name}, awsSigv4)"
            )));
        }
        return Ok(match text("type")?.as_deref() {
            Some("apiKey") => SchemeKind::ApiKey,
            other => SchemeKind::Refused(format!(
                "security scheme {name} of type {} without x-amazon-apigateway-authorizer",
                other.unwrap_or("(none)")
            )),
        });
    };
    let aloc = loc.key("x-amazon-apigateway-authorizer");
    let atext = |key: &str| -> Result<Option<String>, Problem> {
        match auth.get(key) {
            Some(n) => r.string(n, &aloc.key(key)),
            None => Ok(None),
        }
    };
    let kind = atext("type")?.unwrap_or_default().to_ascii_lowercase();
    match kind.as_str() {
        "cognito_user_pools" => {
            doc.flavor.get_or_insert(Flavor::Rest);
            let ploc = aloc.key("providerARNs");
            let pools_node = auth.get("providerARNs").ok_or_else(|| {
                aloc.problem(auth, "a cognito_user_pools authorizer needs providerARNs")
            })?;
            let pools = r.strings(pools_node, &ploc)?;
            for p in &pools {
                model::check_pool_arn(p).map_err(|m| ploc.problem(pools_node, m))?;
            }
            if pools.is_empty() {
                return Err(ploc.problem(pools_node, "no user pool ARN"));
            }
            // API Gateway reads a Cognito token from the header the scheme names.
            let header = match atext("identitySource")? {
                Some(s) => s,
                None => format!(
                    "method.request.header.{}",
                    text("name")?.unwrap_or("Authorization".into())
                ),
            };
            let source = model::identity_source(&header).map_err(|m| loc.problem(node, m))?;
            if auth.get("identityValidationExpression").is_some() {
                return Ok(SchemeKind::Refused(validation_expression(name)));
            }
            Ok(SchemeKind::Authorizer(Authorizer::Cognito {
                name: name.to_owned(),
                pools,
                sources: vec![source],
            }))
        }
        "jwt" => {
            doc.flavor.get_or_insert(Flavor::Http);
            let cloc = aloc.key("jwtConfiguration");
            let config = auth
                .get("jwtConfiguration")
                .ok_or_else(|| aloc.problem(auth, "a jwt authorizer needs jwtConfiguration"))?;
            let issuer = match config.get("issuer") {
                Some(n) => r.string(n, &cloc.key("issuer"))?,
                None => None,
            }
            .ok_or_else(|| cloc.problem(config, "jwtConfiguration needs an issuer"))?;
            let audience = match config.get("audience") {
                Some(n) => r.strings(n, &cloc.key("audience"))?,
                None => Vec::new(),
            };
            if audience.is_empty() {
                return Err(cloc.problem(config, "jwtConfiguration needs an audience"));
            }
            let sources = sources(
                auth.get("identitySource"),
                &aloc.key("identitySource"),
                r,
                auth,
            )?;
            Ok(SchemeKind::Authorizer(Authorizer::Jwt {
                name: name.to_owned(),
                issuer,
                audience,
                sources,
            }))
        }
        "token" | "request" => Ok(SchemeKind::Refused(format!(
            "Lambda authorizer {name} (type {kind})"
        ))),
        other => Ok(SchemeKind::Refused(format!(
            "authorizer {name} of type `{other}`"
        ))),
    }
}

/// An identity source: one string of comma-separated sources, or a list.
pub fn sources(
    node: Option<&Node>,
    loc: &Loc,
    r: &Resolver,
    at: &Node,
) -> Result<Vec<String>, Problem> {
    let Some(node) = node else {
        // SAM and API Gateway both require it of a JWT authorizer.
        return Err(loc.problem(at, "a JWT authorizer needs an identity source"));
    };
    let mut out = Vec::new();
    for s in r.strings(node, loc)? {
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(model::identity_source(part).map_err(|m| loc.problem(node, m))?);
        }
    }
    if out.is_empty() {
        return Err(loc.problem(node, "no identity source"));
    }
    Ok(out)
}

/// Why a Cognito authorizer with a validation expression is not carried over.
pub fn validation_expression(name: &str) -> String {
    // For COGNITO_USER_POOLS authorizers API Gateway matches the token's `aud` against this
    // regular expression: https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html
    format!(
        "Cognito authorizer {name} with an identity validation expression (a regular expression \
         on the token's aud, which tokengate does not apply)"
    )
}

/// What API Gateway does with a method whose security is `reqs`: public, one authorizer, or
/// something tokengate cannot enforce.
pub fn access(reqs: &[Req], schemes: &[Scheme], op: &Op) -> Access {
    let mut guard: Option<(&Authorizer, &Req)> = None;
    for req in reqs {
        // SAM's markers: `NONE` opts out of the default authorizer, `api_key_false` out of the
        // default API key requirement; API Gateway ignores both names.
        if req.scheme == "NONE" || req.scheme == "api_key_false" {
            continue;
        }
        let refuse = |why: String| {
            Access::Refused(Problem {
                place: req.place.clone(),
                message: format!("{}: {why}", op.key()),
            })
        };
        let Some(scheme) = schemes.iter().find(|s| s.name == req.scheme) else {
            return refuse(format!(
                "security names `{}`, which no security scheme defines",
                req.scheme
            ));
        };
        match &scheme.kind {
            SchemeKind::ApiKey => {
                return refuse(format!("requires an API key (scheme {})", scheme.name));
            }
            SchemeKind::Refused(what) => {
                return refuse(format!(
                    "{what} (defined at {}) cannot be carried over",
                    scheme.place
                ));
            }
            SchemeKind::Authorizer(a) => {
                if let Some((first, _)) = guard {
                    return refuse(format!(
                        "names two authorizers ({} and {}); API Gateway applies one per method",
                        first.name(),
                        a.name()
                    ));
                }
                guard = Some((a, req));
            }
        }
    }
    match guard {
        None => Access::Public,
        Some((a, req)) => Access::Guarded {
            authorizer: a.clone(),
            scopes: req.scopes.clone(),
        },
    }
}
