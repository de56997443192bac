//! OpenAPI 3 and Swagger 2 documents as API Gateway reads them: paths and operations with their
//! `security` requirements, the API's CORS and resource policy; [`scheme`] reads the security
//! schemes those requirements name and what each requirement means.
//!
//! The reference: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions.html

mod scheme;

pub use scheme::{Scheme, SchemeKind, access, sources, validation_expression};

use super::intrinsic::Resolver;
use super::model::{self, Cors, Flavor};
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
    scheme::read(root, loc, r, &mut doc)?;
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
