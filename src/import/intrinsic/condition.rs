//! `Conditions`: `Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not` and `Condition`, each condition
//! evaluated once, a loop between them an error.

use super::Resolver;
use crate::import::template::{MAX_DEPTH, Node};
use crate::import::{Loc, Problem};

impl Resolver {
    /// Whether the condition `name` holds.
    pub(super) fn condition(
        &self,
        name: &str,
        loc: &Loc,
        at: &Node,
        depth: usize,
    ) -> Result<bool, Problem> {
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

    /// A condition function's value.
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
