//! Reading a marked YAML tree while collecting every problem, each with its path and line.

use std::net::SocketAddr;
use std::time::Duration;

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use super::Problem;

/// Walks YAML nodes, recording problems instead of stopping at the first.
#[derive(Default)]
pub(super) struct Reader {
    pub problems: Vec<Problem>,
}

fn line(node: &Node) -> Option<usize> {
    node.span().start().map(marked_yaml::Marker::line)
}

fn is_null(s: &MarkedScalarNode) -> bool {
    s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
}

/// `a.b`, or `a["key with spaces"]` when the key is not a plain identifier.
pub(super) fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

impl Reader {
    pub fn problem(&mut self, path: &str, node: Option<&Node>, message: impl Into<String>) {
        self.problem_at(path, node.and_then(line), message);
    }

    pub fn problem_at(&mut self, path: &str, line: Option<usize>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_owned(),
            line,
            message: message.into(),
        });
    }

    /// A mapping whose keys are all in `allowed`; unknown keys are reported at their own path.
    pub fn mapping<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'n MarkedMappingNode> {
        match node {
            Node::Mapping(m) => {
                for (k, v) in m.iter() {
                    if !allowed.contains(&k.as_str()) {
                        let expected = allowed.join(", ");
                        self.problem(
                            &child(path, k),
                            Some(v),
                            format!("unknown key `{}` (expected one of: {expected})", k.as_str()),
                        );
                    }
                }
                Some(m)
            }
            Node::Scalar(s) if is_null(s) => None,
            _ => {
                self.problem(path, Some(node), "expected a mapping");
                None
            }
        }
    }

    /// Any mapping (user-chosen keys), as `(key, key's line, value)` in file order.
    pub fn entries<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
    ) -> Vec<(&'n str, Option<usize>, &'n Node)> {
        match node {
            Node::Mapping(m) => m
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str(),
                        k.span().start().map(marked_yaml::Marker::line),
                        v,
                    )
                })
                .collect(),
            Node::Scalar(s) if is_null(s) => Vec::new(),
            _ => {
                self.problem(path, Some(node), "expected a mapping");
                Vec::new()
            }
        }
    }

    /// A key's value, with YAML `null` read as absent.
    pub fn get<'n>(map: Option<&'n MarkedMappingNode>, key: &str) -> Option<&'n Node> {
        let node = map?.get_node(key)?;
        match node {
            Node::Scalar(s) if is_null(s) => None,
            n => Some(n),
        }
    }

    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match node {
            Node::Scalar(s) => Some(s.as_str().to_owned()),
            _ => {
                self.problem(path, Some(node), "expected a string");
                None
            }
        }
    }

    /// A list of strings; a single string is read as a list of one.
    pub fn strings(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        match node {
            Node::Scalar(s) => Some(vec![s.as_str().to_owned()]),
            Node::Sequence(seq) => {
                let mut out = Vec::with_capacity(seq.len());
                for (i, item) in seq.iter().enumerate() {
                    match item {
                        Node::Scalar(s) => out.push(s.as_str().to_owned()),
                        _ => self.problem(&format!("{path}[{i}]"), Some(item), "expected a string"),
                    }
                }
                Some(out)
            }
            Node::Mapping(_) => {
                self.problem(path, Some(node), "expected a list of strings");
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        let b = node.as_scalar().and_then(MarkedScalarNode::as_bool);
        if b.is_none() {
            self.problem(path, Some(node), "expected true or false");
        }
        b
    }

    pub fn count(&mut self, node: &Node, path: &str) -> Option<u64> {
        let n = node.as_scalar().and_then(MarkedScalarNode::as_u64);
        if n.is_none() {
            self.problem(path, Some(node), "expected a whole number");
        }
        n
    }

    pub fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = self.string(node, path)?;
        match humantime::parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(
                    path,
                    Some(node),
                    format!("`{text}` is not a duration such as 30s, 15m or 2h: {e}"),
                );
                None
            }
        }
    }

    /// A size in bytes: a whole number, or one with `B`, `KiB`, `MiB`, `KB` or `MB`.
    pub fn size(&mut self, node: &Node, path: &str) -> Option<usize> {
        let text = self.string(node, path)?;
        let digits = text
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = text.trim()[digits.len()..].trim();
        let factor = match unit {
            "" | "B" => Some(1),
            "KiB" => Some(1024),
            "MiB" => Some(1024 * 1024),
            "KB" | "kB" => Some(1000),
            "MB" => Some(1_000_000),
            _ => None,
        };
        let value = digits.trim().parse::<usize>().ok();
        let size = factor.zip(value).and_then(|(f, v)| v.checked_mul(f));
        if size.is_none() {
            self.problem(
                path,
                Some(node),
                format!("`{text}` is not a size such as 65536, 64KiB or 1MiB"),
            );
        }
        size
    }

    pub fn addr(&mut self, node: &Node, path: &str) -> Option<SocketAddr> {
        let text = self.string(node, path)?;
        match text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(
                    path,
                    Some(node),
                    format!("`{text}` is not an IP address and port such as 127.0.0.1:9191"),
                );
                None
            }
        }
    }
}
