//! CloudFormation's intrinsic functions, resolved offline from `--parameter` values, parameter
//! defaults, `Conditions` and `Mappings`.
//!
//! Resolution is lazy: only the values the importer reads are resolved, so a template whose
//! other resources use `Fn::GetAZs` or unknown ARNs imports without them. A value that cannot be
//! known before deployment is an error naming the `--parameter` that supplies it.
//!
//! [`functions`] evaluates `Fn::*` and `Ref` to values, [`reference`] says what a name refers
//! to (parameters, pseudo parameters, resources), [`condition`] decides `Conditions`.

mod condition;
mod functions;
mod reference;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

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
}

#[cfg(test)]
mod tests;
