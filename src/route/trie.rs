//! The route table's index: a trie of path segments, searched in precedence order so the first
//! route it meets is the one the linear scan ([`super::linear`]) would pick.
//!
//! Precedence compares keys segment by segment, a literal before `{param}` before the end of
//! the key, and puts every full route before every greedy one. So a search visits a node's
//! literal child, then its param child, and backtracks only when a subtree holds no match;
//! full routes are found on the way down (they end where the path ends), greedy routes on the
//! way back up (a longer key before its own prefix). Each pass (full, then greedy) visits a
//! node at most once, so a search never visits more nodes than the routes have segments, and
//! visits about the path's depth when few params compete with literals.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::{METHODS, RouteKey, Segment};

/// The node every search starts from: the path's first segment is looked up in it.
const ROOT: usize = 0;

/// A route's position in precedence order, at each method's place: [`METHODS`], then `ANY`.
type Slots = [Option<usize>; METHODS.len() + 1];

const ANY: usize = METHODS.len();

#[derive(Debug, Default)]
struct Node {
    literals: HashMap<Box<str>, usize, BuildHasherDefault<SegmentHasher>>,
    param: Option<usize>,
    /// The full routes that end here (the path ends after this segment), in `slots`.
    full: Option<usize>,
    /// The greedy routes whose `{proxy+}` takes what follows this segment, in `slots`.
    greedy: Option<usize>,
    /// This node or one below it holds full (greedy) routes: a search skips the subtree if not.
    has_full: bool,
    has_greedy: bool,
}

#[derive(Debug)]
pub(super) struct Trie {
    nodes: Vec<Node>,
    slots: Vec<Slots>,
}

impl Trie {
    /// Indexes `keys`, given in precedence order: a route is found as its position there. Of
    /// two keys with the same shape and method, the first is kept, as the scan would find it.
    pub(super) fn new<'a>(keys: impl IntoIterator<Item = &'a RouteKey>) -> Self {
        let mut trie = Trie {
            nodes: vec![Node::default()],
            slots: Vec::new(),
        };
        for (route, key) in keys.into_iter().enumerate() {
            trie.insert(route, key);
        }
        trie
    }

    fn insert(&mut self, route: usize, key: &RouteKey) {
        let mut node = ROOT;
        self.mark(node, key.greedy);
        for seg in &key.segments {
            let next = self.nodes.len();
            let child = match seg {
                Segment::Literal(l) => *self.nodes[node].literals.entry(l.clone()).or_insert(next),
                Segment::Param => *self.nodes[node].param.get_or_insert(next),
            };
            if child == next {
                self.nodes.push(Node::default());
            }
            node = child;
            self.mark(node, key.greedy);
        }
        let slot = if key.greedy {
            &mut self.nodes[node].greedy
        } else {
            &mut self.nodes[node].full
        };
        let slots = *slot.get_or_insert_with(|| {
            self.slots.push(Slots::default());
            self.slots.len() - 1
        });
        let method = key
            .method
            .as_deref()
            .and_then(|m| METHODS.iter().position(|known| *known == m))
            .unwrap_or(ANY);
        self.slots[slots][method].get_or_insert(route);
    }

    fn mark(&mut self, node: usize, greedy: bool) {
        let node = &mut self.nodes[node];
        if greedy {
            node.has_greedy = true;
        } else {
            node.has_full = true;
        }
    }

    /// The position of the route a request selects, if any. `path` must start with `/`.
    pub(super) fn find(&self, method: &str, path: &str) -> Option<usize> {
        let rest = path.strip_prefix('/')?;
        let method = METHODS.iter().position(|known| *known == method);
        self.full(ROOT, rest, method)
            .or_else(|| self.greedy(ROOT, rest, method))
    }

    /// The first full route below `node` for the path's segments left in `rest`.
    fn full(&self, node: usize, rest: &str, method: Option<usize>) -> Option<usize> {
        let (head, tail) = match split(rest) {
            Some((head, tail)) => (head, Some(tail)),
            None => (rest, None),
        };
        let descend = |child: usize| {
            let at = &self.nodes[child];
            match tail {
                // The path ends with this segment: a route must end here too.
                None => at.full.and_then(|s| self.pick(s, method)),
                Some(tail) if at.has_full => self.full(child, tail, method),
                Some(_) => None,
            }
        };
        let node = &self.nodes[node];
        node.literals
            .get(head)
            .and_then(|&child| descend(child))
            .or_else(|| node.param.filter(|_| !head.is_empty()).and_then(descend))
    }

    /// The first greedy route at or below `node`, `rest` being what follows its segment.
    fn greedy(&self, node: usize, rest: &str, method: Option<usize>) -> Option<usize> {
        let node = &self.nodes[node];
        if !node.has_greedy {
            return None;
        }
        // A child's greedy route needs a segment after the child's: a `/` in `rest`.
        if let Some((head, tail)) = split(rest) {
            let found = node
                .literals
                .get(head)
                .and_then(|&child| self.greedy(child, tail, method))
                .or_else(|| {
                    node.param
                        .filter(|_| !head.is_empty())
                        .and_then(|child| self.greedy(child, tail, method))
                });
            if found.is_some() {
                return found;
            }
        }
        // `{proxy+}` takes one or more segments: not nothing, not a lone trailing slash.
        if rest.is_empty() {
            return None;
        }
        node.greedy.and_then(|s| self.pick(s, method))
    }

    /// A named method before `ANY`; a method no key can name only matches `ANY`.
    fn pick(&self, slots: usize, method: Option<usize>) -> Option<usize> {
        let slots = self.slots.get(slots)?;
        method.and_then(|m| slots[m]).or(slots[ANY])
    }
}

/// The first segment of `rest` and what follows its `/`. Segments are short: a plain scan
/// beats the general searcher `split_once` calls.
fn split(rest: &str) -> Option<(&str, &str)> {
    let at = rest.bytes().position(|b| b == b'/')?;
    let (head, tail) = rest.split_at(at);
    Some((head, &tail[1..]))
}

/// Hashes path segments for the literal children. SipHash's defence against chosen collisions
/// buys nothing here: each map holds the config's literals, and a request only looks one up,
/// so the worst a lookup costs is fixed by the map the operator built. A folded multiply per
/// eight bytes hashes a segment several times faster.
#[derive(Clone, Copy, Default)]
struct SegmentHasher(u64);

impl Hasher for SegmentHasher {
    fn write(&mut self, bytes: &[u8]) {
        // The fractional digits of pi: odd, and with no structure a segment could share.
        const MIX: u64 = 0x243F_6A88_85A3_08D3;
        let mut mix = |word: u64| {
            let product = u128::from(self.0 ^ word) * u128::from(MIX);
            self.0 = (product as u64) ^ ((product >> 64) as u64);
        };
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            if let Some(word) = chunk.first_chunk() {
                mix(u64::from_le_bytes(*word));
            }
        }
        // Built in a register: copying the tail into a buffer and loading it back stalls.
        let tail = chunks.remainder();
        if !tail.is_empty() {
            mix(tail.iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b)));
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
