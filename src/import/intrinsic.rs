//! CloudFormation's intrinsic functions, resolved offline from `--parameter` values, parameter
//! defaults, `Conditions` and `Mappings`.
//!
//! Resolution is lazy: only the values the importer reads are resolved, so a template whose
//! other resources use `Fn::GetAZs` or unknown ARNs imports without them. A value that cannot be
//! known before deployment is an error naming the `--parameter` that supplies it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use base64::Engine as _;

use super::template::{MAX_DEPTH, Node};
use super::{Loc, Problem};

/// A resolved value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    Str(String),
    List(Vec<String>),
    /// `!Ref AWS::NoValue`: the property is absent.
    NoValue,
}

/// The template's declarations that intrinsics refer to, and what the user passed.
pub struct Resolver {
    params: HashMap<String, Node>,
    conditions: Option<Node>,
    mappings: Option<Node>,
    /// Logical id → type.
    resources: HashMap<String, String>,
    given: Rc<HashMap<String, String>>,
    /// The template's, where `Conditions` are.
    file: String,
    /// Conditions being evaluated (a loop through `Fn::If` is an error, not a stack overflow)
    /// and those already known (each is evaluated once, however often it is used). Cells:
    /// the resolver is shared by reference and used on one thread.
    evaluating: RefCell<Vec<String>>,
    known: RefCell<HashMap<String, bool>>,
}

impl Resolver {
    pub fn new(root: &Node, file: &str, given: Rc<HashMap<String, String>>) -> Self {
        let mut params = HashMap::new();
        if let Some(entries) = root.get("Parameters").and_then(Node::entries) {
            for e in entries {
                params.insert(e.key.clone(), e.value.clone());
            }
        }
        let mut resources = HashMap::new();
        if let Some(entries) = root.get("Resources").and_then(Node::entries) {
            for e in entries {
                let kind = e.value.get("Type").and_then(Node::scalar).unwrap_or("");
                resources.insert(e.key.clone(), kind.to_owned());
            }
        }
        Resolver {
            params,
            conditions: root.get("Conditions").cloned(),
            mappings: root.get("Mappings").cloned(),
            resources,
            given,
            file: file.to_owned(),
            evaluating: RefCell::new(Vec::new()),
            known: RefCell::new(HashMap::new()),
        }
    }

    /// Follows `Fn::If` to the branch that applies; `None` for `AWS::NoValue`.
    pub fn pick<'n>(&self, node: &'n Node, loc: &Loc) -> Result<Option<&'n Node>, Problem> {
        let mut node = node;
        for _ in 0..MAX_DEPTH {
            match node.intrinsic() {
                Some(("Fn::If", arg)) => {
                    let (cond, yes, no) = match arg.items() {
                        Some([c, y, n]) => (c, y, n),
                        _ => return Err(loc.problem(node, "Fn::If takes [condition, then, else]")),
                    };
                    let name = cond
                        .scalar()
                        .ok_or_else(|| loc.problem(cond, "Fn::If names a condition"))?;
                    node = if self.condition(name, loc, cond, 0)? {
                        yes
                    } else {
                        no
                    };
                }
                Some(("Ref", arg)) if arg.scalar() == Some("AWS::NoValue") => return Ok(None),
                _ => return Ok(Some(node)),
            }
        }
        Err(loc.problem(node, "Fn::If nested too deeply"))
    }

    /// A string property.
    pub fn string(&self, node: &Node, loc: &Loc) -> Result<Option<String>, Problem> {
        match self.value(node, loc, 0)? {
            Val::Str(s) => Ok(Some(s)),
            Val::NoValue => Ok(None),
            Val::List(_) => Err(loc.problem(node, "expected a string, found a list")),
        }
    }

    /// A list of strings; a single string reads as a list of one.
    pub fn strings(&self, node: &Node, loc: &Loc) -> Result<Vec<String>, Problem> {
        let Some(node) = self.pick(node, loc)? else {
            return Ok(Vec::new());
        };
        if let Some(items) = node.items() {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match self.value(item, &loc.index(i), 0)? {
                    Val::Str(s) => out.push(s),
                    Val::List(l) => out.extend(l),
                    Val::NoValue => {}
                }
            }
            return Ok(out);
        }
        match self.value(node, loc, 0)? {
            Val::Str(s) => Ok(vec![s]),
            Val::List(l) => Ok(l),
            Val::NoValue => Ok(Vec::new()),
        }
    }

    /// A boolean property: `true`/`false` in any case, as CloudFormation accepts them.
    pub fn boolean(&self, node: &Node, loc: &Loc) -> Result<Option<bool>, Problem> {
        match self.string(node, loc)? {
            None => Ok(None),
            Some(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(s) => Err(loc.problem(node, format!("expected true or false, found `{s}`"))),
        }
    }

    /// Whether a resource's `Condition` holds (a resource without one exists).
    pub fn exists(&self, resource: &Node, loc: &Loc) -> Result<bool, Problem> {
        match resource.get("Condition") {
            None => Ok(true),
            Some(c) => {
                let loc = loc.key("Condition");
                let name = c.scalar().ok_or_else(|| {
                    loc.problem(c, "a resource's Condition is a condition's name")
                })?;
                self.condition(name, &loc, c, 0)
            }
        }
    }

    /// The logical id a `Ref` or `Fn::GetAtt` points at, for linking resources together.
    pub fn target(node: &Node) -> Option<(&str, Option<&str>)> {
        match node.intrinsic()? {
            ("Ref", arg) => Some((arg.scalar()?, None)),
            ("Fn::GetAtt", arg) => match (arg.scalar(), arg.items()) {
                (Some(s), _) => s.split_once('.').map(|(r, a)| (r, Some(a))),
                (_, Some([r, a])) => Some((r.scalar()?, Some(a.scalar()?))),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn resource_type(&self, id: &str) -> Option<&str> {
        self.resources.get(id).map(String::as_str)
    }

    fn value(&self, node: &Node, loc: &Loc, depth: usize) -> Result<Val, Problem> {
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

    /// `Ref` (a parameter, pseudo parameter or resource) or `Fn::GetAtt`.
    fn reference(
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

    fn sub(
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

    fn condition(&self, name: &str, loc: &Loc, at: &Node, depth: usize) -> Result<bool, Problem> {
        if depth > MAX_DEPTH {
            return Err(loc.problem(at, "conditions refer to each other in a loop"));
        }
        if let Some(known) = self.known.borrow().get(name) {
            return Ok(*known);
        }
        let Some(body) = self.conditions.as_ref().and_then(|c| c.get(name)) else {
            return Err(loc.problem(at, format!("no condition named `{name}` in Conditions")));
        };
        if self.evaluating.borrow().iter().any(|n| n == name)
            || self.evaluating.borrow().len() > MAX_DEPTH
        {
            return Err(loc.problem(at, format!("condition `{name}` depends on itself")));
        }
        self.evaluating.borrow_mut().push(name.to_owned());
        let cloc = Loc::new(&self.file, "Conditions").key(name);
        let result = self.truth(body, &cloc, depth + 1);
        self.evaluating.borrow_mut().pop();
        let value = result?;
        self.known.borrow_mut().insert(name.to_owned(), value);
        Ok(value)
    }

    fn truth(&self, node: &Node, loc: &Loc, depth: usize) -> Result<bool, Problem> {
        if depth > MAX_DEPTH {
            return Err(loc.problem(node, "conditions nested too deeply"));
        }
        let Some((name, arg)) = node.intrinsic() else {
            return Err(loc.problem(
                node,
                "a condition is Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition",
            ));
        };
        let loc = &loc.key(name);
        let args = || {
            arg.items()
                .ok_or_else(|| loc.problem(arg, format!("{name} takes a list")))
        };
        match name {
            "Condition" => {
                let other = arg
                    .scalar()
                    .ok_or_else(|| loc.problem(arg, "Condition names a condition"))?;
                self.condition(other, loc, arg, depth + 1)
            }
            "Fn::Equals" => match args()? {
                [a, b] => {
                    let a = self.value(a, &loc.index(0), depth + 1)?;
                    let b = self.value(b, &loc.index(1), depth + 1)?;
                    Ok(a == b)
                }
                _ => Err(loc.problem(arg, "Fn::Equals takes two values")),
            },
            "Fn::Not" => match args()? {
                [a] => Ok(!self.truth(a, &loc.index(0), depth + 1)?),
                _ => Err(loc.problem(arg, "Fn::Not takes one condition")),
            },
            "Fn::And" | "Fn::Or" => {
                let mut all = true;
                let mut any = false;
                for (i, c) in args()?.iter().enumerate() {
                    let t = self.truth(c, &loc.index(i), depth + 1)?;
                    all &= t;
                    any |= t;
                }
                Ok(if name == "Fn::And" { all } else { any })
            }
            _ => Err(loc.problem(node, format!("{name} is not a condition function"))),
        }
    }
}

fn is_list_type(kind: &str) -> bool {
    kind == "CommaDelimitedList" || kind.starts_with("List<")
}

#[cfg(test)]
mod tests;
