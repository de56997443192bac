//! The request the core judges, as every transport hands it over: method, target, headers and
//! Envoy's per-route `context_extensions`, read through traits so no front end copies them.

pub mod checks;

use std::collections::HashMap;

/// One request to authorize.
pub struct Request<'a> {
    /// As sent (`GET`); the request checks decide whether it is acceptable.
    pub method: &'a str,
    /// The request target: path and query string, undecoded.
    pub target: &'a str,
    /// Headers by lower-case name.
    pub headers: &'a dyn Headers,
    /// Envoy's per-route `context_extensions`.
    pub context: Option<&'a dyn Extensions>,
}

impl Request<'_> {
    /// The path and the query string (without its `?`).
    pub fn split(&self) -> (&str, Option<&str>) {
        split_target(self.target)
    }
}

/// `/a/b?x=1` → (`/a/b`, `Some("x=1")`).
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// Read access to request headers by lower-case name, whatever the transport stores them in.
pub trait Headers: Sync {
    /// Calls `each` with every value of the header `lower_name`, in the order received.
    fn each<'a>(&'a self, lower_name: &str, each: &mut dyn FnMut(&'a str));
}

/// A header as the core reads it: a value sent twice is neither value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header<'a> {
    /// Not sent.
    Absent,
    /// Sent once, with this value.
    One(&'a str),
    /// Sent more than once: neither value is trusted.
    Repeated,
}

/// The header `lower_name` of `headers`.
pub fn header<'a>(headers: &'a dyn Headers, lower_name: &str) -> Header<'a> {
    let mut seen = Header::Absent;
    headers.each(lower_name, &mut |v| {
        seen = match seen {
            Header::Absent => Header::One(v),
            _ => Header::Repeated,
        }
    });
    seen
}

/// What a header value that is not UTF-8 reads as: present (so it is judged, and is
/// `malformed`, rather than skipped as if absent), and never part of a token.
pub const NOT_UTF8: &str = "\u{fffd}";

impl Headers for HashMap<String, String> {
    fn each<'a>(&'a self, lower_name: &str, each: &mut dyn FnMut(&'a str)) {
        if let Some(v) = self.get(lower_name) {
            each(v);
        }
    }
}

impl Headers for Vec<(String, String)> {
    fn each<'a>(&'a self, lower_name: &str, each: &mut dyn FnMut(&'a str)) {
        for (k, v) in self {
            if k == lower_name {
                each(v);
            }
        }
    }
}

impl Headers for http::HeaderMap {
    /// Any UTF-8 value is read as it is, as the gRPC transport receives it. `to_str` would
    /// take visible ASCII only, and a token with one stray non-ASCII character (a trailing
    /// zero-width space) would be `missing_token` over HTTP but `malformed` over gRPC.
    fn each<'a>(&'a self, lower_name: &str, each: &mut dyn FnMut(&'a str)) {
        for v in self.get_all(lower_name) {
            each(std::str::from_utf8(v.as_bytes()).unwrap_or(NOT_UTF8));
        }
    }
}

/// Envoy's `context_extensions`, by key.
pub trait Extensions: Sync {
    /// The value for `key`, if Envoy sent one.
    fn get(&self, key: &str) -> Option<&str>;
}

impl Extensions for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_sent_twice_is_repeated_on_every_representation() {
        let mut map = http::HeaderMap::new();
        map.append("authorization", http::HeaderValue::from_static("a"));
        assert_eq!(header(&map, "authorization"), Header::One("a"));
        map.append("authorization", http::HeaderValue::from_static("b"));
        assert_eq!(header(&map, "authorization"), Header::Repeated);
        assert_eq!(header(&map, "cookie"), Header::Absent);
        let pairs = [
            ("x".to_owned(), "1".to_owned()),
            ("x".to_owned(), "2".to_owned()),
        ];
        assert_eq!(header(&pairs.to_vec(), "x"), Header::Repeated);
        assert_eq!(header(&pairs[..1].to_vec(), "x"), Header::One("1"));
    }

    #[test]
    fn the_target_splits_at_the_first_question_mark() {
        assert_eq!(split_target("/a?b=?c"), ("/a", Some("b=?c")));
        assert_eq!(split_target("/a"), ("/a", None));
        assert_eq!(split_target("/a?"), ("/a", Some("")));
    }
}
