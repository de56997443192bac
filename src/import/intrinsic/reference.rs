//! What a name refers to: a `--parameter` value, a pseudo parameter, a template parameter
//! (its default, unless SSM-typed), or a resource (known only once deployed).

use super::{Resolver, Val};
use crate::import::template::Node;
use crate::import::{Loc, Problem};

impl Resolver {
    /// `Ref` (a parameter, pseudo parameter or resource) or `Fn::GetAtt`.
    pub(super) fn reference(
        &self,
        target: &str,
        attribute: Option<&str>,
        loc: &Loc,
        node: &Node,
    ) -> Result<Val, Problem> {
        let key = match attribute {
            Some(a) => format!("{target}.{a}"),
            None => target.to_owned(),
        };
        if let Some(v) = self.given.get(&key) {
            let declared_list = attribute.is_none()
                && self
                    .params
                    .get(target)
                    .and_then(|p| p.get("Type"))
                    .and_then(Node::scalar)
                    .is_some_and(is_list_type);
            return Ok(if declared_list {
                Val::List(v.split(',').map(|s| s.trim().to_owned()).collect())
            } else {
                Val::Str(v.clone())
            });
        }
        if attribute.is_none() {
            match target {
                "AWS::Partition" => return Ok(Val::Str("aws".into())),
                "AWS::URLSuffix" => return Ok(Val::Str("amazonaws.com".into())),
                "AWS::NoValue" => return Ok(Val::NoValue),
                _ => {}
            }
            if let Some(param) = self.params.get(target) {
                return self.parameter(target, param, loc, node);
            }
            if target.starts_with("AWS::") {
                return Err(loc.problem(
                    node,
                    format!(
                        "`{target}` is known only when deployed: pass --parameter {target}=VALUE"
                    ),
                ));
            }
        }
        match self.resources.get(target) {
            Some(kind) => {
                let what = match attribute {
                    Some(a) => format!("`{target}.{a}` ({kind})"),
                    None => format!("`Ref {target}` ({kind})"),
                };
                Err(loc.problem(
                    node,
                    format!("{what} is known only once deployed: pass --parameter {key}=VALUE"),
                ))
            }
            None => Err(loc.problem(
                node,
                format!("`{target}` is neither a parameter nor a resource of this template"),
            )),
        }
    }

    fn parameter(&self, name: &str, decl: &Node, loc: &Loc, node: &Node) -> Result<Val, Problem> {
        let kind = decl.get("Type").and_then(Node::scalar).unwrap_or("String");
        // An SSM-typed parameter's default is the name of an SSM parameter; CloudFormation
        // reads its value from Parameter Store at deploy time, which an offline import cannot.
        // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
        if kind.starts_with("AWS::SSM::Parameter::Value<") {
            let default = decl.get("Default").and_then(Node::scalar).unwrap_or("");
            return Err(loc.problem(
                node,
                format!(
                    "parameter {name} is SSM-typed ({kind}): its default `{default}` names an SSM \
                     parameter, not its value: pass --parameter {name}=VALUE"
                ),
            ));
        }
        let Some(default) = decl.get("Default") else {
            return Err(loc.problem(
                node,
                format!("parameter {name} has no default: pass --parameter {name}=VALUE"),
            ));
        };
        let text = default
            .scalar()
            .ok_or_else(|| loc.problem(default, "a parameter's Default is a string"))?;
        if is_list_type(kind) {
            return Ok(Val::List(
                text.split(',').map(|s| s.trim().to_owned()).collect(),
            ));
        }
        Ok(Val::Str(text.to_owned()))
    }
}

fn is_list_type(kind: &str) -> bool {
    kind == "CommaDelimitedList" || kind.starts_with("List<")
}
