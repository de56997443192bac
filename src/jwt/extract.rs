//! Finding the token in a request: API Gateway's identity sources.

use std::fmt;
use std::str::FromStr;

use crate::reason::Reason;
use crate::request::{self, Header, Headers};

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
/// A config's identity source that is none of the three forms.
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

/// The first non-empty token among `sources`, with the source it came from. A source present
/// more than once (the header twice, the query parameter twice, the cookie twice across all
/// `Cookie` headers) is `malformed`: proxies and upstreams disagree about which copy counts.
pub fn find<'r, 's>(
    sources: impl IntoIterator<Item = &'s IdentitySource>,
    headers: &'r dyn Headers,
    query: Option<&'r str>,
) -> Result<Option<(&'r str, &'s IdentitySource)>, Reason> {
    for src in sources {
        let found = match src {
            IdentitySource::Header(name) => match request::header(headers, name) {
                Header::Absent => None,
                // Envoy joins a header sent twice into one value with `,`, which no token
                // holds: it is the header sent twice.
                Header::One(v) if v.contains(',') => return Err(Reason::Malformed),
                Header::One(v) => strip_bearer(v),
                Header::Repeated => return Err(Reason::Malformed),
            },
            IdentitySource::Query(name) => match query {
                Some(q) => query_param(q, name)?,
                None => None,
            },
            IdentitySource::Cookie(name) => cookie(headers, name)?,
        };
        if let Some(token) = found.filter(|t| !t.is_empty()) {
            return Ok(Some((token, src)));
        }
    }
    Ok(None)
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

/// The value of `name` in a query string; present twice is an error, present empty is `None`.
fn query_param<'q>(query: &'q str, name: &str) -> Result<Option<&'q str>, Reason> {
    let mut values = query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v);
    let first = values.next();
    if values.next().is_some() {
        return Err(Reason::Malformed);
    }
    Ok(first)
}

/// The cookie `name` across every `Cookie` header (HTTP/2 sends them as separate crumbs).
/// Pairs are split on `;` and on `,`, which Envoy's `CheckRequest.headers` puts between
/// `Cookie` lines it joins (a cookie value never holds either).
fn cookie<'c>(headers: &'c dyn Headers, name: &str) -> Result<Option<&'c str>, Reason> {
    let mut found = None;
    let mut repeated = false;
    headers.each("cookie", &mut |header| {
        for (k, v) in header
            .split([';', ','])
            .filter_map(|c| c.trim().split_once('='))
        {
            if k == name {
                repeated |= found.is_some();
                found = Some(v.trim_matches('"'));
            }
        }
    });
    if repeated {
        return Err(Reason::Malformed);
    }
    Ok(found)
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
            find(&src, &h, None)
                .expect("one value")
                .map(|(t, _)| t.to_owned())
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
            find(&src, &h, None)
                .expect("one value")
                .map(|(t, _)| t.to_owned())
        };
        let utf8 = http::HeaderValue::from_str("Bearer a.b.c\u{200b}").expect("value");
        assert_eq!(token(utf8).as_deref(), Some("a.b.c\u{200b}"));
        let latin1 = http::HeaderValue::from_bytes(b"Bearer a.b.\xe9").expect("value");
        assert_eq!(token(latin1).as_deref(), Some(request::NOT_UTF8));
    }

    #[test]
    fn sources_are_tried_in_order_and_query_and_cookie_are_taken_as_they_are() {
        let src = sources(&[
            "$request.header.X-Token",
            "$request.querystring.access_token",
            "$request.cookie.session",
        ]);
        let h = map(&[("x-token", "Bearer "), ("cookie", "a=1; session=Bearer c")]);
        let (t, s) = find(&src, &h, Some("x=1&access_token=q.q.q"))
            .expect("one value")
            .expect("query token");
        assert_eq!((t, s), ("q.q.q", &src[1]));
        let (t, s) = find(&src, &h, Some("access_token="))
            .expect("one value")
            .expect("cookie token");
        assert_eq!((t, s), ("Bearer c", &src[2]));
        assert_eq!(find(&src, &HashMap::new(), None), Ok(None));
    }

    #[test]
    fn a_source_present_twice_is_malformed_wherever_it_is() {
        let src = sources(&[
            "$request.header.X-Token",
            "$request.querystring.access_token",
            "$request.cookie.session",
        ]);
        let mut twice = http::HeaderMap::new();
        twice.append("x-token", http::HeaderValue::from_static("a"));
        twice.append("x-token", http::HeaderValue::from_static("b"));
        assert_eq!(find(&src, &twice, None), Err(Reason::Malformed));
        let none = HashMap::new();
        let q = Some("access_token=a&x=1&access_token=b");
        assert_eq!(find(&src, &none, q), Err(Reason::Malformed));
        let q = Some("access_token=&access_token=b");
        assert_eq!(find(&src, &none, q), Err(Reason::Malformed));
        // Cookie crumbs are one list: the same name in two `Cookie` headers is twice.
        let mut crumbs = http::HeaderMap::new();
        crumbs.append("cookie", http::HeaderValue::from_static("a=1; session=x"));
        crumbs.append("cookie", http::HeaderValue::from_static("session=y"));
        assert_eq!(find(&src, &crumbs, None), Err(Reason::Malformed));
        let mut split = http::HeaderMap::new();
        split.append("cookie", http::HeaderValue::from_static("a=1"));
        split.append("cookie", http::HeaderValue::from_static("session=y"));
        let (t, _) = find(&src, &split, None).expect("one").expect("found");
        assert_eq!(t, "y");
        // The same, as Envoy's `headers` map joins them: one value, `,` between lines.
        let joined = map(&[("cookie", "a=1,session=y")]);
        let (t, _) = find(&src, &joined, None).expect("one").expect("found");
        assert_eq!(t, "y");
        let joined = map(&[("cookie", "session=x,session=y")]);
        assert_eq!(find(&src, &joined, None), Err(Reason::Malformed));
        let joined = map(&[("x-token", "Bearer a,Bearer b")]);
        assert_eq!(find(&src, &joined, None), Err(Reason::Malformed));
        // An earlier source with a token decides before a repeated later one is looked at.
        let mut first = http::HeaderMap::new();
        first.append("x-token", http::HeaderValue::from_static("t"));
        first.append(
            "cookie",
            http::HeaderValue::from_static("session=1; session=2"),
        );
        assert_eq!(
            find(&src, &first, None).map(|f| f.map(|(t, _)| t)),
            Ok(Some("t"))
        );
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
