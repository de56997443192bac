//! Finding the token in a request: API Gateway's identity sources.

use std::fmt;
use std::str::FromStr;

/// Where a token may be: `$request.header.NAME`, `$request.querystring.NAME`, `$request.cookie.NAME`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IdentitySource {
    /// A header, by lower-case name; a `Bearer ` prefix is stripped.
    Header(String),
    /// A query-string parameter, taken as it is.
    Query(String),
    /// A cookie, taken as it is.
    Cookie(String),
}

impl Default for IdentitySource {
    fn default() -> Self {
        IdentitySource::Header("authorization".to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an identity source: use $request.header.NAME, $request.querystring.NAME or $request.cookie.NAME"
)]
pub struct SourceError(String);

impl FromStr for IdentitySource {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SourceError(s.to_owned());
        let rest = s.strip_prefix("$request.").ok_or_else(bad)?;
        let (kind, name) = rest.split_once('.').ok_or_else(bad)?;
        if name.is_empty() {
            return Err(bad());
        }
        match kind {
            "header" => {
                let lower = name.to_ascii_lowercase();
                http::HeaderName::from_bytes(lower.as_bytes()).map_err(|_| bad())?;
                Ok(IdentitySource::Header(lower))
            }
            "querystring" => Ok(IdentitySource::Query(name.to_owned())),
            "cookie" => Ok(IdentitySource::Cookie(name.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentitySource::Header(n) => write!(f, "$request.header.{n}"),
            IdentitySource::Query(n) => write!(f, "$request.querystring.{n}"),
            IdentitySource::Cookie(n) => write!(f, "$request.cookie.{n}"),
        }
    }
}

/// Read access to request headers by lower-case name, whatever the transport stores them in.
pub trait Headers: Sync {
    fn header(&self, lower_name: &str) -> Option<&str>;
}

impl Headers for std::collections::HashMap<String, String> {
    fn header(&self, lower_name: &str) -> Option<&str> {
        self.get(lower_name).map(String::as_str)
    }
}

/// What a header value that is not UTF-8 reads as: present (so it is judged, and is
/// `malformed`, rather than skipped as if absent), and never part of a token.
pub const NOT_UTF8: &str = "\u{fffd}";

impl Headers for http::HeaderMap {
    /// Any UTF-8 value is read as it is, as the gRPC transport receives it. `to_str` would
    /// take visible ASCII only, and a token with one stray non-ASCII character (a trailing
    /// zero-width space) would be `missing_token` over HTTP but `malformed` over gRPC.
    fn header(&self, lower_name: &str) -> Option<&str> {
        self.get(lower_name)
            .map(|v| std::str::from_utf8(v.as_bytes()).unwrap_or(NOT_UTF8))
    }
}

/// The first non-empty token among `sources`, with the source it came from.
pub fn find<'r, 's>(
    sources: impl IntoIterator<Item = &'s IdentitySource>,
    headers: &'r dyn Headers,
    query: Option<&'r str>,
) -> Option<(&'r str, &'s IdentitySource)> {
    sources.into_iter().find_map(|src| {
        let token = match src {
            IdentitySource::Header(name) => headers.header(name).and_then(strip_bearer),
            IdentitySource::Query(name) => query.and_then(|q| query_param(q, name)),
            IdentitySource::Cookie(name) => headers.header("cookie").and_then(|c| cookie(c, name)),
        };
        token.filter(|t| !t.is_empty()).map(|t| (t, src))
    })
}

/// Strips `Bearer` (any case) and the spaces after it; `Bearer` alone leaves nothing.
fn strip_bearer(value: &str) -> Option<&str> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if value.len() >= 6 && value.as_bytes()[..6].eq_ignore_ascii_case(b"bearer") {
        let rest = &value[6..];
        if rest.is_empty() {
            return None;
        }
        if rest.starts_with(' ') {
            return Some(rest.trim_start_matches(' '));
        }
    }
    Some(value)
}

fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

fn cookie<'c>(header: &'c str, name: &str) -> Option<&'c str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn sources(list: &[&str]) -> Vec<IdentitySource> {
        list.iter().map(|s| s.parse().expect(s)).collect()
    }

    #[test]
    fn bearer_prefix_is_stripped_in_any_case_and_empty_counts_as_missing() {
        let src = sources(&["$request.header.Authorization"]);
        let find1 = |v: &str| {
            let h = map(&[("authorization", v)]);
            find(&src, &h, None).map(|(t, _)| t.to_owned())
        };
        assert_eq!(find1("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(find1("bEaReR    abc").as_deref(), Some("abc"));
        assert_eq!(find1("abc").as_deref(), Some("abc"));
        assert_eq!(find1("Bearer"), None);
        assert_eq!(find1("Bearer "), None);
        assert_eq!(find1(""), None);
        // Not the Bearer scheme: the value is the token, and will not parse.
        assert_eq!(find1("Bearerabc").as_deref(), Some("Bearerabc"));
        assert_eq!(find1("Basic abc").as_deref(), Some("Basic abc"));
    }

    #[test]
    fn http_values_are_read_as_utf8_and_a_non_utf8_value_is_present() {
        let src = sources(&["$request.header.Authorization"]);
        let token = |v: http::HeaderValue| {
            let mut h = http::HeaderMap::new();
            h.insert("authorization", v);
            find(&src, &h, None).map(|(t, _)| t.to_owned())
        };
        let utf8 = http::HeaderValue::from_str("Bearer a.b.c\u{200b}").expect("value");
        assert_eq!(token(utf8).as_deref(), Some("a.b.c\u{200b}"));
        let latin1 = http::HeaderValue::from_bytes(b"Bearer a.b.\xe9").expect("value");
        assert_eq!(token(latin1).as_deref(), Some(NOT_UTF8));
    }

    #[test]
    fn sources_are_tried_in_order_and_query_and_cookie_are_taken_as_they_are() {
        let src = sources(&[
            "$request.header.X-Token",
            "$request.querystring.access_token",
            "$request.cookie.session",
        ]);
        let h = map(&[("x-token", "Bearer "), ("cookie", "a=1; session=Bearer c")]);
        let (t, s) = find(&src, &h, Some("x=1&access_token=q.q.q")).expect("query token");
        assert_eq!((t, s), ("q.q.q", &src[1]));
        let (t, s) = find(&src, &h, Some("access_token=")).expect("cookie token");
        assert_eq!((t, s), ("Bearer c", &src[2]));
        assert!(find(&src, &HashMap::new(), None).is_none());
    }

    #[test]
    fn identity_sources_parse_and_print_back() {
        for s in [
            "$request.header.authorization",
            "$request.querystring.token",
            "$request.cookie.id_token",
        ] {
            assert_eq!(s.parse::<IdentitySource>().expect(s).to_string(), s);
        }
        assert!("$request.header.".parse::<IdentitySource>().is_err());
        assert!("$request.body.token".parse::<IdentitySource>().is_err());
        assert!("Authorization".parse::<IdentitySource>().is_err());
    }
}
