//! CloudFormation's intrinsic functions evaluated to values: `Ref`, `Fn::GetAtt`, `Fn::Sub`,
//! `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, `Fn::ImportValue`, `Fn::Base64`.

use base64::Engine as _;

use super::{Resolver, Val};
use crate::import::template::{MAX_DEPTH, Node};
use crate::import::{Loc, Problem};

impl Resolver {
    /// A scalar as it is, or an intrinsic function evaluated (`Fn::If` followed first).
    pub(super) fn value(&self, node: &Node, loc: &Loc, depth: usize) -> Result<Val, Problem> {
        if depth > MAX_DEPTH {
            return Err(loc.problem(node, "intrinsic functions nested too deeply"));
        }
        let Some(node) = self.pick(node, loc)? else {
            return Ok(Val::NoValue);
        };
        if let Some(text) = node.scalar() {
            return Ok(Val::Str(text.to_owned()));
        }
        let Some((name, arg)) = node.intrinsic() else {
            return Err(loc.problem(node, "expected a string"));
        };
        let loc = &loc.key(name);
        let str_of = |n: &Node, l: &Loc| -> Result<String, Problem> {
            match self.value(n, l, depth + 1)? {
                Val::Str(s) => Ok(s),
                _ => Err(l.problem(n, "expected a string")),
            }
        };
        let list_of = |n: &Node, l: &Loc| -> Result<Vec<String>, Problem> {
            if let Some(items) = n.items() {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match self.value(item, &l.index(i), depth + 1)? {
                        Val::Str(s) => out.push(s),
                        Val::List(v) => out.extend(v),
                        Val::NoValue => {}
                    }
                }
                return Ok(out);
            }
            match self.value(n, l, depth + 1)? {
                Val::List(v) => Ok(v),
                _ => Err(l.problem(n, "expected a list")),
            }
        };
        match name {
            "Ref" => {
                let target = arg
                    .scalar()
                    .ok_or_else(|| loc.problem(arg, "Ref takes a name"))?;
                self.reference(target, None, loc, node)
            }
            "Fn::GetAtt" => match Resolver::target(node) {
                Some((r, Some(a))) => self.reference(r, Some(a), loc, node),
                _ => Err(loc.problem(arg, "Fn::GetAtt takes Resource.Attribute")),
            },
            "Fn::Sub" => {
                let (text, vars) = match (arg.scalar(), arg.items()) {
                    (Some(t), _) => (t.to_owned(), None),
                    (_, Some([t, v])) => (str_of(t, &loc.index(0))?, Some((v, loc.index(1)))),
                    _ => return Err(loc.problem(arg, "Fn::Sub takes a string or [string, {vars}]")),
                };
                self.sub(&text, vars, loc, node, depth).map(Val::Str)
            }
            "Fn::Join" => match arg.items() {
                Some([sep, list]) => {
                    let sep = str_of(sep, &loc.index(0))?;
                    Ok(Val::Str(list_of(list, &loc.index(1))?.join(&sep)))
                }
                _ => Err(loc.problem(arg, "Fn::Join takes [delimiter, [values]]")),
            },
            "Fn::Select" => match arg.items() {
                Some([index, list]) => {
                    let i = str_of(index, &loc.index(0))?;
                    let list = list_of(list, &loc.index(1))?;
                    let item = i
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| list.get(i).cloned());
                    item.map(Val::Str).ok_or_else(|| {
                        loc.problem(node, format!("Fn::Select index {i} is outside the list"))
                    })
                }
                _ => Err(loc.problem(arg, "Fn::Select takes [index, [values]]")),
            },
            "Fn::Split" => match arg.items() {
                Some([sep, text]) => {
                    let sep = str_of(sep, &loc.index(0))?;
                    if sep.is_empty() {
                        return Err(loc.problem(arg, "Fn::Split needs a delimiter"));
                    }
                    let text = str_of(text, &loc.index(1))?;
                    Ok(Val::List(
                        text.split(sep.as_str()).map(str::to_owned).collect(),
                    ))
                }
                _ => Err(loc.problem(arg, "Fn::Split takes [delimiter, string]")),
            },
            "Fn::FindInMap" => match arg.items() {
                Some([map, top, second]) => {
                    let map = str_of(map, &loc.index(0))?;
                    let top = str_of(top, &loc.index(1))?;
                    let second = str_of(second, &loc.index(2))?;
                    let found = self
                        .mappings
                        .as_ref()
                        .and_then(|m| m.get(&map))
                        .and_then(|m| m.get(&top))
                        .and_then(|m| m.get(&second));
                    let Some(found) = found else {
                        return Err(
                            loc.problem(node, format!("Mappings has no {map}.{top}.{second}"))
                        );
                    };
                    match found.items() {
                        Some(_) => Ok(Val::List(list_of(found, loc)?)),
                        None => Ok(Val::Str(str_of(found, loc)?)),
                    }
                }
                _ => Err(loc.problem(arg, "Fn::FindInMap takes [map, key, key]")),
            },
            "Fn::ImportValue" => {
                let export = str_of(arg, loc)?;
                match self.given.get(&export) {
                    Some(v) => Ok(Val::Str(v.clone())),
                    None => Err(loc.problem(
                        node,
                        format!(
                            "Fn::ImportValue `{export}` is another stack's export: \
                             pass --parameter '{export}=VALUE'"
                        ),
                    )),
                }
            }
            "Fn::Base64" => {
                let text = str_of(arg, loc)?;
                Ok(Val::Str(
                    base64::engine::general_purpose::STANDARD.encode(text),
                ))
            }
            "Condition" => Err(loc.problem(node, "a Condition is not a value here")),
            other => Err(loc.problem(
                node,
                format!("{other} cannot be resolved without deploying the template"),
            )),
        }
    }

    /// `Fn::Sub`: `${Name}` and `${Resource.Attribute}` replaced, `${!Literal}` kept.
    pub(super) fn sub(
        &self,
        text: &str,
        vars: Option<(&Node, Loc)>,
        loc: &Loc,
        node: &Node,
        depth: usize,
    ) -> Result<String, Problem> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(loc.problem(node, "Fn::Sub has an unclosed `${`"));
            };
            let name = &after[..end];
            rest = &after[end + 1..];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
                continue;
            }
            let name = name.trim();
            if let Some((vars, vloc)) = &vars
                && let Some(v) = vars.get(name)
            {
                match self.value(v, &vloc.key(name), depth + 1)? {
                    Val::Str(s) => out.push_str(&s),
                    _ => return Err(vloc.problem(v, "a Fn::Sub variable is a string")),
                }
                continue;
            }
            let val = match name.split_once('.') {
                Some((r, a)) if !name.starts_with("AWS::") => {
                    self.reference(r, Some(a), loc, node)?
                }
                _ => self.reference(name, None, loc, node)?,
            };
            match val {
                Val::Str(s) => out.push_str(&s),
                _ => return Err(loc.problem(node, format!("`${{{name}}}` is not a string"))),
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}
