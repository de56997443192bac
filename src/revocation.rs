//! Revoked tokens: a list of `jti`, `origin_jti` and `sub` values read from a file, swapped
//! whole when the file changes, and checked on every decision, cache hits included.
//!
//! Entries are kept as 64-bit hashes of kind and value, and each verified token carries the
//! hashes of its own three claims, so a lookup on the hot path is a probe of a `u64` set: no
//! string is hashed or compared per check.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::metrics;

/// Which claim an entry names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The token's own id.
    Jti,
    /// Cognito puts it on every token of a refresh-token family.
    OriginJti,
    /// The subject: every token of that user.
    Sub,
}

impl Kind {
    /// Every kind, in the order a token's keys are kept.
    pub const ALL: [Kind; 3] = [Kind::Jti, Kind::OriginJti, Kind::Sub];

    /// The claim's name, as list lines and payloads write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Jti => "jti",
            Kind::OriginJti => "origin_jti",
            Kind::Sub => "sub",
        }
    }
}

/// The hash an entry and a token's claim share.
pub fn key(kind: Kind, value: &str) -> u64 {
    let mut h = DefaultHasher::new();
    kind.hash(&mut h);
    value.hash(&mut h);
    h.finish()
}

/// A token's revocation keys: the hash of each of `jti`, `origin_jti`, `sub` it carries.
pub type Keys = [Option<u64>; 3];

/// One version of the list.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct List {
    entries: HashSet<u64>,
}

/// What is wrong with a list file: each bad line, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file as configured.
        path: String,
        /// Why it could not be read.
        message: String,
    },
    /// Lines that are not entries: each 1-based line number and what is wrong with it.
    #[error("{}", lines(.0))]
    Lines(Vec<(usize, String)>),
}

fn lines(errors: &[(usize, String)]) -> String {
    let each: Vec<String> = errors
        .iter()
        .map(|(n, m)| format!("line {n}: {m}"))
        .collect();
    each.join("; ")
}

impl List {
    /// Reads `KIND VALUE` lines; blank lines and `#` comments are ignored. Any other line is
    /// an error, and a file with errors is refused whole.
    pub fn parse(text: &str) -> Result<List, ListError> {
        let mut entries = HashSet::new();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (kind, value, extra) = (words.next(), words.next(), words.next());
            let kind = Kind::ALL.into_iter().find(|k| Some(k.as_str()) == kind);
            match (kind, value, extra) {
                (Some(kind), Some(value), None) => {
                    entries.insert(key(kind, value));
                }
                (None, ..) => errors.push((
                    i + 1,
                    "expected `jti VALUE`, `origin_jti VALUE` or `sub VALUE`".to_owned(),
                )),
                (Some(_), None, _) => errors.push((i + 1, "the value is missing".to_owned())),
                (Some(_), Some(_), Some(_)) => {
                    errors.push((i + 1, "one value a line, without spaces".to_owned()));
                }
            }
        }
        if errors.is_empty() {
            Ok(List { entries })
        } else {
            Err(ListError::Lines(errors))
        }
    }

    /// Reads and parses a list file.
    pub fn read(path: &Path) -> Result<List, ListError> {
        let text = std::fs::read_to_string(path).map_err(|e| ListError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        List::parse(&text)
    }

    /// Whether any of a token's claims is revoked.
    pub fn revokes(&self, keys: &Keys) -> bool {
        !self.entries.is_empty() && keys.iter().flatten().any(|k| self.entries.contains(k))
    }

    /// Which of a token's claims is revoked, if any; for explanations (the hot path asks
    /// [`List::revokes`]).
    pub fn revoked_by(&self, keys: &Keys) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .zip(keys)
            .find(|(_, k)| k.is_some_and(|k| self.entries.contains(&k)))
            .map(|(kind, _)| kind)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list revokes nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The live list of one file, re-read when its modification time or size changes.
pub struct Watch {
    path: PathBuf,
    refresh: Duration,
    list: ArcSwap<List>,
    /// The file's (modification time, size) when last read; a plain mutex, never held across
    /// `.await`.
    stamp: Mutex<Option<(SystemTime, u64)>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Watch {
    /// Watches `path`, starting from `list` (already read and checked).
    pub fn new(path: PathBuf, refresh: Duration, list: Arc<List>) -> Arc<Watch> {
        metrics::revocations(list.len());
        Arc::new(Watch {
            stamp: Mutex::new(stamp(&path)),
            path,
            refresh,
            list: ArcSwap::new(list),
        })
    }

    /// The list file watched.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How often the file is checked for changes.
    pub fn refresh(&self) -> Duration {
        self.refresh
    }

    /// The current list.
    pub fn list(&self) -> arc_swap::Guard<Arc<List>> {
        self.list.load()
    }

    /// Swaps in a list read elsewhere (a config reload read and checked it).
    pub fn replace(&self, list: Arc<List>) {
        metrics::revocations(list.len());
        *self
            .stamp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = stamp(&self.path);
        self.list.store(list);
    }

    /// Re-reads the file if it changed. A file that is gone or bad keeps the last good list
    /// and counts a failed reload.
    pub fn poll(&self) {
        let now = stamp(&self.path);
        {
            let mut seen = self
                .stamp
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if now.is_some() && *seen == now {
                return;
            }
            *seen = now;
        }
        match List::read(&self.path) {
            Ok(list) => {
                tracing::info!(file = %self.path.display(), entries = list.len(), "revocation list reloaded");
                metrics::revocation_reloaded(true);
                metrics::revocations(list.len());
                self.list.store(Arc::new(list));
            }
            Err(e) => {
                metrics::revocation_reloaded(false);
                tracing::error!(file = %self.path.display(), "revocation list refused, keeping the last good list: {e}");
            }
        }
    }

    /// Polls the file every `refresh` until the watch is dropped.
    pub fn spawn(self: &Arc<Self>) {
        let weak: Weak<Watch> = Arc::downgrade(self);
        let every = self.refresh;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(watch) = weak.upgrade() else { return };
                watch.poll();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_revokes_only_its_own_claim() {
        let list = List::parse("# revoked\n\njti abc\n  origin_jti fam-1 \nsub user-9\n").unwrap();
        assert_eq!(list.len(), 3);
        let keys = |jti: &str, origin: &str, sub: &str| -> Keys {
            [
                Some(key(Kind::Jti, jti)),
                Some(key(Kind::OriginJti, origin)),
                Some(key(Kind::Sub, sub)),
            ]
        };
        assert!(list.revokes(&keys("abc", "x", "y")));
        assert!(list.revokes(&keys("x", "fam-1", "y")));
        assert!(list.revokes(&keys("x", "y", "user-9")));
        assert!(
            !list.revokes(&keys("fam-1", "abc", "x")),
            "a value under another kind"
        );
        assert!(!list.revokes(&[None, None, None]));
        assert_eq!(
            list.revoked_by(&keys("x", "fam-1", "user-9")),
            Some(Kind::OriginJti)
        );
        assert_eq!(list.revoked_by(&keys("x", "y", "user-9")), Some(Kind::Sub));
        assert_eq!(list.revoked_by(&keys("x", "y", "z")), None);
    }

    #[test]
    fn a_bad_line_refuses_the_file_with_every_line_number() {
        let err = List::parse("jti ok\nsession x\njti\njti a b\n").unwrap_err();
        match err {
            ListError::Lines(lines) => {
                let numbers: Vec<usize> = lines.iter().map(|(n, _)| *n).collect();
                assert_eq!(numbers, [2, 3, 4]);
            }
            other => panic!("{other:?}"),
        }
    }
}
