//! OpenAPI 3 and Swagger 2 documents as API Gateway reads them: operations with their `security`
//! requirements, and security schemes carrying `x-amazon-apigateway-authorizer` (`jwt`,
//! `cognito_user_pools`, or a Lambda `token`/`request` one), `x-amazon-apigateway-authtype`
//! (`awsSigv4` is IAM), or plain `apiKey` schemes (API keys).
//!
//! The reference: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions.html

use super::intrinsic::Resolver;
use super::model::{self, Access, Authorizer, Cors, Flavor};
use super::template::Node;
use super::{Loc, Place, Problem};

/// One operation: a method on a path.
#[derive(Clone, Debug)]
pub struct Op {
    /// `GET`, `ANY`…
    pub method: String,
    /// `/pets/{id}`, or `$default`.
    pub path: String,
    /// `None`: the document's top-level `security` applies (SAM: the default authorizer may).
    pub security: Option<Vec<Req>>,
    /// Has `x-amazon-apigateway-integration` (SAM applies defaults only to those).
    pub integration: bool,
    pub place: Place,
    /// For the route's comment.
    pub from: String,
}

impl Op {
    pub fn key(&self) -> String {
        if self.path == "$default" {
            "$default".to_owned()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }
}

/// One entry of a security requirement: a scheme's name and the scopes asked of it.
#[derive(Clone, Debug)]
pub struct Req {
    pub scheme: String,
    pub scopes: Vec<String>,
    pub place: Place,
}

#[derive(Clone, Debug)]
pub enum SchemeKind {
    Authorizer(Authorizer),
    /// Not carried over; the text says what it is.
    Refused(String),
    /// An API key (`apiKey` scheme without API Gateway extensions).
    ApiKey,
}

#[derive(Clone, Debug)]
pub struct Scheme {
    pub name: String,
    pub kind: SchemeKind,
    pub place: Place,
}

/// What a document says about authorization.
#[derive(Clone, Debug, Default)]
pub struct Doc {
    pub flavor: Option<Flavor>,
    pub title: Option<String>,
    pub ops: Vec<Op>,
    pub schemes: Vec<Scheme>,
    pub top: Option<Vec<Req>>,
    pub cors: Option<Cors>,
    pub policy: Option<Place>,
    pub warnings: Vec<String>,
}

const METHODS: [(&str, &str); 8] = [
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

/// Whether a mapping is an OpenAPI or Swagger document.
pub fn is_openapi(root: &Node) -> bool {
    root.get("openapi").is_some() || root.get("swagger").is_some()
}

/// Reads a document. `flavor` is known when the document is the body of a template's API.
pub fn read(root: &Node, loc: &Loc, r: &Resolver, flavor: Option<Flavor>) -> Result<Doc, Problem> {
    let mut doc = Doc {
        flavor,
        ..Doc::default()
    };
    if root.get("swagger").is_some() {
        doc.flavor.get_or_insert(Flavor::Rest);
    }
    doc.title = match root.get("info").and_then(|i| i.get("title")) {
        Some(t) => r.string(t, &loc.key("info").key("title"))?,
        None => None,
    };
    if let Some(base) = root.get("basePath").and_then(Node::scalar)
        && base != "/"
    {
        doc.warnings.push(format!(
            "basePath `{base}` is ignored: routes match the paths as the document writes them"
        ));
    }
    if let Some(p) = root.entry("x-amazon-apigateway-policy") {
        doc.policy = Some(loc.key(&p.key).place(p.line));
    }
    read_schemes(root, loc, r, &mut doc)?;
    if let Some(top) = root.get("security") {
        doc.top = Some(read_security(top, &loc.key("security"), r)?);
    }
    if let Some(cors) = root.get("x-amazon-apigateway-cors") {
        doc.cors = Some(read_cors(cors, &loc.key("x-amazon-apigateway-cors"), r)?);
        doc.flavor.get_or_insert(Flavor::Http);
    }
    let ploc = loc.key("paths");
    if let Some(paths) = root.get("paths") {
        let Some(entries) = r.pick(paths, &ploc)?.and_then(Node::entries) else {
            return Err(ploc.problem(paths, "paths is a mapping"));
        };
        for e in entries {
            let iloc = ploc.key(&e.key);
            let Some(item) = r.pick(&e.value, &iloc)? else {
                continue;
            };
            read_path(&e.key, item, &iloc, r, &mut doc)?;
        }
    }
    Ok(doc)
}

fn read_path(
    path: &str,
    item: &Node,
    loc: &Loc,
    r: &Resolver,
    doc: &mut Doc,
) -> Result<(), Problem> {
    let Some(entries) = item.entries() else {
        return Err(loc.problem(item, "a path item is a mapping"));
    };
    let path = if path == "/$default" || path == "$default" {
        doc.flavor.get_or_insert(Flavor::Http);
        "$default"
    } else if path.starts_with('/') {
        path
    } else {
        return Err(loc.problem(item, format!("path `{path}` does not start with `/`")));
    };
    for e in entries {
        let mloc = loc.key(&e.key);
        let Some((_, method)) = METHODS.iter().find(|(k, _)| k.eq_ignore_ascii_case(&e.key)) else {
            if e.key == "trace" || e.key == "$ref" {
                return Err(mloc.problem(&e.value, format!("`{}` is not supported", e.key)));
            }
            continue;
        };
        let Some(body) = r.pick(&e.value, &mloc)? else {
            continue;
        };
        if path == "$default" && *method != "ANY" {
            return Err(mloc.problem(
                body,
                "the $default route takes x-amazon-apigateway-any-method",
            ));
        }
        let security = match body.get("security") {
            Some(s) => Some(read_security(s, &mloc.key("security"), r)?),
            None => None,
        };
        let op = Op {
            method: (*method).to_owned(),
            path: path.to_owned(),
            security,
            integration: body.get("x-amazon-apigateway-integration").is_some(),
            place: mloc.place(e.line),
            from: mloc.path.clone(),
        };
        model::check_key(&op.key()).map_err(|m| mloc.problem(body, m))?;
        doc.ops.push(op);
    }
    Ok(())
}

/// A `security` list: each requirement object's entries, in order.
pub fn read_security(node: &Node, loc: &Loc, r: &Resolver) -> Result<Vec<Req>, Problem> {
    let Some(node) = r.pick(node, loc)? else {
        return Ok(Vec::new());
    };
    let Some(items) = node.items() else {
        return Err(loc.problem(node, "security is a list of requirement objects"));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let iloc = loc.index(i);
        let Some(entries) = item.entries() else {
            return Err(iloc.problem(item, "a security requirement is a mapping"));
        };
        for e in entries {
            let eloc = iloc.key(&e.key);
            out.push(Req {
                scheme: e.key.clone(),
                scopes: r.strings(&e.value, &eloc)?,
                place: eloc.place(e.line),
            });
        }
    }
    Ok(out)
}

fn read_schemes(root: &Node, loc: &Loc, r: &Resolver, doc: &mut Doc) -> Result<(), Problem> {
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

/// `x-amazon-apigateway-cors` (HTTP APIs).
fn read_cors(node: &Node, loc: &Loc, r: &Resolver) -> Result<Cors, Problem> {
    let mut cors = Cors::default();
    if let Some(n) = node.get("allowOrigins") {
        cors.origins = r.strings(n, &loc.key("allowOrigins"))?;
    }
    if let Some(n) = node.get("exposeHeaders") {
        cors.expose = r.strings(n, &loc.key("exposeHeaders"))?;
    }
    if let Some(n) = node.get("allowCredentials") {
        cors.credentials = r.boolean(n, &loc.key("allowCredentials"))?.unwrap_or(false);
    }
    Ok(cors)
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
