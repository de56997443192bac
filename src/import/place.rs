//! Where things are in the files an import reads, and the errors that point there.

use std::fmt;
use std::rc::Rc;

use super::template::Node;

/// A place in a file: its path in the YAML/JSON document and its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The file as named on the command line.
    pub file: String,
    /// `Resources.MyApi.Properties.Auth`, `paths["/pets"].get`; empty for the whole file.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
}

impl Place {
    /// A place in `file` at `path`, on `line` if known.
    pub fn new(file: &str, path: &str, line: Option<usize>) -> Place {
        Place {
            file: file.to_owned(),
            path: path.to_owned(),
            line,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        Ok(())
    }
}

/// One thing that stops an import, at its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where the problem is.
    pub place: Place,
    /// What is wrong, for the operator.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The file as named.
        file: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// Every problem found.
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl From<Problem> for Error {
    fn from(p: Problem) -> Self {
        Error::Invalid(vec![p])
    }
}

/// Where a node is: its file and its YAML/JSON path.
#[derive(Clone, Debug)]
pub(crate) struct Loc {
    pub file: Rc<str>,
    pub path: String,
    parent: usize,
}

impl Loc {
    pub fn new(file: &str, path: &str) -> Loc {
        Loc {
            file: file.into(),
            path: path.to_owned(),
            parent: 0,
        }
    }

    /// `a.b`, or `a["/pets"]` when the key is not a plain name.
    pub fn key(&self, key: &str) -> Loc {
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '$'));
        let path = match (self.path.is_empty(), plain) {
            (true, true) => key.to_owned(),
            (false, true) => format!("{}.{key}", self.path),
            (_, false) => format!("{}[{key:?}]", self.path),
        };
        Loc {
            file: self.file.clone(),
            path,
            parent: self.path.len(),
        }
    }

    pub fn index(&self, i: usize) -> Loc {
        Loc {
            file: self.file.clone(),
            path: format!("{}[{i}]", self.path),
            parent: self.path.len(),
        }
    }

    /// The path one step up.
    pub fn parent(&self) -> &str {
        &self.path[..self.parent.min(self.path.len())]
    }

    pub fn parent_place(&self, line: usize) -> Place {
        Place::new(&self.file, self.parent(), Some(line))
    }

    pub fn place(&self, line: usize) -> Place {
        Place::new(&self.file, &self.path, Some(line))
    }

    pub fn problem(&self, node: &Node, message: impl Into<String>) -> Problem {
        Problem {
            place: self.place(node.line),
            message: message.into(),
        }
    }
}
