//! Every duplicate mapping key in a file, each with its YAML path and line. The tree reader
//! keeps one of two equal keys silently, so duplicates are found on the parser's events.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::Problem;
use super::yaml::child;

enum Frame {
    Mapping {
        path: String,
        /// Each key seen, with its line.
        seen: HashMap<String, usize>,
        /// The key whose value comes next; `None` when a key comes next.
        key: Option<String>,
    },
    Sequence {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Finder {
    stack: Vec<Frame>,
    problems: Vec<Problem>,
}

impl Finder {
    /// The path of the node that starts now, as the value of its parent; `None` for a key.
    fn enter(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Sequence { path, next }) => {
                *next += 1;
                Some(format!("{path}[{}]", *next - 1))
            }
            Some(Frame::Mapping { path, key, .. }) => key.take().map(|k| child(path, &k)),
        }
    }
}

impl MarkedEventReceiver for Finder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Mapping { path, seen, key }) = self.stack.last_mut()
                    && key.is_none()
                {
                    if let Some(first) = seen.get(&value) {
                        self.problems.push(Problem {
                            path: child(path, &value),
                            line: Some(mark.line()),
                            message: format!("duplicate key `{value}` (first at line {first})"),
                        });
                    } else {
                        seen.insert(value.clone(), mark.line());
                    }
                    *key = Some(value);
                } else {
                    self.enter();
                }
            }
            Event::MappingStart(..) => {
                // A mapping used as a key is refused by the tree reader; its path is moot.
                let path = self.enter().unwrap_or_default();
                self.stack.push(Frame::Mapping {
                    path,
                    seen: HashMap::new(),
                    key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.enter().unwrap_or_default();
                self.stack.push(Frame::Sequence { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Alias(_) => {
                self.enter();
            }
            _ => {}
        }
    }
}

/// Duplicate keys of `text`; a file that does not parse has none (the tree reader reports it).
pub(super) fn find(text: &str) -> Vec<Problem> {
    let mut finder = Finder::default();
    match Parser::new_from_str(text).load(&mut finder, false) {
        Ok(()) => finder.problems,
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duplicate_is_found_at_its_own_path_and_line() {
        let text = "a: 1\nroutes:\n  \"GET /x\": {public: true}\n  \"GET /x\": {public: true}\nlist:\n  - {k: 1, k: 2}\na: 2\n";
        let p = find(text);
        let got: Vec<(&str, Option<usize>)> = p.iter().map(|p| (p.path.as_str(), p.line)).collect();
        assert_eq!(
            got,
            [
                (r#"routes["GET /x"]"#, Some(4)),
                ("list[0].k", Some(6)),
                ("a", Some(7)),
            ]
        );
        assert!(p[0].message.contains("first at line 3"), "{p:?}");
        assert!(find("a: [1, 2]\nb: {c: 1}\n").is_empty());
    }
}
