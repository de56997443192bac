//! API Gateway HTTP API route keys (`GET /users/{userId}`, `ANY /admin/{proxy+}`, `$default`)
//! and the table that picks the one route a request matches.
//!
//! Precedence is API Gateway's "full match before greedy match", made precise in the SPEC.
//! [`RouteTable`] finds the route through a segment trie ([`trie`]), at a cost set by the path's
//! depth rather than the number of routes; [`linear`] keeps the plain scan over the routes in
//! precedence order as the reference the trie is tested against.

pub mod linear;
mod trie;

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// Methods a route key may name; `ANY` matches each of them and any other.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A parsed route key other than `$default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteKey {
    /// `None` for `ANY`.
    method: Option<Box<str>>,
    segments: Box<[Segment]>,
    /// The path ends in `{name+}`.
    greedy: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    Param,
}

/// Why a route key does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Neither `$default` nor `METHOD /path`.
    #[error("a route key is `$default` or `METHOD /path` (e.g. `GET /users/{{id}}`)")]
    Shape,
    /// A method API Gateway does not route.
    #[error("unknown method `{0}` (expected ANY, GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS)")]
    Method(String),
    /// A path not starting with `/`.
    #[error("the path must start with `/`")]
    Path,
    /// A segment that is not a literal, `{name}`, or a final `{name+}`.
    #[error("bad path segment `{0}`: use a literal, `{{name}}`, or a final `{{name+}}`")]
    Segment(String),
}

impl RouteKey {
    /// Parses `METHOD /path`. `$default` is not a `RouteKey`; see [`RouteTable`].
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        let (method, path) = key.split_once(' ').ok_or(KeyError::Shape)?;
        let method = match method {
            "ANY" => None,
            m if METHODS.contains(&m) => Some(m.into()),
            m => return Err(KeyError::Method(m.to_owned())),
        };
        let rest = path.strip_prefix('/').ok_or(KeyError::Path)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut greedy = false;
        for (i, part) in parts.iter().enumerate() {
            let bad = || KeyError::Segment((*part).to_owned());
            if let Some(inner) = part.strip_prefix('{') {
                let name = inner.strip_suffix('}').ok_or_else(bad)?;
                if let Some(name) = name.strip_suffix('+') {
                    if i + 1 != parts.len() || !valid_name(name) {
                        return Err(bad());
                    }
                    greedy = true;
                } else if valid_name(name) {
                    segments.push(Segment::Param);
                } else {
                    return Err(bad());
                }
            } else if part.contains(['{', '}', ' ']) {
                return Err(bad());
            } else {
                segments.push(Segment::Literal((*part).into()));
            }
        }
        Ok(RouteKey {
            method,
            segments: segments.into(),
            greedy,
        })
    }

    /// The key with parameter names erased: two keys with the same shape are duplicates.
    pub fn shape(&self) -> String {
        let mut s = self.method.as_deref().unwrap_or("ANY").to_owned();
        s.push(' ');
        for seg in self.segments.iter() {
            s.push('/');
            match seg {
                Segment::Literal(l) => s.push_str(l),
                Segment::Param => s.push_str("{}"),
            }
        }
        if self.greedy {
            s.push_str("/{+}");
        }
        s
    }

    /// Whether this key matches `method` and `path` (no query string, undecoded).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        let Some(mut rest) = path.strip_prefix('/') else {
            return false;
        };
        let last = self.segments.len();
        for (i, seg) in self.segments.iter().enumerate() {
            let (head, tail) = match rest.split_once('/') {
                Some((h, t)) => (h, Some(t)),
                None => (rest, None),
            };
            let ok = match seg {
                Segment::Literal(l) => **l == *head,
                Segment::Param => !head.is_empty(),
            };
            if !ok {
                return false;
            }
            match tail {
                Some(t) => rest = t,
                // The path ran out: a match only if this was the last segment of a full route.
                None => return i + 1 == last && !self.greedy,
            }
            if i + 1 == last && !self.greedy {
                return false;
            }
        }
        // Only a greedy key gets here with path left over (or a key with no segments at all).
        self.greedy && !rest.is_empty()
    }

    /// The number of literal segments before the first parameter.
    fn literal_prefix(&self) -> usize {
        self.segments
            .iter()
            .take_while(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    /// API Gateway's precedence: `Less` means `self` is chosen over `other` when both match.
    fn precedence(&self, other: &Self) -> Ordering {
        // Full (non-greedy) routes first.
        self.greedy
            .cmp(&other.greedy)
            // Among greedy routes, the longer literal prefix.
            .then_with(|| {
                if self.greedy {
                    other.literal_prefix().cmp(&self.literal_prefix())
                } else {
                    Ordering::Equal
                }
            })
            // Segment by segment from the left, a literal before a parameter; a longer pattern
            // (only possible between greedy keys) before its own prefix.
            .then_with(|| {
                let a = self
                    .segments
                    .iter()
                    .map(|s| matches!(s, Segment::Literal(_)));
                let b = other
                    .segments
                    .iter()
                    .map(|s| matches!(s, Segment::Literal(_)));
                b.cmp(a)
            })
            // A named method before ANY.
            .then_with(|| other.method.is_some().cmp(&self.method.is_some()))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['{', '}', '/', '+'])
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shape())
    }
}

/// A route as selected: its key as written in the config, and what it carries.
#[derive(Debug)]
pub struct Selected<'a, T> {
    /// The route key as written.
    pub key: &'a Arc<str>,
    /// What the route carries.
    pub value: &'a T,
}

/// Sorts routes by precedence. A stable sort keeps the config's order among keys of equal
/// precedence, which can only be keys that never match the same request (or duplicates, which
/// the config refuses).
fn sort<T>(routes: &mut [(RouteKey, Arc<str>, T)]) {
    routes.sort_by(|a, b| a.0.precedence(&b.0));
}

/// The routes, indexed for selection, plus `$default`.
#[derive(Debug)]
pub struct RouteTable<T> {
    /// In precedence order: the index answers a position in it.
    routes: Vec<(Arc<str>, T)>,
    index: trie::Trie,
    default: Option<(Arc<str>, T)>,
}

impl<T> RouteTable<T> {
    /// Builds the table; `routes` holds `(parsed key, key as written, value)`.
    pub fn new(mut routes: Vec<(RouteKey, Arc<str>, T)>, default: Option<T>) -> Self {
        sort(&mut routes);
        let index = trie::Trie::new(routes.iter().map(|(key, _, _)| key));
        RouteTable {
            routes: routes
                .into_iter()
                .map(|(_, key, value)| (key, value))
                .collect(),
            index,
            default: default.map(|v| (Arc::from("$default"), v)),
        }
    }

    /// The route for a request's path (no query string), or `None` when nothing matches and
    /// there is no `$default`.
    pub fn select(&self, method: &str, path: &str) -> Option<Selected<'_, T>> {
        self.index
            .find(method, path)
            .and_then(|i| self.routes.get(i))
            .or(self.default.as_ref())
            .map(|(key, value)| Selected { key, value })
    }

    /// Routes held, `$default` included.
    pub fn len(&self) -> usize {
        self.routes.len() + usize::from(self.default.is_some())
    }

    /// Whether the table has no route at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(keys: &[&str], default: bool) -> RouteTable<String> {
        let routes = keys
            .iter()
            .map(|k| {
                let key = RouteKey::parse(k).expect(k);
                (key, Arc::from(*k), (*k).to_owned())
            })
            .collect();
        RouteTable::new(routes, default.then(|| "$default".to_owned()))
    }

    fn pick(t: &RouteTable<String>, method: &str, path: &str) -> Option<String> {
        t.select(method, path).map(|s| s.value.clone())
    }

    #[test]
    fn api_gateway_precedence_example_holds_step_by_step() {
        let all = [
            "GET /pets/dog/1",
            "GET /pets/dog/{id}",
            "GET /pets/{proxy+}",
            "ANY /{proxy+}",
        ];
        // Remove the winner each time: the next one in the SPEC's chain must win.
        for n in 0..=all.len() {
            let t = table(&all[n..], true);
            let want = all.get(n).copied().unwrap_or("$default");
            assert_eq!(pick(&t, "GET", "/pets/dog/1").as_deref(), Some(want));
        }
        // Same result whatever the config order.
        let mut rev = all;
        rev.reverse();
        let t = table(&rev, true);
        assert_eq!(
            pick(&t, "GET", "/pets/dog/1").as_deref(),
            Some("GET /pets/dog/1")
        );
    }

    #[test]
    fn greedy_needs_at_least_one_non_empty_remainder() {
        let t = table(&["ANY /admin/{proxy+}"], false);
        assert_eq!(pick(&t, "GET", "/admin"), None);
        assert_eq!(pick(&t, "GET", "/admin/"), None);
        assert!(pick(&t, "DELETE", "/admin/x").is_some());
        assert!(pick(&t, "GET", "/admin/x/y/").is_some());
        let root = table(&["ANY /{proxy+}"], false);
        assert_eq!(pick(&root, "GET", "/"), None);
        assert!(pick(&root, "GET", "/a").is_some());
    }

    #[test]
    fn params_match_one_non_empty_segment_and_trailing_slash_differs() {
        let t = table(&["GET /users/{id}"], false);
        assert!(pick(&t, "GET", "/users/7").is_some());
        assert_eq!(pick(&t, "GET", "/users/"), None);
        assert_eq!(pick(&t, "GET", "/users/7/"), None);
        assert_eq!(pick(&t, "GET", "/users/7/x"), None);
        assert_eq!(pick(&t, "GET", "/users"), None);
        let root = table(&["GET /"], false);
        assert!(pick(&root, "GET", "/").is_some());
        assert_eq!(pick(&root, "GET", "/x"), None);
    }

    #[test]
    fn methods_match_exactly_and_named_beats_any() {
        let t = table(&["ANY /a", "GET /a"], false);
        assert_eq!(pick(&t, "GET", "/a").as_deref(), Some("GET /a"));
        assert_eq!(pick(&t, "HEAD", "/a").as_deref(), Some("ANY /a"));
        let get_only = table(&["GET /a"], false);
        assert_eq!(pick(&get_only, "HEAD", "/a"), None);
    }

    #[test]
    fn literal_beats_param_from_the_left() {
        let t = table(&["GET /{a}/b", "GET /a/{b}"], false);
        assert_eq!(pick(&t, "GET", "/a/b").as_deref(), Some("GET /a/{b}"));
        let g = table(&["GET /{x}/{proxy+}", "GET /a/{proxy+}"], false);
        assert_eq!(
            pick(&g, "GET", "/a/b/c").as_deref(),
            Some("GET /a/{proxy+}")
        );
        let g = table(&["GET /a/{proxy+}", "GET /a/b/{proxy+}"], false);
        assert_eq!(
            pick(&g, "GET", "/a/b/c").as_deref(),
            Some("GET /a/b/{proxy+}")
        );
        assert_eq!(
            pick(&g, "GET", "/a/c/c").as_deref(),
            Some("GET /a/{proxy+}")
        );
    }

    #[test]
    fn bad_keys_are_refused_and_shapes_ignore_param_names() {
        assert_eq!(RouteKey::parse("GET"), Err(KeyError::Shape));
        assert!(matches!(
            RouteKey::parse("FETCH /a"),
            Err(KeyError::Method(_))
        ));
        assert_eq!(RouteKey::parse("GET a"), Err(KeyError::Path));
        assert!(RouteKey::parse("GET /{proxy+}/a").is_err());
        assert!(RouteKey::parse("GET /{}").is_err());
        assert!(RouteKey::parse("GET /a{b}").is_err());
        let a = RouteKey::parse("GET /u/{id}").unwrap();
        let b = RouteKey::parse("GET /u/{userId}").unwrap();
        assert_eq!(a.shape(), b.shape());
        let c = RouteKey::parse("ANY /u/{id}").unwrap();
        assert_ne!(a.shape(), c.shape());
    }
}
