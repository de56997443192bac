//! Plain CloudFormation HTTP APIs: `AWS::ApiGatewayV2::Api` (its `Body`, its quick-create
//! `Target`, its `CorsConfiguration`), each `Route` with its `AuthorizationType`, and the JWT
//! `Authorizer`s they name.
//!
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigatewayv2-api.html
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigatewayv2-route.html
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigatewayv2-authorizer.html

use super::access;
use super::intrinsic::Resolver;
use super::model::{self, Access, Api, Authorizer, Cors, Flavor, Route};
use super::openapi;
use super::template::Node;
use super::{Loc, Problem, Source};

pub fn api(src: &Source, id: &str, node: &Node, loc: &Loc) -> Result<Api, Problem> {
    let r = &src.resolver;
    let ploc = loc.key("Properties");
    let empty = Node {
        line: node.line,
        kind: super::template::Kind::Map(Vec::new()),
    };
    let props = node.get("Properties").unwrap_or(&empty);
    let mut api = Api {
        what: format!("AWS::ApiGatewayV2::Api {id}"),
        place: loc.place(node.line),
        flavor: Flavor::Http,
        routes: Vec::new(),
        cors: None,
        policy: None,
        mtls: super::domain_mtls(src, id)?,
        warnings: Vec::new(),
    };
    if let Some(p) = props.get("ProtocolType") {
        let kind = r.string(p, &ploc.key("ProtocolType"))?.unwrap_or_default();
        if kind != "HTTP" {
            return Err(ploc.key("ProtocolType").problem(
                p,
                format!("a {kind} API is not an HTTP API: tokengate imports HTTP and REST APIs"),
            ));
        }
    }
    if let Some(b) = props.get("BodyS3Location") {
        return Err(ploc.key("BodyS3Location").problem(
            b,
            "the OpenAPI body is on S3, which an import cannot read: save it beside the template \
             and import that file",
        ));
    }
    if let Some(body) = props.get("Body") {
        let bloc = ploc.key("Body");
        let doc = match src.include(body, &bloc)? {
            Some(inc) => openapi::read(&inc.root, &Loc::new(&inc.file, ""), r, Some(Flavor::Http))?,
            None => openapi::read(body, &bloc, r, Some(Flavor::Http))?,
        };
        api.warnings.extend(doc.warnings.iter().cloned());
        api.cors = doc.cors.clone();
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
    if let Some(t) = props.entry("Target").filter(|t| !t.value.is_null()) {
        // Quick create: the API gets one route, `RouteKey` or `$default`, with no authorizer.
        // https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/apis.html#apis-prop-createapiinput-target
        let key = match props.get("RouteKey") {
            Some(k) => r
                .string(k, &ploc.key("RouteKey"))?
                .unwrap_or_else(|| "$default".into()),
            None => "$default".into(),
        };
        model::check_key(&key).map_err(|m| ploc.key("RouteKey").problem(props, m))?;
        api.routes.push(Route {
            key,
            from: format!("{} (quick create)", ploc.key("Target").path),
            place: ploc.key("Target").place(t.line),
            access: Access::Public,
        });
    }
    if let Some(c) = props.get("CorsConfiguration") {
        api.cors = Some(cors(r, c, &ploc.key("CorsConfiguration"))?);
    }
    let Some(resources) = src.root.get("Resources").and_then(Node::entries) else {
        return Ok(api);
    };
    for res in resources {
        if res.value.get("Type").and_then(Node::scalar) != Some("AWS::ApiGatewayV2::Route") {
            continue;
        }
        let rloc = Loc::new(&src.file, "Resources").key(&res.key);
        if !r.exists(&res.value, &rloc)? {
            continue;
        }
        let Some(props) = res.value.get("Properties") else {
            return Err(rloc.problem(&res.value, "a Route needs Properties"));
        };
        let rloc = rloc.key("Properties");
        let api_id = props.get("ApiId");
        let mine = api_id
            .and_then(Resolver::target)
            .is_some_and(|(t, _)| t == id)
            || api_id.and_then(Node::scalar) == Some(id);
        if !mine {
            continue;
        }
        let key = match props.get("RouteKey") {
            Some(k) => r.string(k, &rloc.key("RouteKey"))?.unwrap_or_default(),
            None => return Err(rloc.problem(props, "a Route needs RouteKey")),
        };
        model::check_key(&key).map_err(|m| rloc.key("RouteKey").problem(props, m))?;
        if api.routes.iter().any(|rt| rt.key == key) {
            return Err(rloc
                .key("RouteKey")
                .problem(props, format!("route {key} is defined twice")));
        }
        let access = access::of(src, props, &rloc, &key, &HTTP, authorizer)?;
        api.routes.push(Route {
            key,
            from: format!("Resources.{}", res.key),
            place: rloc.place(res.line),
            access,
        });
    }
    Ok(api)
}

/// The JWT authorizer's names in an HTTP API.
const HTTP: access::Kind = access::Kind {
    guarded: "JWT",
    resource: "AWS::ApiGatewayV2::Authorizer",
    noun: "JWT",
};

fn authorizer(src: &Source, id: &str, node: &Node) -> Result<Result<Authorizer, String>, Problem> {
    let r = &src.resolver;
    let loc = Loc::new(&src.file, "Resources").key(id).key("Properties");
    let Some(props) = node.get("Properties") else {
        return Err(loc.problem(node, "an Authorizer needs Properties"));
    };
    let kind = match props.get("AuthorizerType") {
        Some(n) => r.string(n, &loc.key("AuthorizerType"))?.unwrap_or_default(),
        None => String::new(),
    };
    match kind.as_str() {
        "JWT" => {}
        "REQUEST" => return Ok(Err(format!("Lambda authorizer {id} (type REQUEST)"))),
        other => {
            return Err(loc
                .key("AuthorizerType")
                .problem(props, format!("unknown AuthorizerType `{other}`")));
        }
    }
    let cloc = loc.key("JwtConfiguration");
    let Some(config) = props.get("JwtConfiguration") else {
        return Err(loc.problem(props, "a JWT authorizer needs JwtConfiguration"));
    };
    let issuer = match config.get("Issuer") {
        Some(n) => r.string(n, &cloc.key("Issuer"))?,
        None => None,
    }
    .ok_or_else(|| cloc.problem(config, "JwtConfiguration needs an Issuer"))?;
    let audience = match config.get("Audience") {
        Some(n) => r.strings(n, &cloc.key("Audience"))?,
        None => Vec::new(),
    };
    if audience.is_empty() {
        return Err(cloc.problem(config, "JwtConfiguration needs an Audience"));
    }
    let sources = openapi::sources(
        props.get("IdentitySource"),
        &loc.key("IdentitySource"),
        r,
        props,
    )?;
    Ok(Ok(Authorizer::Jwt {
        name: id.to_owned(),
        issuer,
        audience,
        sources,
    }))
}

/// `CorsConfiguration`: API Gateway answers preflights itself, before any authorizer.
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html
fn cors(r: &Resolver, node: &Node, loc: &Loc) -> Result<Cors, Problem> {
    let mut cors = Cors::default();
    if let Some(n) = node.get("AllowOrigins") {
        cors.origins = r.strings(n, &loc.key("AllowOrigins"))?;
    }
    if let Some(n) = node.get("ExposeHeaders") {
        cors.expose = r.strings(n, &loc.key("ExposeHeaders"))?;
    }
    if let Some(n) = node.get("AllowCredentials") {
        cors.credentials = r.boolean(n, &loc.key("AllowCredentials"))?.unwrap_or(false);
    }
    Ok(cors)
}
