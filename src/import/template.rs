//! The template reader: one YAML or JSON document into a tree that keeps each node's line, with
//! CloudFormation's short tags (`!Ref X`, `!GetAtt A.B`, `!Sub …`) turned into their long forms
//! (`{Ref: X}`, `{Fn::GetAtt: A.B}`, `{Fn::Sub: …}`), so the rest of the importer reads one shape.
//!
//! JSON is read by the same YAML parser (JSON documents are YAML flow documents). Anchors and
//! aliases are refused: CloudFormation templates rarely use them, and refusing them bounds the
//! tree by the input's size.

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::{Place, Problem};

/// Deeper nesting than this is refused, so nothing that walks the tree can overflow the stack.
pub const MAX_DEPTH: usize = 128;

/// One node of the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// 1-based.
    pub line: usize,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `plain` is false for quoted and block scalars: `"true"` is a string, `true` may be a bool.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Keys in file order, each with its own line.
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub line: usize,
    pub value: Node,
}

/// The short tags CloudFormation defines, with the long form each stands for.
const SHORT_TAGS: [(&str, &str); 20] = [
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("Base64", "Fn::Base64"),
    ("Cidr", "Fn::Cidr"),
    ("FindInMap", "Fn::FindInMap"),
    ("GetAtt", "Fn::GetAtt"),
    ("GetAZs", "Fn::GetAZs"),
    ("ImportValue", "Fn::ImportValue"),
    ("Join", "Fn::Join"),
    ("Select", "Fn::Select"),
    ("Split", "Fn::Split"),
    ("Sub", "Fn::Sub"),
    ("Transform", "Fn::Transform"),
    ("And", "Fn::And"),
    ("Equals", "Fn::Equals"),
    ("If", "Fn::If"),
    ("Not", "Fn::Not"),
    ("Or", "Fn::Or"),
    ("Length", "Fn::Length"),
    ("ToJsonString", "Fn::ToJsonString"),
];

impl Node {
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// YAML's null: `~`, `null`, or nothing at all.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// A key's value; a `null` value reads as absent, as CloudFormation reads it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value).filter(|v| !v.is_null())
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    /// `{Ref: …}`, `{Condition: …}` or `{Fn::…: …}`: the function's name and argument.
    pub fn intrinsic(&self) -> Option<(&str, &Node)> {
        match self.entries()? {
            [e] if e.key == "Ref" || e.key == "Condition" || e.key.starts_with("Fn::") => {
                Some((&e.key, &e.value))
            }
            _ => None,
        }
    }
}

/// Reads one document whose top level is a mapping.
pub fn parse(file: &str, text: &str) -> Result<Node, Problem> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    let problem = |mark: &Marker, message: String| Problem {
        place: Place::new(file, "", Some(mark.line())),
        message,
    };
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| problem(e.marker(), format!("not valid YAML or JSON: {}", e.info())))?;
        match builder.feed(event, &mark) {
            Ok(Step::More) => {}
            Ok(Step::Done) => break,
            Err(message) => return Err(problem(&mark, message)),
        }
    }
    match builder.root {
        Some(root) if root.entries().is_some() => Ok(root),
        Some(root) => Err(Problem {
            place: Place::new(file, "", Some(root.line)),
            message: "the document must be a mapping (a template or an OpenAPI document)".into(),
        }),
        None => Err(Problem {
            place: Place::new(file, "", Some(1)),
            message: "the file is empty".into(),
        }),
    }
}

enum Step {
    More,
    Done,
}

enum Open {
    Seq {
        line: usize,
        tag: Option<Tag>,
        items: Vec<Node>,
    },
    Map {
        line: usize,
        tag: Option<Tag>,
        entries: Vec<Entry>,
        key: Option<(String, usize)>,
    },
}

#[derive(Default)]
struct Builder {
    open: Vec<Open>,
    root: Option<Node>,
    documents: usize,
}

impl Builder {
    fn feed(&mut self, event: Event, mark: &Marker) -> Result<Step, String> {
        let line = mark.line();
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => return Ok(Step::Done),
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err("several YAML documents in one file".into());
                }
            }
            Event::Alias(_) => return Err("YAML aliases are not supported".into()),
            Event::Scalar(text, style, anchor, tag) => {
                refuse_anchor(anchor)?;
                let plain = matches!(style, TScalarStyle::Plain);
                let node = Node {
                    line,
                    kind: Kind::Scalar { text, plain },
                };
                self.close(tagged(node, tag)?)?;
            }
            Event::SequenceStart(anchor, tag) => {
                refuse_anchor(anchor)?;
                self.push(Open::Seq {
                    line,
                    tag,
                    items: Vec::new(),
                })?;
            }
            Event::MappingStart(anchor, tag) => {
                refuse_anchor(anchor)?;
                self.push(Open::Map {
                    line,
                    tag,
                    entries: Vec::new(),
                    key: None,
                })?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.open.pop() {
                    Some(Open::Seq { line, tag, items }) => tagged(
                        Node {
                            line,
                            kind: Kind::Seq(items),
                        },
                        tag,
                    )?,
                    Some(Open::Map {
                        line, tag, entries, ..
                    }) => tagged(
                        Node {
                            line,
                            kind: Kind::Map(entries),
                        },
                        tag,
                    )?,
                    None => return Err("unbalanced YAML structure".into()),
                };
                self.close(node)?;
            }
        }
        Ok(Step::More)
    }

    fn push(&mut self, open: Open) -> Result<(), String> {
        if self.open.len() >= MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.open.push(open);
        Ok(())
    }

    /// A finished node goes to its parent: an item, a key, or a key's value.
    fn close(&mut self, node: Node) -> Result<(), String> {
        match self.open.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Open::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Open::Map { entries, key, .. }) => match key.take() {
                None => {
                    let Kind::Scalar { text, .. } = node.kind else {
                        return Err("a mapping key must be a plain string".into());
                    };
                    if entries.iter().any(|e| e.key == text) {
                        return Err(format!("duplicate key `{text}`"));
                    }
                    *key = Some((text, node.line));
                    Ok(())
                }
                Some((k, line)) => {
                    entries.push(Entry {
                        key: k,
                        line,
                        value: node,
                    });
                    Ok(())
                }
            },
        }
    }
}

fn refuse_anchor(anchor: usize) -> Result<(), String> {
    if anchor == 0 {
        Ok(())
    } else {
        Err("YAML anchors are not supported".into())
    }
}

/// Applies a node's tag: a CloudFormation short tag becomes its long form; YAML's own `!!str`
/// keeps a scalar a string; anything else is refused.
fn tagged(node: Node, tag: Option<Tag>) -> Result<Node, String> {
    let Some(tag) = tag else {
        return Ok(node);
    };
    if tag.handle == "!" {
        let Some((_, long)) = SHORT_TAGS.iter().find(|(short, _)| *short == tag.suffix) else {
            return Err(format!("unknown tag `!{}`", tag.suffix));
        };
        let line = node.line;
        return Ok(Node {
            line,
            kind: Kind::Map(vec![Entry {
                key: (*long).to_owned(),
                line,
                value: node,
            }]),
        });
    }
    match (&node.kind, tag.suffix.as_str()) {
        (Kind::Scalar { text, .. }, "str") if tag.handle == "tag:yaml.org,2002:" => Ok(Node {
            line: node.line,
            kind: Kind::Scalar {
                text: text.clone(),
                plain: false,
            },
        }),
        _ => Err(format!("unsupported tag `{}{}`", tag.handle, tag.suffix)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Node {
        match parse("t.yaml", text) {
            Ok(n) => n,
            Err(p) => panic!("{p}"),
        }
    }

    #[test]
    fn short_tags_become_long_forms_with_their_lines() {
        let root = read("a: !Ref Pool\nb:\n  - !GetAtt Pool.Arn\nc: !Sub\n  - x${Y}\n  - {Y: 1}\n");
        let (name, arg) = root.get("a").and_then(Node::intrinsic).expect("a");
        assert_eq!((name, arg.scalar(), arg.line), ("Ref", Some("Pool"), 1));
        let b = &root.get("b").and_then(Node::items).expect("b")[0];
        assert_eq!(b.intrinsic().map(|(n, _)| n), Some("Fn::GetAtt"));
        assert_eq!(b.line, 3);
        let (name, arg) = root.get("c").and_then(Node::intrinsic).expect("c");
        assert_eq!(name, "Fn::Sub");
        assert_eq!(arg.items().map(<[Node]>::len), Some(2));
    }

    #[test]
    fn json_long_forms_read_alike() {
        let root = read("{\n  \"a\": {\"Ref\": \"Pool\"},\n\t\"b\": [true, \"x\"]\n}\n");
        assert_eq!(
            root.get("a").and_then(Node::intrinsic).map(|(n, _)| n),
            Some("Ref")
        );
        let b = root.get("b").and_then(Node::items).expect("b");
        assert_eq!(
            b[0].kind,
            Kind::Scalar {
                text: "true".into(),
                plain: true
            }
        );
        assert_eq!(b[1].line, 3);
    }

    #[test]
    fn errors_carry_their_line() {
        for (text, line, what) in [
            ("a: 1\nb: !Bogus x\n", 2, "unknown tag `!Bogus`"),
            ("a: 1\na: 2\n", 2, "duplicate key `a`"),
            ("a: &x 1\nb: *x\n", 1, "anchors"),
            ("a: [1,\n", 2, "not valid"),
            ("- 1\n", 1, "must be a mapping"),
            ("a: 1\n---\nb: 2\n", 2, "several YAML documents"),
        ] {
            let p = parse("t.yaml", text).expect_err(text);
            assert_eq!(p.place.line, Some(line), "{text:?}: {p}");
            assert!(p.message.contains(what), "{text:?}: {p}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "a: {}{}\n",
            "[".repeat(MAX_DEPTH + 5),
            "]".repeat(MAX_DEPTH + 5)
        );
        let p = parse("t.yaml", &deep).expect_err("too deep");
        assert!(p.message.contains("nested deeper"), "{p}");
    }
}

#[cfg(test)]
mod key_lines {
    use super::*;

    #[test]
    fn keys_carry_their_own_line() {
        let root = parse("t.yaml", "a:\n  b: 1\n  c:\n    - x: 1\n  d: 2\n").expect("parses");
        let a = root.get("a").expect("a");
        let lines: Vec<(String, usize)> = a
            .entries()
            .expect("map")
            .iter()
            .map(|e| (e.key.clone(), e.line))
            .collect();
        assert_eq!(
            lines,
            [
                ("b".to_owned(), 2),
                ("c".to_owned(), 3),
                ("d".to_owned(), 5)
            ]
        );
    }
}
