//! `CheckResponse` bytes written directly, with no message built.
//!
//! Protobuf lets a message's fields, a repeated field's elements and a map's entries arrive in
//! any grouping, so an allow is its verdict's pre-encoded [`Allow`] (claim headers, and the
//! `authorizer` and `claims` metadata entries) with the per-request parts (removals, the `path`
//! and `route` entries) written beside it: lengths computed, bytes copied. The order matches
//! prost's (fields by number, map entries by key: `authorizer`, `claims`, `path`, `route`), so
//! the bytes are the very ones prost would write. A denial depends only on its reason (and, for `insufficient_scope`, the
//! route's scopes), so each is encoded once.

use std::sync::LazyLock;

use prost::bytes::{BufMut, Bytes, BytesMut};
use prost::encoding::{WireType, decode_key, decode_varint};

mod proto;

use crate::decision::Decision;
use crate::reason::{Challenge, Reason, Wire};
use proto::{
    GRPC_OK, delimited_len, entry_len, field, header_option_len, int32, optional_len, put_bytes,
    put_delimited, put_entry, put_header_option, put_optional, put_status, put_varint, status_len,
    varint_len,
};

/// What an allow sends that never changes for one cached verdict: its claim headers and, with
/// claims, the `authorizer` and `claims` entries of `dynamic_metadata`. One allocation, kept in
/// the cache entry: the claim headers are read back from it ([`Allow::headers`]) rather than kept
/// a second time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allow {
    /// `OkHttpResponse.headers` elements, one per claim header, in order, then the
    /// `Struct.fields` entries of `dynamic_metadata`.
    bytes: Box<[u8]>,
    /// Where the headers end and the metadata entries begin.
    headers_len: usize,
    /// The length of the claims' own encoded `Struct`, the tail of `bytes`; `None` without
    /// claims (a public route): no `dynamic_metadata`.
    claims_len: Option<usize>,
}

impl Allow {
    /// `claims` is the encoded `Struct` of [`crate::token_cache::Claims::as_bytes`].
    pub fn new<'h>(
        authorizer: &str,
        set_headers: impl IntoIterator<Item = (&'h str, &'h str)>,
        claims: Option<&[u8]>,
    ) -> Allow {
        let mut bytes = Vec::new();
        for (key, value) in set_headers {
            put_header_option(field::OK_HEADERS, key, value, &mut bytes);
        }
        let headers_len = bytes.len();
        if let Some(claims) = claims {
            bytes.reserve_exact(
                entry_len("authorizer", field::STRING_VALUE, authorizer.len())
                    + entry_len("claims", field::STRUCT_VALUE, claims.len()),
            );
            put_entry(
                "authorizer",
                field::STRING_VALUE,
                authorizer.as_bytes(),
                &mut bytes,
            );
            put_entry("claims", field::STRUCT_VALUE, claims, &mut bytes);
        }
        Allow {
            bytes: bytes.into_boxed_slice(),
            headers_len,
            claims_len: claims.map(<[u8]>::len),
        }
    }

    /// The claims' encoded `Struct`, as given to [`Allow::new`]: a cache entry that keeps its
    /// `Allow` need not keep the claims a second time.
    pub fn claims(&self) -> Option<&[u8]> {
        let start = self.bytes.len().checked_sub(self.claims_len?)?;
        self.bytes.get(start..)
    }

    /// The claim headers, `(name, value)` as given to [`Allow::new`], read back from their
    /// encoding.
    pub fn headers(&self) -> Headers<'_> {
        Headers(self.bytes.get(..self.headers_len).unwrap_or_default())
    }

    fn metadata(&self) -> Option<&[u8]> {
        self.claims_len?;
        self.bytes.get(self.headers_len..)
    }

    /// The size of the response [`Allow::write`] writes. `path` and `route` are sent only with
    /// claims.
    pub fn encoded_len<S: AsRef<str>>(
        &self,
        remove_headers: &[S],
        remove_query: &[S],
        path: &str,
        route: Option<&str>,
    ) -> usize {
        let (ok, metadata) = self.lens(remove_headers, remove_query, path, route);
        status_len(GRPC_OK)
            + delimited_len(field::OK, ok)
            + metadata.map_or(0, |m| delimited_len(field::DYNAMIC_METADATA, m))
    }

    /// Writes the `CheckResponse` of this verdict with the request's removals and route.
    pub fn write<S: AsRef<str>>(
        &self,
        remove_headers: &[S],
        remove_query: &[S],
        path: &str,
        route: Option<&str>,
        out: &mut impl BufMut,
    ) {
        let (ok, metadata_len) = self.lens(remove_headers, remove_query, path, route);
        put_status(GRPC_OK, out);
        put_delimited(field::OK, ok, out);
        out.put_slice(self.headers().0);
        for h in remove_headers {
            put_bytes(field::HEADERS_TO_REMOVE, h.as_ref().as_bytes(), out);
        }
        for q in remove_query {
            put_bytes(field::QUERY_TO_REMOVE, q.as_ref().as_bytes(), out);
        }
        if let (Some(metadata), Some(len)) = (self.metadata(), metadata_len) {
            put_delimited(field::DYNAMIC_METADATA, len, out);
            out.put_slice(metadata);
            put_entry("path", field::STRING_VALUE, path.as_bytes(), out);
            if let Some(route) = route {
                put_entry("route", field::STRING_VALUE, route.as_bytes(), out);
            }
        }
    }

    /// [`Allow::write`] into a buffer of exactly the right size.
    pub fn to_bytes<S: AsRef<str>>(
        &self,
        remove_headers: &[S],
        remove_query: &[S],
        path: &str,
        route: Option<&str>,
    ) -> Bytes {
        let len = self.encoded_len(remove_headers, remove_query, path, route);
        let mut out = BytesMut::with_capacity(len);
        self.write(remove_headers, remove_query, path, route, &mut out);
        out.freeze()
    }

    /// The lengths of `ok_response` and of `dynamic_metadata` (when sent).
    fn lens<S: AsRef<str>>(
        &self,
        remove_headers: &[S],
        remove_query: &[S],
        path: &str,
        route: Option<&str>,
    ) -> (usize, Option<usize>) {
        let removed = |tag, list: &[S]| -> usize {
            list.iter()
                .map(|s| delimited_len(tag, s.as_ref().len()))
                .sum()
        };
        let ok = self.headers_len
            + removed(field::HEADERS_TO_REMOVE, remove_headers)
            + removed(field::QUERY_TO_REMOVE, remove_query);
        let metadata = self.metadata().map(|m| {
            m.len()
                + entry_len("path", field::STRING_VALUE, path.len())
                + route.map_or(0, |r| entry_len("route", field::STRING_VALUE, r.len()))
        });
        (ok, metadata)
    }
}

/// The claim headers of an [`Allow`], read from the bytes [`Allow::new`] wrote.
#[derive(Clone, Debug)]
pub struct Headers<'a>(&'a [u8]);

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let (_, mut option) = next_field(&mut self.0)?;
        let (mut key, mut value) = ("", "");
        while let Some((tag, body)) = next_field(&mut option) {
            if tag != field::HEADER {
                continue;
            }
            let mut header = body;
            while let Some((tag, text)) = next_field(&mut header) {
                let text = std::str::from_utf8(text).ok()?;
                match tag {
                    field::KEY => key = text,
                    field::VALUE => value = text,
                    _ => {}
                }
            }
        }
        Some((key, value))
    }
}

/// The next field of `buf` and its bytes (none for a varint); `None` at the end, or at bytes
/// this module did not write.
fn next_field<'a>(buf: &mut &'a [u8]) -> Option<(u32, &'a [u8])> {
    if buf.is_empty() {
        return None;
    }
    let (tag, wire) = decode_key(buf).ok()?;
    match wire {
        WireType::Varint => {
            decode_varint(buf).ok()?;
            Some((tag, &[]))
        }
        WireType::LengthDelimited => {
            let len = usize::try_from(decode_varint(buf).ok()?).ok()?;
            let (body, rest) = buf.split_at_checked(len)?;
            *buf = rest;
            Some((tag, body))
        }
        _ => None,
    }
}

/// A `CheckResponse` on its way into the gRPC frame: a denial's shared bytes, or an allow,
/// written there from its verdict's cached [`Allow`] and the request's own parts with no
/// buffer of its own.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Bytes encoded already.
    Encoded(Bytes),
    /// An allow, encoded as it is written.
    Allow(Decision),
}

/// A public route's allow: no claim headers, no claims.
static BARE: LazyLock<Allow> = LazyLock::new(Allow::default);

impl Reply {
    /// The reply to `decision`.
    pub fn new(decision: Decision) -> Reply {
        if decision.is_allow() {
            Reply::Allow(decision)
        } else {
            Reply::Encoded(denial(&decision))
        }
    }

    /// The size [`Reply::write`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Reply::Encoded(bytes) => bytes.len(),
            Reply::Allow(d) => allow_of(d).encoded_len(
                &d.remove_headers,
                &d.remove_query,
                &d.path,
                d.route.as_deref(),
            ),
        }
    }

    /// Writes the `CheckResponse`.
    pub fn write(&self, out: &mut impl BufMut) {
        match self {
            Reply::Encoded(bytes) => out.put_slice(bytes),
            Reply::Allow(d) => allow_of(d).write(
                &d.remove_headers,
                &d.remove_query,
                &d.path,
                d.route.as_deref(),
                out,
            ),
        }
    }
}

impl From<Bytes> for Reply {
    fn from(bytes: Bytes) -> Reply {
        Reply::Encoded(bytes)
    }
}

/// The verdict's cached parts; a public allow has none.
fn allow_of(d: &Decision) -> &Allow {
    d.verified.as_ref().map_or(&BARE, |v| &v.allow)
}

/// A denial's whole `CheckResponse`; `extra` are headers after the challenge (CORS).
pub fn deny(wire: &Wire, challenge: Option<&str>, extra: &[(&str, String)]) -> Bytes {
    let http_status = varint_len(field::CODE, int32(i32::from(wire.http_status)));
    let content_type = header_option_len("content-type", "application/json");
    let challenge_len = challenge.map(|c| header_option_len("www-authenticate", c));
    let extra_len: usize = extra
        .iter()
        .map(|(k, v)| delimited_len(field::DENIED_HEADERS, header_option_len(k, v)))
        .sum();
    let denied = delimited_len(field::DENIED_STATUS, http_status)
        + delimited_len(field::DENIED_HEADERS, content_type)
        + challenge_len.map_or(0, |c| delimited_len(field::DENIED_HEADERS, c))
        + extra_len
        + optional_len(field::BODY, wire.body.as_bytes());
    let mut out =
        BytesMut::with_capacity(status_len(wire.grpc_code) + delimited_len(field::DENIED, denied));
    put_status(wire.grpc_code, &mut out);
    put_delimited(field::DENIED, denied, &mut out);
    put_delimited(field::DENIED_STATUS, http_status, &mut out);
    put_varint(field::CODE, int32(i32::from(wire.http_status)), &mut out);
    let json = "application/json";
    put_header_option(field::DENIED_HEADERS, "content-type", json, &mut out);
    if let Some(c) = challenge {
        put_header_option(field::DENIED_HEADERS, "www-authenticate", c, &mut out);
    }
    for (k, v) in extra {
        put_header_option(field::DENIED_HEADERS, k, v, &mut out);
    }
    put_optional(field::BODY, wire.body.as_bytes(), &mut out);
    out.freeze()
}

/// Every reason's denial, encoded once; allow reasons are never looked up here.
static DENIALS: LazyLock<Vec<(Reason, Bytes)>> = LazyLock::new(|| {
    Reason::ALL
        .iter()
        .map(|r| {
            (
                *r,
                deny(&r.wire(), r.wire().challenge.header(&[]).as_deref(), &[]),
            )
        })
        .collect()
});

/// The encoded denial of a decision: shared bytes per reason, except `insufficient_scope`'s,
/// which names the route's scopes, and a denial carrying CORS headers, which name the request's
/// origin: those are built per call.
pub fn denial(d: &Decision) -> Bytes {
    let (reason, wire) = (d.reason, d.reason.wire());
    let fresh = || deny(&wire, wire.challenge.header(&d.scopes).as_deref(), &d.cors);
    if wire.challenge == Challenge::InsufficientScope || !d.cors.is_empty() {
        return fresh();
    }
    // `Reason::ALL` lists the variants in declaration order; the check keeps a reordering safe.
    match DENIALS.get(reason as usize) {
        Some((r, bytes)) if *r == reason => bytes.clone(),
        _ => fresh(),
    }
}

/// The encoded `CheckResponse` for a decision, the same bytes as prost encoding
/// `server::grpc::response(decision)`, in a buffer of its own: the gRPC front writes a
/// [`Reply`] into its frame instead.
pub fn encode(decision: &Decision) -> Bytes {
    if !decision.is_allow() {
        return denial(decision);
    }
    allow_of(decision).to_bytes(
        &decision.remove_headers,
        &decision.remove_query,
        &decision.path,
        decision.route.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_allow_is_an_empty_status_and_an_empty_ok_response() {
        let bytes = Allow::default().to_bytes::<&str>(&[], &[], "/", Some("GET /"));
        assert_eq!(&bytes[..], &[0x0a, 0x00, 0x1a, 0x00]);
    }

    #[test]
    fn the_claims_are_kept_once_and_given_back() {
        let claims = [0x0a, 0x03, 0x0a, 0x01, b'a'];
        let allow = Allow::new("main", [("x-user-id", "u")], Some(&claims));
        assert_eq!(allow.claims(), Some(&claims[..]));
        assert_eq!(Allow::new("main", [], None).claims(), None);
        assert_eq!(Allow::new("", [], Some(&[])).claims(), Some(&[][..]));
    }

    #[test]
    fn the_claim_headers_are_read_back_as_given() {
        let long = "v".repeat(300);
        let set = [("x-user-id", "u-1"), ("x-empty", ""), ("", "nameless")];
        let set = [&set[..], &[("x-long", long.as_str())]].concat();
        for claims in [None, Some(&[0x0a, 0x00][..])] {
            let allow = Allow::new("main", set.iter().copied(), claims);
            assert_eq!(allow.headers().collect::<Vec<_>>(), set);
            assert_eq!(allow.claims(), claims);
        }
        assert_eq!(Allow::default().headers().count(), 0);
    }

    #[test]
    fn every_denial_is_encoded_once_per_reason() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "Reason::ALL is not in declaration order");
        }
        let decision = |reason, scopes: &[&str]| Decision {
            reason,
            authorizer: "main".into(),
            route: None,
            path: "/".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            verified: None,
            remove_headers: Vec::new(),
            remove_query: Vec::new(),
            cors: Vec::new(),
        };
        let a = denial(&decision(Reason::Expired, &[]));
        let b = denial(&decision(Reason::Expired, &[]));
        assert_eq!(a.as_ptr(), b.as_ptr(), "the shared bytes were not reused");
        let scoped = denial(&decision(Reason::InsufficientScope, &["a"]));
        let text = String::from_utf8_lossy(&scoped);
        assert!(text.contains(r#"scope="a""#), "{text}");
        let mut cors = decision(Reason::Expired, &[]);
        cors.cors = vec![("vary", "Origin".to_owned())];
        let text = String::from_utf8_lossy(&denial(&cors)).into_owned();
        assert!(text.contains("vary") && text.contains("Origin"), "{text}");
    }
}
