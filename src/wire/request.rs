//! A `CheckRequest` read in place: method, path, headers, `context_extensions` and the client
//! address, borrowed from the request's bytes; every other field is skipped unread.
//!
//! Protobuf's merge rules are kept, so the fields read are what prost would decode: a repeated
//! singular string keeps its last value, a repeated message field merges, a map keeps its last
//! entry per key (here every entry is kept, in wire order, and lookups take the last), and the
//! `Address` oneof keeps the last variant sent.
//!
//! Refused, as prost refuses them: truncated varints and keys, lengths past the end, field
//! number 0, wire types 6 and 7, an end-group tag without its start, groups nested past prost's
//! recursion limit, a field that is read arriving with another wire type, and strings that are
//! read as text (method, path, header names, `context_extensions`, the address) not being UTF-8.
//!
//! Accepted where prost refuses: header *values* that are not UTF-8 (see [`Header`]), and
//! anything malformed inside fields that are skipped (a non-UTF-8 `host`, a broken
//! `metadata_context`), since they are never looked at.

use prost::encoding::WireType;

use crate::request::{self, NOT_UTF8};

mod fields;

use fields::Fields;

/// Field numbers from `proto/envoy/service/auth/v3/{external_auth,attribute_context}.proto`
/// and `proto/envoy/config/core/v3/{address,header_value}.proto`.
mod field {
    /// `CheckRequest.attributes`
    pub const ATTRIBUTES: u32 = 1;
    /// `AttributeContext.source`
    pub const SOURCE: u32 = 1;
    /// `AttributeContext.request`
    pub const REQUEST: u32 = 4;
    /// `AttributeContext.context_extensions`
    pub const CONTEXT_EXTENSIONS: u32 = 10;
    /// `AttributeContext.Peer.address`, `.labels` (a map, never read)
    pub const PEER_ADDRESS: u32 = 1;
    pub const LABELS: u32 = 3;
    /// `Address.socket_address`, `.pipe`, `.envoy_internal_address` (one oneof)
    pub const SOCKET_ADDRESS: u32 = 1;
    pub const PIPE: u32 = 2;
    pub const INTERNAL_ADDRESS: u32 = 3;
    /// `SocketAddress.address`
    pub const ADDRESS: u32 = 2;
    /// `AttributeContext.Request.http`
    pub const HTTP: u32 = 2;
    /// `AttributeContext.HttpRequest.method`, `.headers`, `.path`, `.header_map`
    pub const METHOD: u32 = 2;
    pub const HEADERS: u32 = 3;
    pub const PATH: u32 = 4;
    pub const HEADER_MAP: u32 = 13;
    /// `HeaderMap.headers`
    pub const HEADER_MAP_HEADERS: u32 = 1;
    /// `HeaderValue.key`, `.value`, `.raw_value`
    pub const KEY: u32 = 1;
    pub const VALUE: u32 = 2;
    pub const RAW_VALUE: u32 = 3;
    /// A map entry's key and value.
    pub const ENTRY_KEY: u32 = 1;
    pub const ENTRY_VALUE: u32 = 2;
}

const ATTRIBUTE_CONTEXT: &str = "AttributeContext";
const HTTP_REQUEST: &str = "HttpRequest";
const PEER: &str = "Peer";

/// Why a `CheckRequest` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bytes that are not protobuf (a bad tag, varint or length).
    #[error("malformed protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// A length runs past the end of its message.
    #[error("a length runs past the end of its message")]
    Truncated,
    /// A field expected to be length-delimited that is not.
    #[error("field {field} of {message} is not length-delimited ({wire_type:?})")]
    WireType {
        /// The message it was in.
        message: &'static str,
        /// Its field number.
        field: u32,
        /// The wire type it came with.
        wire_type: WireType,
    },
    /// A string field (named) that is not UTF-8.
    #[error("{0} is not UTF-8")]
    Utf8(&'static str),
}

impl Error {
    /// A map field (`headers`, `context_extensions`, a peer's `labels`) that is not
    /// length-delimited. prost reads a map field as length-delimited whatever its wire type says
    /// (its map decoding never checks); this reader refuses it, as it refuses any other field it
    /// must read with the wrong type.
    pub fn is_map_wire_type(&self) -> bool {
        let Error::WireType { message, field, .. } = self else {
            return false;
        };
        matches!(
            (*message, *field),
            (HTTP_REQUEST, field::HEADERS)
                | (ATTRIBUTE_CONTEXT, field::CONTEXT_EXTENSIONS)
                | (PEER, field::LABELS)
        )
    }
}

/// One request header as Envoy sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// As sent: Envoy sends names in lower case.
    pub name: &'a str,
    /// The bytes as sent: `raw_value` when `header_map` carries one, else `value`. Not checked
    /// for UTF-8: RFC 9110 lets a field value hold bytes above 0x7f, and Envoy passes them on
    /// even in `string` fields. Refusing the RPC for them would hand the decision to Envoy's
    /// `failure_mode_allow`; [`Header::text`] reads them as present but malformed instead.
    pub value: &'a [u8],
}

impl<'a> Header<'a> {
    /// The value as text; [`NOT_UTF8`] when it is not UTF-8, as the HTTP authorizer reads it.
    pub fn text(&self) -> &'a str {
        std::str::from_utf8(self.value).unwrap_or(NOT_UTF8)
    }
}

/// What a decision reads from a `CheckRequest`, borrowed from its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Check<'a> {
    /// `attributes.request.http.method`; empty when absent.
    pub method: &'a str,
    /// `attributes.request.http.path`: path and query, undecoded; empty when absent.
    pub path: &'a str,
    /// `attributes.source.address.socket_address.address`, when the source is a socket address.
    pub client: Option<&'a str>,
    /// `headers`, the map form: Envoy joins a repeated header's values with `,`.
    map: Vec<Header<'a>>,
    /// `header_map.headers` (Envoy's `encode_raw_headers`): one entry per header line.
    raw: Vec<Header<'a>>,
    /// Whether `header_map` was sent at all, even empty.
    has_header_map: bool,
    context: Vec<(&'a str, &'a str)>,
}

impl<'a> Check<'a> {
    /// Reads a serialized `CheckRequest`.
    pub fn decode(buf: &'a [u8]) -> Result<Check<'a>, Error> {
        let mut check = Check::default();
        let mut fields = Fields::new(buf, "CheckRequest", &[field::ATTRIBUTES]);
        while let Some((tag, bytes)) = fields.next()? {
            if tag == field::ATTRIBUTES {
                check.attributes(bytes)?;
            }
        }
        Ok(check)
    }

    /// The headers a decision reads, in wire order with repeats kept: the `headers` map, or
    /// `header_map` when the map is empty and `header_map` was sent (the rule the gRPC
    /// transport has always applied).
    pub fn headers(&self) -> &[Header<'a>] {
        if self.uses_header_map() {
            &self.raw
        } else {
            &self.map
        }
    }

    fn uses_header_map(&self) -> bool {
        self.map.is_empty() && self.has_header_map
    }

    /// The last value sent under `lower_name`, as a map would keep it. `header_map` names are
    /// compared ignoring ASCII case; map keys exactly.
    pub fn header(&self, lower_name: &str) -> Option<&'a str> {
        let raw = self.uses_header_map();
        self.headers()
            .iter()
            .rev()
            .find(|h| {
                if raw {
                    h.name.eq_ignore_ascii_case(lower_name)
                } else {
                    h.name == lower_name
                }
            })
            .map(Header::text)
    }

    /// The last `context_extensions` value under `key`.
    pub fn context(&self, key: &str) -> Option<&'a str> {
        self.context
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// Every `context_extensions` entry, in wire order with repeats kept.
    pub fn context_entries(&self) -> &[(&'a str, &'a str)] {
        &self.context
    }

    fn attributes(&mut self, buf: &'a [u8]) -> Result<(), Error> {
        let mut fields = Fields::new(
            buf,
            ATTRIBUTE_CONTEXT,
            &[field::SOURCE, field::REQUEST, field::CONTEXT_EXTENSIONS],
        );
        while let Some((tag, bytes)) = fields.next()? {
            match tag {
                field::SOURCE => self.peer(bytes)?,
                field::REQUEST => self.request(bytes)?,
                field::CONTEXT_EXTENSIONS => {
                    let (k, v) = entry(bytes, "a context_extensions key")?;
                    let v = utf8(v, "a context_extensions value")?;
                    push(&mut self.context, (k, v));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn peer(&mut self, buf: &'a [u8]) -> Result<(), Error> {
        let mut fields = Fields::new(buf, PEER, &[field::PEER_ADDRESS, field::LABELS]);
        while let Some((tag, bytes)) = fields.next()? {
            if tag == field::PEER_ADDRESS {
                self.address(bytes)?;
            }
        }
        Ok(())
    }

    /// `client` is `Some` exactly while `socket_address` is the oneof's variant: another variant
    /// replaces it, and a later `socket_address` starts again from empty, as prost merges.
    fn address(&mut self, buf: &'a [u8]) -> Result<(), Error> {
        let mut fields = Fields::new(
            buf,
            "Address",
            &[field::SOCKET_ADDRESS, field::PIPE, field::INTERNAL_ADDRESS],
        );
        while let Some((tag, bytes)) = fields.next()? {
            match tag {
                field::SOCKET_ADDRESS => {
                    let mut address = self.client.unwrap_or("");
                    let mut inner = Fields::new(bytes, "SocketAddress", &[field::ADDRESS]);
                    while let Some((tag, bytes)) = inner.next()? {
                        if tag == field::ADDRESS {
                            address = utf8(bytes, "the source address")?;
                        }
                    }
                    self.client = Some(address);
                }
                field::PIPE | field::INTERNAL_ADDRESS => self.client = None,
                _ => {}
            }
        }
        Ok(())
    }

    fn request(&mut self, buf: &'a [u8]) -> Result<(), Error> {
        let mut fields = Fields::new(buf, "Request", &[field::HTTP]);
        while let Some((tag, bytes)) = fields.next()? {
            if tag == field::HTTP {
                self.http(bytes)?;
            }
        }
        Ok(())
    }

    fn http(&mut self, buf: &'a [u8]) -> Result<(), Error> {
        let mut fields = Fields::new(
            buf,
            HTTP_REQUEST,
            &[
                field::METHOD,
                field::HEADERS,
                field::PATH,
                field::HEADER_MAP,
            ],
        );
        while let Some((tag, bytes)) = fields.next()? {
            match tag {
                field::METHOD => self.method = utf8(bytes, "the method")?,
                field::PATH => self.path = utf8(bytes, "the path")?,
                field::HEADERS => {
                    let (name, value) = entry(bytes, "a headers key")?;
                    push(&mut self.map, Header { name, value });
                }
                field::HEADER_MAP => {
                    self.has_header_map = true;
                    let mut inner = Fields::new(bytes, "HeaderMap", &[field::HEADER_MAP_HEADERS]);
                    while let Some((tag, bytes)) = inner.next()? {
                        if tag == field::HEADER_MAP_HEADERS {
                            let header = header_value(bytes)?;
                            push(&mut self.raw, header);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl request::Headers for Check<'_> {
    fn each<'s>(&'s self, lower_name: &str, each: &mut dyn FnMut(&'s str)) {
        let raw = self.uses_header_map();
        for h in self.headers() {
            let same = if raw {
                h.name.eq_ignore_ascii_case(lower_name)
            } else {
                h.name == lower_name
            };
            if same {
                each(h.text());
            }
        }
    }
}

impl request::Extensions for Check<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.context(key)
    }
}

/// A first push reserves room for a typical request's headers, so one allocation holds them.
fn push<T>(list: &mut Vec<T>, item: T) {
    if list.capacity() == 0 {
        list.reserve(16);
    }
    list.push(item);
}

/// A `map<string, string>` entry: the key as text, the value as bytes (callers decide).
fn entry<'a>(buf: &'a [u8], key_name: &'static str) -> Result<(&'a str, &'a [u8]), Error> {
    let (mut key, mut value): (&[u8], &[u8]) = (b"", b"");
    let mut fields = Fields::new(buf, "a map entry", &[field::ENTRY_KEY, field::ENTRY_VALUE]);
    while let Some((tag, bytes)) = fields.next()? {
        match tag {
            field::ENTRY_KEY => key = bytes,
            field::ENTRY_VALUE => value = bytes,
            _ => {}
        }
    }
    Ok((utf8(key, key_name)?, value))
}

/// A `HeaderValue`: `raw_value` when non-empty, else `value`, as the transport always read it.
fn header_value(buf: &[u8]) -> Result<Header<'_>, Error> {
    let (mut key, mut value, mut raw): (&[u8], &[u8], &[u8]) = (b"", b"", b"");
    let mut fields = Fields::new(
        buf,
        "HeaderValue",
        &[field::KEY, field::VALUE, field::RAW_VALUE],
    );
    while let Some((tag, bytes)) = fields.next()? {
        match tag {
            field::KEY => key = bytes,
            field::VALUE => value = bytes,
            field::RAW_VALUE => raw = bytes,
            _ => {}
        }
    }
    Ok(Header {
        name: utf8(key, "a header_map key")?,
        value: if raw.is_empty() { value } else { raw },
    })
}

fn utf8<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a str, Error> {
    std::str::from_utf8(bytes).map_err(|_| Error::Utf8(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `CheckRequest{attributes{request{http{method: "GET", path: "/a"}}}}`, written by hand.
    const GET_A: &[u8] = &[
        0x0a, 0x0d, // attributes, 13 bytes
        0x22, 0x0b, // request, 11 bytes
        0x12, 0x09, // http, 9 bytes
        0x12, 0x03, b'G', b'E', b'T', // method
        0x22, 0x02, b'/', b'a', // path
    ];

    #[test]
    fn reads_method_and_path_from_hand_written_bytes() {
        let c = Check::decode(GET_A).unwrap();
        assert_eq!((c.method, c.path), ("GET", "/a"));
        assert!(c.headers().is_empty() && c.client.is_none());
    }

    #[test]
    fn every_truncation_is_refused_not_misread() {
        for end in 1..GET_A.len() {
            assert!(
                Check::decode(&GET_A[..end]).is_err(),
                "prefix {end} accepted"
            );
        }
        assert_eq!(Check::decode(&[]).unwrap(), Check::default());
    }

    #[test]
    fn a_read_field_with_another_wire_type_is_refused() {
        // attributes sent as a varint.
        let err = Check::decode(&[0x08, 0x01]).unwrap_err();
        assert!(matches!(err, Error::WireType { field: 1, .. }), "{err}");
        // An end-group tag where a map entry belongs: prost would read on as if it were one.
        let err = Check::decode(&[0x0a, 0x02, 0x54, 0x00]).unwrap_err();
        assert!(err.is_map_wire_type(), "{err}");
        // An unknown varint field, a fixed64 and a group are skipped.
        let mut buf = vec![
            0x10, 0x96, 0x01, 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0x1b, 0x08, 0x01, 0x1c,
        ];
        buf.extend_from_slice(GET_A);
        assert_eq!(Check::decode(&buf).unwrap().method, "GET");
    }

    #[test]
    fn an_unmatched_end_group_and_bad_keys_are_refused() {
        for bad in [
            &[0x0c][..],
            &[0x00],
            &[0x0e],
            &[0x0f],
            &[0x80],
            &[0x0a, 0x80],
        ] {
            assert!(Check::decode(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_non_utf8_path_is_refused_and_a_non_utf8_value_is_present_but_malformed() {
        let mut bad = GET_A.to_vec();
        bad[14] = 0xff;
        assert!(matches!(Check::decode(&bad), Err(Error::Utf8("the path"))));
        let header = Header {
            name: "authorization",
            value: b"Bearer \xe9",
        };
        assert_eq!(header.text(), NOT_UTF8);
    }
}
