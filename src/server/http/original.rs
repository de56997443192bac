//! Which request the HTTP authorizer judges (`http.original_request`): nginx's `X-Original-*`,
//! forward auth's `X-Forwarded-Method`/`-Uri`, or its own request line.
//!
//! A header the mode reads is used or the request is refused: an unreadable value never falls
//! through to the next source, where a client-sent header could stand in for the proxy's.

use std::borrow::Cow;

use axum::http::HeaderMap;

use crate::config::{Http, OriginalRequest};
use crate::reason::Reason;

/// The request to judge.
#[derive(Debug, PartialEq, Eq)]
pub struct Original<'h> {
    pub method: &'h str,
    pub target: Cow<'h, str>,
    /// It came from nginx's `X-Original-*`: a bad request is answered 403, since nginx turns
    /// any `auth_request` status but 2xx, 401 and 403 into a 500.
    pub nginx: bool,
}

const ORIGINAL: (&str, &str) = ("x-original-uri", "x-original-method");
const FORWARDED: (&str, &str) = ("x-forwarded-uri", "x-forwarded-method");

/// The original request by `http`'s mode, or why it cannot be read. `own_target` is this
/// request's own target (origin-form; `None` for any other form).
pub fn original<'h>(
    http: &Http,
    headers: &'h HeaderMap,
    own_method: &'h str,
    own_target: Option<&'h str>,
) -> Result<Original<'h>, Refused> {
    let present =
        |(uri, method): (&str, &str)| headers.contains_key(uri) || headers.contains_key(method);
    let family = match http.original_request {
        OriginalRequest::Nginx => Some((ORIGINAL, true)),
        OriginalRequest::Forwarded => Some((FORWARDED, false)),
        OriginalRequest::RequestLine => None,
        OriginalRequest::Auto => match (present(ORIGINAL), present(FORWARDED)) {
            // A client can add either family; a proxy sends one.
            (true, true) => return Err(Refused { nginx: true }),
            (true, false) => Some((ORIGINAL, true)),
            (false, true) => Some((FORWARDED, false)),
            (false, false) => None,
        },
    };
    let Some(((uri, method), nginx)) = family else {
        let own = own_target.ok_or(Refused { nginx: false })?;
        return Ok(Original {
            method: own_method,
            target: strip_prefix(own, &http.path_prefix),
            nginx: false,
        });
    };
    let refused = Refused { nginx };
    let target = read(headers, uri)
        .map_err(|()| refused)?
        .filter(|t| t.starts_with('/'))
        .ok_or(refused)?;
    let method = read(headers, method)
        .map_err(|()| refused)?
        .unwrap_or(own_method);
    Ok(Original {
        method,
        target: Cow::Borrowed(target),
        nginx,
    })
}

/// The original request could not be read: a `bad_request`, answered 403 in nginx's
/// convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub nginx: bool,
}

impl Refused {
    pub fn reason(self) -> Reason {
        Reason::BadRequest
    }
}

/// A header's one value: absent is `None`; repeated, empty or not visible ASCII is an error.
fn read<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ()> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(());
    }
    std::str::from_utf8(bytes).map(Some).map_err(|_| ())
}

/// `own` less `prefix`, on a segment boundary only; the rest keeps its query string.
fn strip_prefix<'t>(own: &'t str, prefix: &str) -> Cow<'t, str> {
    let stripped = own
        .strip_prefix(prefix)
        .filter(|rest| !prefix.is_empty() && (rest.is_empty() || rest.starts_with(['/', '?'])));
    match stripped {
        Some(rest) if rest.is_empty() || rest.starts_with('?') => Cow::Owned(format!("/{rest}")),
        Some(rest) => Cow::Borrowed(rest),
        None => Cow::Borrowed(own),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};

    fn h(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            let value = HeaderValue::from_bytes(v).expect("test header value");
            map.append(HeaderName::from_static(k), value);
        }
        map
    }

    fn http(mode: OriginalRequest, prefix: &str) -> Http {
        Http {
            path_prefix: prefix.to_owned(),
            original_request: mode,
        }
    }

    fn pick(mode: OriginalRequest, headers: &HeaderMap) -> Result<(String, String), Refused> {
        original(&http(mode, ""), headers, "GET", Some("/auth"))
            .map(|o| (o.method.to_owned(), o.target.into_owned()))
    }

    #[test]
    fn each_mode_reads_only_its_own_source() {
        use OriginalRequest::*;
        let nginx = h(&[
            ("x-original-uri", b"/a?x=1"),
            ("x-original-method", b"POST"),
        ]);
        let fwd = h(&[("x-forwarded-uri", b"/b"), ("x-forwarded-method", b"PUT")]);
        let none = HeaderMap::new();
        let ok = |m: &str, t: &str| Ok((m.to_owned(), t.to_owned()));
        assert_eq!(pick(Auto, &nginx), ok("POST", "/a?x=1"));
        assert_eq!(pick(Auto, &fwd), ok("PUT", "/b"));
        assert_eq!(pick(Auto, &none), ok("GET", "/auth"));
        assert_eq!(pick(Nginx, &fwd), Err(Refused { nginx: true }));
        assert_eq!(pick(Forwarded, &nginx), Err(Refused { nginx: false }));
        assert_eq!(pick(RequestLine, &nginx), ok("GET", "/auth"));
        assert_eq!(pick(RequestLine, &fwd), ok("GET", "/auth"));
        let uri_only = h(&[("x-original-uri", b"/c")]);
        assert_eq!(pick(Nginx, &uri_only), ok("GET", "/c"));
    }

    #[test]
    fn auto_refuses_both_families_at_once() {
        let both = h(&[
            ("x-original-uri", b"/admin/secret"),
            ("x-forwarded-uri", b"/health"),
        ]);
        assert_eq!(
            pick(OriginalRequest::Auto, &both),
            Err(Refused { nginx: true })
        );
        let method_only = h(&[("x-original-method", b"GET"), ("x-forwarded-uri", b"/x")]);
        assert!(pick(OriginalRequest::Auto, &method_only).is_err());
    }

    #[test]
    fn a_present_header_is_used_or_refused_never_skipped() {
        use OriginalRequest::*;
        for bad in [
            &b"/admin/secret?q=\xc3\xa9"[..],
            b"",
            b"admin",
            b"http://h/admin/x",
            b"/a b",
            b"/a\tb",
        ] {
            let headers = h(&[("x-original-uri", bad), ("x-forwarded-uri", b"/health")]);
            assert!(pick(Nginx, &headers).is_err(), "{bad:?}");
            let alone = h(&[("x-original-uri", bad)]);
            assert!(pick(Auto, &alone).is_err(), "{bad:?}");
        }
        let twice = h(&[("x-forwarded-uri", b"/a"), ("x-forwarded-uri", b"/b")]);
        assert_eq!(pick(Forwarded, &twice), Err(Refused { nginx: false }));
        let bad_method = h(&[("x-original-uri", b"/a"), ("x-original-method", b"")]);
        assert!(pick(Nginx, &bad_method).is_err());
        let no_uri = h(&[("x-original-method", b"GET")]);
        assert!(pick(Auto, &no_uri).is_err());
    }

    #[test]
    fn path_prefix_is_stripped_on_a_segment_boundary_only() {
        let none = HeaderMap::new();
        let line = |own: &str, prefix: &str| {
            original(
                &http(OriginalRequest::RequestLine, prefix),
                &none,
                "GET",
                Some(own),
            )
            .map(|o| o.target.into_owned())
        };
        assert_eq!(line("/authz/users/7", "/authz").as_deref(), Ok("/users/7"));
        assert_eq!(line("/authz", "/authz").as_deref(), Ok("/"));
        assert_eq!(line("/authz?q=1", "/authz").as_deref(), Ok("/?q=1"));
        assert_eq!(line("/authzx/a", "/authz").as_deref(), Ok("/authzx/a"));
        assert_eq!(line("/users/7", "/authz").as_deref(), Ok("/users/7"));
        assert_eq!(line("/users/7", "").as_deref(), Ok("/users/7"));
        let absolute = original(&http(OriginalRequest::RequestLine, ""), &none, "GET", None);
        assert_eq!(absolute, Err(Refused { nginx: false }));
    }
}
