//! Plain CloudFormation REST APIs: `AWS::ApiGateway::RestApi` (its `Body`, its `Policy`), the
//! `Resource` tree under its root, each `Method` with its `AuthorizationType`, and the
//! `Authorizer`s they name.
//!
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-method.html
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-authorizer.html

use super::access;
use super::intrinsic::Resolver;
use super::model::{self, Access, Api, Authorizer, Flavor, Route};
use super::openapi;
use super::template::Node;
use super::{Loc, Problem, Source};

/// The REST API `id` with its methods.
pub fn api(src: &Source, id: &str, node: &Node, loc: &Loc) -> Result<Api, Problem> {
    let r = &src.resolver;
    let ploc = loc.key("Properties");
    let props = node.get("Properties");
    let mut api = Api {
        what: format!("AWS::ApiGateway::RestApi {id}"),
        place: loc.place(node.line),
        flavor: Flavor::Rest,
        routes: Vec::new(),
        cors: None,
        policy: None,
        mtls: super::domain_mtls(src, id)?,
        warnings: Vec::new(),
    };
    if let Some(p) = props
        .and_then(|p| p.entry("Policy"))
        .filter(|p| !p.value.is_null())
    {
        api.policy = Some(ploc.key("Policy").place(p.line));
    }
    if let Some(b) = props.and_then(|p| p.get("BodyS3Location")) {
        return Err(ploc.key("BodyS3Location").problem(
            b,
            "the OpenAPI body is on S3, which an import cannot read: save it beside the template \
             and import that file",
        ));
    }
    if let Some(body) = props.and_then(|p| p.get("Body")) {
        let bloc = ploc.key("Body");
        let doc = match src.include(body, &bloc)? {
            Some(inc) => openapi::read(&inc.root, &Loc::new(&inc.file, ""), r, Some(Flavor::Rest))?,
            None => openapi::read(body, &bloc, r, Some(Flavor::Rest))?,
        };
        api.warnings.extend(doc.warnings.iter().cloned());
        if doc.policy.is_some() {
            api.policy = doc.policy.clone();
        }
        for op in &doc.ops {
            let reqs = op
                .security
                .clone()
                .or_else(|| doc.top.clone())
                .unwrap_or_default();
            let access = openapi::access(&reqs, &doc.schemes, op);
            api.routes.push(Route {
                key: op.key(),
                from: op.from.clone(),
                place: op.place.clone(),
                access,
            });
        }
    }
    let Some(resources) = src.root.get("Resources").and_then(Node::entries) else {
        return Ok(api);
    };
    for res in resources {
        if res.value.get("Type").and_then(Node::scalar) != Some("AWS::ApiGateway::Method") {
            continue;
        }
        let mloc = Loc::new(&src.file, "Resources").key(&res.key);
        if !r.exists(&res.value, &mloc)? {
            continue;
        }
        let Some(props) = res.value.get("Properties") else {
            return Err(mloc.problem(&res.value, "a Method needs Properties"));
        };
        let mloc = mloc.key("Properties");
        if !belongs(props.get("RestApiId"), id) {
            continue;
        }
        let path = resource_path(
            src,
            id,
            props.get("ResourceId"),
            &mloc.key("ResourceId"),
            props,
        )?;
        let method = match props.get("HttpMethod") {
            Some(n) => r
                .string(n, &mloc.key("HttpMethod"))?
                .unwrap_or_default()
                .to_ascii_uppercase(),
            None => return Err(mloc.problem(props, "a Method needs HttpMethod")),
        };
        let key = format!("{method} {path}");
        model::check_key(&key).map_err(|m| mloc.problem(props, m))?;
        if api.routes.iter().any(|rt| rt.key == key) {
            return Err(mloc.problem(props, format!("{key} is defined twice")));
        }
        let access = method_access(src, props, &mloc, &key)?;
        api.routes.push(Route {
            key,
            from: format!("Resources.{}", res.key),
            place: mloc.place(res.line),
            access,
        });
    }
    Ok(api)
}

/// Whether a `RestApiId` names the API `id`.
fn belongs(node: Option<&Node>, id: &str) -> bool {
    node.and_then(Resolver::target)
        .is_some_and(|(t, _)| t == id)
        || node.and_then(Node::scalar) == Some(id)
}

/// The path of a `ResourceId`: the API's root, or a `Resource` chained up to it.
fn resource_path(
    src: &Source,
    api: &str,
    node: Option<&Node>,
    loc: &Loc,
    at: &Node,
) -> Result<String, Problem> {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = node;
    let mut loc = loc.clone();
    for _ in 0..super::template::MAX_DEPTH {
        let Some(n) = cur else {
            return Err(loc.problem(at, "a Method needs ResourceId"));
        };
        match Resolver::target(n) {
            Some((a, Some("RootResourceId"))) if a == api => {
                parts.reverse();
                return Ok(format!("/{}", parts.join("/")));
            }
            Some((res, None))
                if src.resolver.resource_type(res) == Some("AWS::ApiGateway::Resource") =>
            {
                let rnode = src
                    .root
                    .get("Resources")
                    .and_then(|r| r.get(res))
                    .and_then(|r| r.get("Properties"));
                let rloc = Loc::new(&src.file, "Resources").key(res).key("Properties");
                let Some(props) = rnode else {
                    return Err(loc.problem(n, format!("resource {res} has no Properties")));
                };
                let part = match props.get("PathPart") {
                    Some(p) => src
                        .resolver
                        .string(p, &rloc.key("PathPart"))?
                        .unwrap_or_default(),
                    None => return Err(rloc.problem(props, "a Resource needs PathPart")),
                };
                parts.push(part);
                cur = props.get("ParentId");
                loc = rloc.key("ParentId");
            }
            _ => {
                return Err(loc.problem(
                    n,
                    format!("expected !GetAtt {api}.RootResourceId or !Ref of an AWS::ApiGateway::Resource"),
                ));
            }
        }
    }
    Err(loc.problem(at, "the resource tree is too deep or loops"))
}

/// The Cognito authorizer's names in a REST API.
const REST: access::Kind = access::Kind {
    guarded: "COGNITO_USER_POOLS",
    resource: "AWS::ApiGateway::Authorizer",
    noun: "Cognito",
};

fn method_access(src: &Source, props: &Node, loc: &Loc, key: &str) -> Result<Access, Problem> {
    if let Some(n) = props.get("ApiKeyRequired")
        && src.resolver.boolean(n, &loc.key("ApiKeyRequired"))? == Some(true)
    {
        return Ok(access::refused(
            key,
            n,
            &loc.key("ApiKeyRequired"),
            "an API key requirement",
        ));
    }
    access::of(src, props, loc, key, &REST, authorizer)
}

/// An `AWS::ApiGateway::Authorizer`: a Cognito one, or why it cannot be carried over.
fn authorizer(src: &Source, id: &str, node: &Node) -> Result<Result<Authorizer, String>, Problem> {
    let r = &src.resolver;
    let loc = Loc::new(&src.file, "Resources").key(id).key("Properties");
    let Some(props) = node.get("Properties") else {
        return Err(loc.problem(node, "an Authorizer needs Properties"));
    };
    let kind = match props.get("Type") {
        Some(n) => r.string(n, &loc.key("Type"))?.unwrap_or_default(),
        None => String::new(),
    };
    match kind.as_str() {
        "COGNITO_USER_POOLS" => {}
        "TOKEN" | "REQUEST" => return Ok(Err(format!("Lambda authorizer {id} (type {kind})"))),
        other => {
            return Err(loc
                .key("Type")
                .problem(props, format!("unknown authorizer Type `{other}`")));
        }
    }
    if props.get("IdentityValidationExpression").is_some() {
        return Ok(Err(openapi::validation_expression(id)));
    }
    let ploc = loc.key("ProviderARNs");
    let Some(pnode) = props.get("ProviderARNs") else {
        return Err(loc.problem(props, "a COGNITO_USER_POOLS authorizer needs ProviderARNs"));
    };
    let pools = r.strings(pnode, &ploc)?;
    if pools.is_empty() {
        return Err(ploc.problem(pnode, "no user pool ARN"));
    }
    for p in &pools {
        model::check_pool_arn(p).map_err(|m| ploc.problem(pnode, m))?;
    }
    let source = match props.get("IdentitySource") {
        Some(n) => r.string(n, &loc.key("IdentitySource"))?.unwrap_or_default(),
        None => {
            return Err(loc.problem(
                props,
                "a COGNITO_USER_POOLS authorizer needs IdentitySource",
            ));
        }
    };
    let source =
        model::identity_source(&source).map_err(|m| loc.key("IdentitySource").problem(props, m))?;
    Ok(Ok(Authorizer::Cognito {
        name: id.to_owned(),
        pools,
        sources: vec![source],
    }))
}
