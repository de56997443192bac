//! What a CloudFormation method (REST) or route (HTTP API) allows: its `AuthorizationType`, and
//! the authorizer its `AuthorizerId` names. The two API kinds differ only in the name of their
//! token authorizer's type and resource, and in how an authorizer resource is read.

use super::intrinsic::Resolver;
use super::model::{Access, Authorizer};
use super::template::Node;
use super::{Loc, Problem, Source};

/// One API kind's names for its token authorizer.
pub struct Kind {
    /// The `AuthorizationType` that means the token authorizer (`JWT`, `COGNITO_USER_POOLS`).
    pub guarded: &'static str,
    /// The authorizer resource `AuthorizerId` must name.
    pub resource: &'static str,
    /// What the authorizer is called in messages (`JWT`, `Cognito`).
    pub noun: &'static str,
}

/// Reads an authorizer resource: the authorizer, or why it cannot be carried over.
pub type ReadAuthorizer = fn(&Source, &str, &Node) -> Result<Result<Authorizer, String>, Problem>;

/// `key: why cannot be carried over`, at `node`.
pub fn refused(key: &str, node: &Node, loc: &Loc, why: &str) -> Access {
    Access::Refused(loc.problem(node, format!("{key}: {why} cannot be carried over")))
}

/// What the method or route `props` (at `loc`, named `key` in messages) allows.
pub fn of(
    src: &Source,
    props: &Node,
    loc: &Loc,
    key: &str,
    api: &Kind,
    read: ReadAuthorizer,
) -> Result<Access, Problem> {
    let r = &src.resolver;
    let kind = match props.get("AuthorizationType") {
        Some(n) => r
            .string(n, &loc.key("AuthorizationType"))?
            .unwrap_or_else(|| "NONE".into()),
        None if props.get("AuthorizerId").is_some() => {
            return Err(loc.problem(props, "AuthorizerId without AuthorizationType"));
        }
        None => "NONE".into(),
    };
    let tloc = loc.key("AuthorizationType");
    let type_node = props.get("AuthorizationType").unwrap_or(props);
    match kind.as_str() {
        "NONE" => Ok(Access::Public),
        "AWS_IAM" => Ok(refused(
            key,
            type_node,
            &tloc,
            "IAM authorization (AWS_IAM)",
        )),
        k if k == api.guarded || k == "CUSTOM" => {
            let aloc = loc.key("AuthorizerId");
            let Some(id_node) = props.get("AuthorizerId") else {
                return Err(loc.problem(
                    props,
                    format!("AuthorizationType {kind} needs AuthorizerId"),
                ));
            };
            let Some((aid, None)) = Resolver::target(id_node) else {
                return Err(aloc.problem(
                    id_node,
                    format!("expected !Ref of an {} in this template", api.resource),
                ));
            };
            let Some(anode) = src.root.get("Resources").and_then(|r| r.get(aid)) else {
                return Err(aloc.problem(id_node, format!("no resource {aid}")));
            };
            let scopes = match props.get("AuthorizationScopes") {
                Some(n) => r.strings(n, &loc.key("AuthorizationScopes"))?,
                None => Vec::new(),
            };
            match read(src, aid, anode)? {
                Ok(a) if kind == api.guarded => Ok(Access::Guarded {
                    authorizer: a,
                    scopes,
                }),
                Ok(_) => Err(tloc.problem(
                    props,
                    format!(
                        "AuthorizationType CUSTOM names the {} authorizer {aid}",
                        api.noun
                    ),
                )),
                Err(why) => Ok(refused(key, id_node, &aloc, &why)),
            }
        }
        other => Err(tloc.problem(props, format!("unknown AuthorizationType `{other}`"))),
    }
}
