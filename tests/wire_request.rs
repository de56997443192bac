//! The in-place `CheckRequest` reader (`tokengate::wire::Check`) against prost: generated
//! requests, with both header forms, repeats, unknown fields at every level and fields split
//! across repeated occurrences, read alike; every truncation and corruption refused or read alike.

#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::collections::HashMap;

use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};
use tokengate::pb::auth::attribute_context::{HttpRequest, Peer, Request as AttrRequest};
use tokengate::pb::auth::{AttributeContext, CheckRequest};
use tokengate::pb::core::address::Address as Variant;
use tokengate::pb::core::{Address, HeaderMap, HeaderValue, Pipe, SocketAddress};
use tokengate::wire::Check;

/// xorshift64*: reproducible requests without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// Text of up to `max` characters, now and then beyond ASCII or long enough for a
    /// two-byte length.
    fn text(&mut self, max: usize) -> String {
        let len = if self.chance(5) {
            200
        } else {
            self.below(max + 1)
        };
        (0..len)
            .map(|_| match self.below(20) {
                0 => 'é',
                1 => '\u{200b}',
                2 => ' ',
                _ => char::from(b'a' + self.below(26) as u8),
            })
            .collect()
    }
}

const NAMES: &[&str] = &[
    "authorization",
    "Authorization",
    "cookie",
    "x-user-id",
    "x_user_id",
    ":path",
    "x-forwarded-for",
    "x-request-id",
    "",
];

fn header_name(rng: &mut Rng) -> String {
    if rng.chance(80) {
        rng.pick(NAMES).to_owned()
    } else {
        rng.text(12)
    }
}

fn peer(rng: &mut Rng) -> Option<Peer> {
    let address = match rng.below(5) {
        0 => return None,
        1 => None,
        2 => Some(Variant::Pipe(Pipe {
            path: rng.text(8),
            mode: 0o600,
        })),
        _ => Some(Variant::SocketAddress(SocketAddress {
            address: rng.pick(&["10.0.0.7", "::1", ""]).to_owned(),
            port_specifier: Some(
                tokengate::pb::core::socket_address::PortSpecifier::PortValue(443),
            ),
            ..Default::default()
        })),
    };
    Some(Peer {
        address: Some(Address { address }),
        service: rng.text(6),
        ..Default::default()
    })
}

fn http(rng: &mut Rng) -> HttpRequest {
    let mut http = HttpRequest {
        id: rng.text(10),
        method: rng
            .pick(&["GET", "POST", "HEAD", "OPTIONS", "", "get"])
            .to_owned(),
        path: format!("/{}", rng.text(20)),
        host: rng.text(10),
        size: rng.below(5000) as i64 - 1,
        protocol: "HTTP/2".to_owned(),
        ..Default::default()
    };
    // Envoy sends one form or the other; both, and an empty `header_map`, are tried too.
    let (map_form, raw_form) = match rng.below(5) {
        0 => (true, false),
        1 | 2 => (false, true),
        3 => (true, true),
        _ => (false, false),
    };
    if map_form {
        for _ in 0..rng.below(12) {
            http.headers.insert(header_name(rng), rng.text(30));
        }
    }
    if raw_form {
        let mut headers = Vec::new();
        for _ in 0..rng.below(12) {
            let key = match headers.last() {
                Some(HeaderValue { key, .. }) if rng.chance(25) => key.clone(),
                _ => header_name(rng),
            };
            let (value, raw_value) = match rng.below(4) {
                0 => (rng.text(30), Vec::new()),
                1 => (String::new(), rng.text(30).into_bytes()),
                2 => (rng.text(5), b"Bearer a.b.\xe9".to_vec()),
                _ => (rng.text(5), rng.text(30).into_bytes()),
            };
            headers.push(HeaderValue {
                key,
                value,
                raw_value,
            });
        }
        http.header_map = Some(HeaderMap { headers });
    }
    http
}

fn request(rng: &mut Rng) -> CheckRequest {
    let mut context = HashMap::new();
    for _ in 0..rng.below(4) {
        let key = rng.pick(&["authorizer", "scopes", "x"]).to_owned();
        context.insert(key, rng.text(10));
    }
    let attributes = AttributeContext {
        source: peer(rng),
        destination: peer(rng),
        request: rng.chance(95).then(|| AttrRequest {
            time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            http: rng.chance(95).then(|| http(rng)),
        }),
        context_extensions: context,
        ..Default::default()
    };
    CheckRequest {
        attributes: rng.chance(97).then_some(attributes),
    }
}

fn delimited(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Fields no message here defines, of every wire type, groups nested.
fn unknown(rng: &mut Rng, out: &mut Vec<u8>) {
    for _ in 0..rng.below(3) {
        let tag = 100 + rng.below(50) as u32;
        match rng.below(5) {
            0 => {
                encode_key(tag, WireType::Varint, out);
                encode_varint(rng.next(), out);
            }
            1 => {
                encode_key(tag, WireType::SixtyFourBit, out);
                out.extend_from_slice(&rng.next().to_le_bytes());
            }
            2 => {
                encode_key(tag, WireType::ThirtyTwoBit, out);
                out.extend_from_slice(&[1, 2, 3, 4]);
            }
            3 => delimited(tag, rng.text(20).as_bytes(), out),
            _ => {
                encode_key(tag, WireType::StartGroup, out);
                encode_key(7, WireType::StartGroup, out);
                encode_key(1, WireType::Varint, out);
                encode_varint(9, out);
                encode_key(7, WireType::EndGroup, out);
                encode_key(tag, WireType::EndGroup, out);
            }
        }
    }
}

/// `req` encoded as prost would, then with unknown fields at every level and its headers,
/// `http` and context extensions split across repeated occurrences that protobuf merges.
fn encode(req: &CheckRequest, rng: &mut Rng) -> Vec<u8> {
    let Some(attributes) = &req.attributes else {
        let mut out = req.encode_to_vec();
        unknown(rng, &mut out);
        return out;
    };
    let mut request_bytes = Vec::new();
    if let Some(r) = &attributes.request {
        request_bytes = AttrRequest {
            http: None,
            ..r.clone()
        }
        .encode_to_vec();
        if let Some(http) = &r.http {
            for part in split(http, rng) {
                let mut bytes = part.encode_to_vec();
                unknown(rng, &mut bytes);
                delimited(2, &bytes, &mut request_bytes);
            }
        }
        unknown(rng, &mut request_bytes);
    }
    let split_context = rng.chance(50);
    let mut first = AttributeContext {
        request: None,
        ..attributes.clone()
    };
    if split_context {
        first.context_extensions.clear();
    }
    let mut attributes_bytes = first.encode_to_vec();
    if attributes.request.is_some() {
        delimited(4, &request_bytes, &mut attributes_bytes);
    }
    unknown(rng, &mut attributes_bytes);
    let mut out = Vec::new();
    delimited(1, &attributes_bytes, &mut out);
    unknown(rng, &mut out);
    if split_context {
        let rest = AttributeContext {
            context_extensions: attributes.context_extensions.clone(),
            ..Default::default()
        };
        delimited(1, &rest.encode_to_vec(), &mut out);
    }
    out
}

/// One `HttpRequest` as two that merge back into it: headers divided, and a decoy method and
/// path in the first that the second's replace.
fn split(http: &HttpRequest, rng: &mut Rng) -> Vec<HttpRequest> {
    if rng.chance(40) {
        return vec![http.clone()];
    }
    let mut first = HttpRequest {
        method: if http.method.is_empty() {
            String::new()
        } else {
            "DECOY".to_owned()
        },
        path: if http.path.is_empty() {
            String::new()
        } else {
            "/decoy".to_owned()
        },
        ..Default::default()
    };
    let mut second = HttpRequest {
        headers: HashMap::new(),
        header_map: None,
        ..http.clone()
    };
    for (k, v) in &http.headers {
        let half = if rng.chance(50) {
            &mut first
        } else {
            &mut second
        };
        half.headers.insert(k.clone(), v.clone());
    }
    if let Some(map) = &http.header_map {
        let cut = rng.below(map.headers.len() + 1);
        first.header_map = Some(HeaderMap {
            headers: map.headers[..cut].to_vec(),
        });
        second.header_map = Some(HeaderMap {
            headers: map.headers[cut..].to_vec(),
        });
    }
    vec![first, second]
}

/// The fuzz target's check; a failure prints its input, for `fuzz/regressions/check_request/`
/// (prost writes maps in `HashMap` order, so a run's requests differ from the last run's).
fn check(bytes: &[u8]) {
    if let Err(panic) = std::panic::catch_unwind(|| tokengate::fuzz::check_request(bytes)) {
        eprintln!("failing input: {bytes:02x?}");
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn generated_requests_read_as_prost_reads_them() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut raw_form = 0;
    for _ in 0..3000 {
        let req = request(&mut rng);
        let bytes = encode(&req, &mut rng);
        assert_eq!(
            CheckRequest::decode(&bytes[..]).unwrap(),
            req,
            "the generator"
        );
        check(&bytes);
        let check = Check::decode(&bytes).unwrap();
        let http = req
            .attributes
            .as_ref()
            .and_then(|a| a.request.as_ref()?.http.as_ref());
        if let Some(h) = http
            && h.headers.is_empty()
            && let Some(map) = &h.header_map
        {
            raw_form += 1;
            assert_eq!(check.headers().len(), map.headers.len(), "repeats are kept");
        }
    }
    assert!(raw_form > 500, "only {raw_form} requests used header_map");
}

#[test]
fn an_envoy_shaped_request_reads_its_headers_and_context() {
    let req = common::check_request_with(
        "GET",
        "/users/7?x=1",
        &[("authorization", "Bearer a.b.c"), ("x-request-id", "r1")],
        &[("authorizer", "cognito")],
    );
    let bytes = req.encode_to_vec();
    let check = Check::decode(&bytes).unwrap();
    assert_eq!((check.method, check.path), ("GET", "/users/7?x=1"));
    assert_eq!(check.header("authorization"), Some("Bearer a.b.c"));
    assert_eq!(check.header("cookie"), None);
    assert_eq!(check.context("authorizer"), Some("cognito"));
    assert_eq!(check.context("scopes"), None);
}

#[test]
fn a_header_sent_twice_in_header_map_is_kept_twice_and_read_as_the_last() {
    let header = |value: &str| HeaderValue {
        key: "Authorization".to_owned(),
        raw_value: value.as_bytes().to_vec(),
        ..Default::default()
    };
    let http = HttpRequest {
        header_map: Some(HeaderMap {
            headers: vec![header("Bearer first"), header("Bearer second")],
        }),
        ..Default::default()
    };
    let req = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(AttrRequest {
                http: Some(http),
                time: None,
            }),
            ..Default::default()
        }),
    };
    let bytes = req.encode_to_vec();
    let check = Check::decode(&bytes).unwrap();
    let values: Vec<&[u8]> = check.headers().iter().map(|h| h.value).collect();
    assert_eq!(values, [&b"Bearer first"[..], b"Bearer second"]);
    assert_eq!(check.header("authorization"), Some("Bearer second"));
}

#[test]
fn every_truncation_and_corruption_is_refused_or_read_as_prost_reads_it() {
    let mut rng = Rng(7);
    let mut read = 0;
    for _ in 0..60 {
        let req = request(&mut rng);
        let bytes = encode(&req, &mut rng);
        for end in 0..bytes.len() {
            check(&bytes[..end]);
        }
        let mut corrupt = bytes.clone();
        for at in 0..bytes.len() {
            for value in [0x00, 0xff, 0x80, (rng.next() & 0xff) as u8] {
                corrupt[at] = value;
                check(&corrupt);
                read += usize::from(CheckRequest::decode(&corrupt[..]).is_ok());
            }
            corrupt[at] = bytes[at];
        }
    }
    assert!(
        read > 0,
        "prost never read a corruption: the comparison never ran"
    );
}

/// Rewrites `fuzz/seeds/check_request/` from generated requests:
/// `cargo test --test wire_request -- --ignored`.
#[test]
#[ignore = "writes the fuzz seeds"]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/check_request");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(11);
    for i in 0..8 {
        let req = request(&mut rng);
        std::fs::write(dir.join(format!("generated_{i}")), encode(&req, &mut rng)).unwrap();
    }
    let envoy = common::check_request_with(
        "GET",
        "/users/7",
        &[("authorization", "Bearer a.b.c"), ("cookie", "s=1")],
        &[("scopes", "users/read")],
    );
    std::fs::write(dir.join("envoy"), envoy.encode_to_vec()).unwrap();
}
