//! Hostile tokens: a corpus of the JWT attacks in the literature, made at test time with fresh
//! keys, and judged three ways: by the core in-process (the exact reason), over a real tonic
//! client against the gRPC listener, and over real HTTP against the HTTP authorizer. Every case
//! is denied with the SPEC's status, body and challenge, and with the exact reason in
//! `tokengate_checks_total` for each transport; none panics, and the server still lets a valid
//! token through afterwards.
//!
//! The corpus runs on a route that requires scope `admin`, which no hostile token carries: a
//! strange token that tokengate rightly accepts (a float `exp`, a `jku` header on a token signed
//! by the real key) then ends in `insufficient_scope`, which is only reached after the
//! signature and every claim check passed. So no case is ever allowed, and those cases still
//! prove that verification succeeded.

use tokengate::testkit as common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair, ParsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD as B64};
use common::*;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::{Value, json};
use tokengate::decision::Reason;
use tokengate::jwt::Alg;
use tokengate::jwt::Signer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The issuer the corpus authorizer trusts. Its keys come from the test's JWKS server through
/// `jwks_uri`, so the issuer can be a name with letters that have look-alikes.
const ISSUER: &str = "https://issuer.example/acme";
/// The route every corpus case is sent to; it requires scope `admin`.
const SCOPED: &str = "/admin";

fn b64(s: impl AsRef<[u8]>) -> String {
    B64.encode(s)
}

fn unb64(s: &str) -> Vec<u8> {
    B64.decode(s).expect("base64url")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Splits a compact token into `header.payload` and the decoded signature.
fn split(token: &str) -> (&str, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').expect("a compact token");
    (input, unb64(sig))
}

fn with_sig(input: &str, sig: &[u8]) -> String {
    format!("{input}.{}", b64(sig))
}

/// An ES256 key that signs any text as it is, for tokens whose segments are deliberately not
/// canonical base64url (a `Signer` always encodes its input canonically).
struct TextSigner {
    key: EcdsaKeyPair,
}

impl TextSigner {
    fn new() -> TextSigner {
        let key = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key");
        TextSigner { key }
    }

    fn jwk(&self) -> Value {
        let point = self.key.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]),
               "kid": "text", "alg": "ES256", "use": "sig"})
    }

    /// `header.payload.signature`, the signature over the two segments exactly as given.
    fn sign_text(&self, header: &str, payload: &str) -> String {
        let input = format!("{header}.{payload}");
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        with_sig(&input, sig.as_ref())
    }
}

/// A loopback server an attacker's `jku`/`x5u` points at. It counts every TCP connection, so
/// any contact at all (HTTP or a TLS handshake) shows, and answers with the attacker's JWKS.
struct Attacker {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Attacker {
    async fn start(keys: &[&Signer]) -> Attacker {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        let body = json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        Attacker { addr, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// The issuer's keys (RSA, P-256, P-384, Ed25519 and a text signer, all in one JWKS), and a
/// tokengate whose authorizer is named `authorizer`.
struct Lab {
    rsa: Signer,
    ec256: Signer,
    ec384: Signer,
    ed: Signer,
    text: TextSigner,
    tg: Tokengate,
}

impl Lab {
    async fn start(authorizer: &str) -> Lab {
        let rsa = signer(Alg::RS256, "k");
        let ec256 = signer(Alg::ES256, "ec256");
        let ec384 = signer(Alg::ES384, "ec384");
        let ed = signer(Alg::EdDSA, "ed");
        let text = TextSigner::new();
        let jwks = JwksServer::start(&[&rsa, &ec256, &ec384, &ed]).await;
        let mut keys: Vec<Value> = [&rsa, &ec256, &ec384, &ed]
            .iter()
            .map(|k| k.jwk())
            .collect();
        keys.push(text.jwk());
        jwks.set_raw_keys(keys);
        let yaml = format!(
            r#"
cache: {{tokens: 0}}
# The corpus judges tokens, some far over 8 KiB: requests are not bounded here (the abuse
# tests cover max_request_bytes).
limits: {{max_request_bytes: 1MiB}}
authorizers:
  {authorizer}:
    issuer: "{ISSUER}"
    jwks_uri: "{}/.well-known/jwks.json"
    audience: [api]
routes:
  "GET {SCOPED}": {{authorizer: {authorizer}, scopes: [admin]}}
  "$default": {{authorizer: {authorizer}}}
"#,
            jwks.url
        );
        let tg = Tokengate::start(&yaml).await.ready().await;
        Lab {
            rsa,
            ec256,
            ec384,
            ed,
            text,
            tg,
        }
    }

    /// Claims that pass every check (but carry no scope).
    fn claims(&self) -> Value {
        claims(ISSUER, "api")
    }

    fn claims_text(&self) -> String {
        self.claims().to_string()
    }

    /// Signed by the issuer's real RSA key, `kid: k`, over any payload text.
    fn rs(&self, payload: &str) -> String {
        self.rsa
            .sign_raw(br#"{"alg":"RS256","kid":"k"}"#, payload.as_bytes())
    }
}

/// One hostile request: the whole `Authorization` value, and the reason it must be denied for.
struct Case {
    class: &'static str,
    name: String,
    authorization: String,
    want: Reason,
}

#[derive(Default)]
struct Corpus {
    cases: Vec<Case>,
}

impl Corpus {
    /// A token sent as `Bearer {token}`.
    fn token(
        &mut self,
        class: &'static str,
        name: impl Into<String>,
        token: impl Into<String>,
        want: Reason,
    ) {
        self.raw(class, name, bearer(&token.into()), want);
    }

    /// An `Authorization` value sent exactly as given.
    fn raw(
        &mut self,
        class: &'static str,
        name: impl Into<String>,
        authorization: String,
        want: Reason,
    ) {
        self.cases.push(Case {
            class,
            name: name.into(),
            authorization,
            want,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus, class by class. Expected reasons follow SPEC "Edge cases, decided".
// ---------------------------------------------------------------------------------------------

/// `alg: none` in every case, with an empty, a real, or no signature segment; and other
/// algorithm names tokengate does not have.
fn alg_attacks(lab: &Lab, c: &mut Corpus) {
    const CLASS: &str = "alg";
    let p = b64(lab.claims_text());
    let (_, real_sig) = split(&lab.rsa.sign(&lab.claims()));
    for alg in ["none", "None", "NONE", "nOnE"] {
        for kid in [None, Some("k")] {
            let mut h = json!({"alg": alg, "typ": "JWT"});
            if let Some(kid) = kid {
                h["kid"] = json!(kid);
            }
            let h = b64(h.to_string());
            let k = kid.unwrap_or("-");
            c.token(
                CLASS,
                format!("{alg} kid {k}, empty signature"),
                format!("{h}.{p}."),
                Reason::AlgNotAllowed,
            );
            c.token(
                CLASS,
                format!("{alg} kid {k}, the issuer's signature of another token"),
                format!("{h}.{p}.{}", b64(&real_sig)),
                Reason::AlgNotAllowed,
            );
            // Two segments: not a compact JWS at all, refused before `alg` is read.
            c.token(
                CLASS,
                format!("{alg} kid {k}, no signature segment"),
                format!("{h}.{p}"),
                Reason::Malformed,
            );
        }
        // The issuer's own key signed a header that says `none`: still never `none`.
        let h = json!({"alg": alg, "kid": "k"}).to_string();
        c.token(
            CLASS,
            format!("{alg} signed by the real key"),
            lab.rsa.sign_raw(h.as_bytes(), lab.claims_text().as_bytes()),
            Reason::AlgNotAllowed,
        );
    }
    for alg in [
        "",
        "RS1",
        "rs256",
        "RS256 ",
        " RS256",
        "RS256\u{0}",
        "ES512",
        "Ed25519",
        "EDDSA",
        "HS256",
        "RSA-OAEP",
        "dir",
    ] {
        let h = json!({"alg": alg, "kid": "k"}).to_string();
        c.token(
            CLASS,
            format!("alg {alg:?} signed by the real key"),
            lab.rsa.sign_raw(h.as_bytes(), lab.claims_text().as_bytes()),
            Reason::AlgNotAllowed,
        );
    }
    c.token(
        CLASS,
        "no alg",
        lab.rsa
            .sign_raw(br#"{"kid":"k"}"#, lab.claims_text().as_bytes()),
        Reason::AlgNotAllowed,
    );
    for (name, h) in [
        ("alg null", r#"{"alg":null,"kid":"k"}"#),
        ("alg number", r#"{"alg":1,"kid":"k"}"#),
        ("alg array", r#"{"alg":["RS256"],"kid":"k"}"#),
        ("alg object", r#"{"alg":{"name":"RS256"},"kid":"k"}"#),
        (
            "duplicate alg none/RS256",
            r#"{"alg":"none","alg":"RS256","kid":"k"}"#,
        ),
        (
            "duplicate alg RS256/none",
            r#"{"alg":"RS256","alg":"none","kid":"k"}"#,
        ),
        (
            "duplicate alg, same value",
            r#"{"alg":"RS256","alg":"RS256","kid":"k"}"#,
        ),
        (
            "duplicate alg through a \\u escape",
            r#"{"alg":"RS256","\u0061lg":"none","kid":"k"}"#,
        ),
    ] {
        c.token(
            CLASS,
            name,
            lab.rsa.sign_raw(h.as_bytes(), lab.claims_text().as_bytes()),
            Reason::Malformed,
        );
    }
}

/// A minimal DER writer: enough for RSAPublicKey, which aws-lc-rs does not export.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(body);
    out
}

fn der_uint(big_endian: &[u8]) -> Vec<u8> {
    let zeros = big_endian.iter().take_while(|b| **b == 0).count();
    let mut body = big_endian[zeros..].to_vec();
    if body.first().is_none_or(|b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    der(0x02, &body)
}

fn pem(label: &str, der: &[u8]) -> String {
    let text = STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The issuer's public keys in every form an attacker might feed an HMAC, each proved to be
/// the real key by verifying a real signature with it.
fn public_key_forms(lab: &Lab) -> Vec<(String, &'static str, Vec<u8>)> {
    let mut forms = Vec::new();
    let message = b"key form check";
    let jwk = lab.rsa.jwk();
    let n = unb64(jwk["n"].as_str().expect("n"));
    let e = unb64(jwk["e"].as_str().expect("e"));
    let pkcs1 = der(0x30, &[der_uint(&n), der_uint(&e)].concat());
    let rsa_spki = sig::RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&sig::RSA_PKCS1_2048_8192_SHA256)
        .expect("RSA key")
        .as_der()
        .expect("SPKI")
        .as_ref()
        .to_vec();
    let rsa_token = lab.rsa.sign_raw(br#"{"alg":"RS256"}"#, message);
    let (input, signature) = split(&rsa_token);
    for der in [&pkcs1, &rsa_spki] {
        sig::UnparsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, der)
            .verify(input.as_bytes(), &signature)
            .expect("the DER form is the issuer's RSA key");
    }
    let rsa_forms = [
        ("RSA SPKI PEM", pem("PUBLIC KEY", &rsa_spki).into_bytes()),
        ("RSA PKCS#1 PEM", pem("RSA PUBLIC KEY", &pkcs1).into_bytes()),
        ("RSA SPKI DER", rsa_spki.clone()),
        ("RSA PKCS#1 DER", pkcs1.clone()),
        ("RSA n bytes", n.clone()),
        ("RSA JWK text", jwk.to_string().into_bytes()),
    ];
    forms.extend(rsa_forms.into_iter().map(|(f, b)| (f.to_owned(), "k", b)));

    let jwk = lab.ec256.jwk();
    let x = unb64(jwk["x"].as_str().expect("x"));
    let y = unb64(jwk["y"].as_str().expect("y"));
    let point = [&[4u8][..], &x, &y].concat();
    let ec_spki = ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, &point)
        .expect("EC key")
        .as_der()
        .expect("SPKI")
        .as_ref()
        .to_vec();
    let ec_token = lab.ec256.sign_raw(br#"{"alg":"ES256"}"#, message);
    let (input, signature) = split(&ec_token);
    sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, &ec_spki)
        .verify(input.as_bytes(), &signature)
        .expect("the SPKI is the issuer's EC key");
    let ec_forms = [
        ("EC SPKI PEM", pem("PUBLIC KEY", &ec_spki).into_bytes()),
        ("EC SPKI DER", ec_spki),
        ("EC point", point),
        ("EC x", x),
        ("EC JWK text", jwk.to_string().into_bytes()),
    ];
    forms.extend(
        ec_forms
            .into_iter()
            .map(|(f, b)| (f.to_owned(), "ec256", b)),
    );
    forms
}

fn hmac_token(alg: &str, header: &Value, payload: &str, secret: &[u8]) -> String {
    let algorithm = match alg {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        _ => hmac::HMAC_SHA512,
    };
    let input = format!("{}.{}", b64(header.to_string()), b64(payload));
    let tag = hmac::sign(&hmac::Key::new(algorithm, secret), input.as_bytes());
    with_sig(&input, tag.as_ref())
}

/// HS256/384/512 keyed with the issuer's public key in each of its forms.
fn hmac_confusion(lab: &Lab, c: &mut Corpus) {
    let claims = lab.claims_text();
    for (form, kid, secret) in public_key_forms(lab) {
        for alg in ["HS256", "HS384", "HS512"] {
            let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
            c.token(
                "hmac key confusion",
                format!("{alg} keyed with {form}"),
                hmac_token(alg, &header, &claims, &secret),
                Reason::AlgNotAllowed,
            );
        }
    }
}

/// Embedded `jwk`, and `jku`/`x5u`/`x5c` pointing at the attacker. Signed by the attacker, the
/// token fails on the JWKS's own keys; signed by the issuer, the headers are simply ignored.
fn embedded_keys(lab: &Lab, attacker: &Attacker, evil: &Signer, evil_k: &Signer, c: &mut Corpus) {
    const CLASS: &str = "embedded keys and key URLs";
    let claims = lab.claims_text();
    let jku = format!("http://{}/.well-known/jwks.json", attacker.addr);
    let jku_tls = format!("https://{}/.well-known/jwks.json", attacker.addr);
    let x5u = format!("http://{}/cert.pem", attacker.addr);
    let evil_ec = signer(Alg::ES256, "ec256");
    let cases = [
        (
            "jwk, no kid",
            evil,
            json!({"alg": "RS256", "jwk": evil.jwk()}),
            Reason::BadSignature,
        ),
        (
            "jwk, the issuer's kid",
            evil,
            json!({"alg": "RS256", "kid": "k", "jwk": evil.jwk()}),
            Reason::BadSignature,
        ),
        (
            "jwk, its own kid",
            evil,
            json!({"alg": "RS256", "kid": "evil", "jwk": evil.jwk()}),
            Reason::UnknownKey,
        ),
        (
            "jwk carrying the issuer's kid",
            evil_k,
            json!({"alg": "RS256", "jwk": evil_k.jwk()}),
            Reason::BadSignature,
        ),
        (
            "EC jwk under the issuer's EC kid",
            &evil_ec,
            json!({"alg": "ES256", "kid": "ec256", "jwk": evil_ec.jwk()}),
            Reason::BadSignature,
        ),
        (
            "jku, the attacker's kid",
            evil,
            json!({"alg": "RS256", "kid": "evil", "jku": jku}),
            Reason::UnknownKey,
        ),
        (
            "jku, the issuer's kid",
            evil_k,
            json!({"alg": "RS256", "kid": "k", "jku": jku}),
            Reason::BadSignature,
        ),
        (
            "jku over https",
            evil_k,
            json!({"alg": "RS256", "kid": "k", "jku": jku_tls}),
            Reason::BadSignature,
        ),
        (
            "jku, no kid",
            evil,
            json!({"alg": "RS256", "jku": jku}),
            Reason::BadSignature,
        ),
        (
            "x5u",
            evil_k,
            json!({"alg": "RS256", "kid": "k", "x5u": x5u}),
            Reason::BadSignature,
        ),
        (
            "x5c",
            evil_k,
            json!({"alg": "RS256", "kid": "k", "x5c": [STANDARD.encode(b"a self-signed certificate")]}),
            Reason::BadSignature,
        ),
        (
            "x5t",
            evil_k,
            json!({"alg": "RS256", "kid": "k", "x5t": b64("thumbprint")}),
            Reason::BadSignature,
        ),
        (
            "jwk whose x5u points at the attacker",
            evil,
            json!({"alg": "RS256", "jwk": {"kty": "RSA", "x5u": x5u}}),
            Reason::BadSignature,
        ),
        (
            "every key header at once",
            evil_k,
            json!({"alg": "RS256", "kid": "k", "jku": jku, "x5u": x5u, "jwk": evil_k.jwk(), "x5c": ["MIIB"]}),
            Reason::BadSignature,
        ),
    ];
    for (name, key, header, want) in cases {
        c.token(
            CLASS,
            format!("attacker-signed, {name}"),
            key.sign_raw(header.to_string().as_bytes(), claims.as_bytes()),
            want,
        );
    }
    let oct = json!({"kty": "oct", "k": b64("secret")});
    c.token(
        CLASS,
        "HS256 with an embedded symmetric jwk",
        hmac_token(
            "HS256",
            &json!({"alg": "HS256", "jwk": oct}),
            &claims,
            b"secret",
        ),
        Reason::AlgNotAllowed,
    );
    for (name, header) in [
        ("jku", json!({"alg": "RS256", "kid": "k", "jku": jku})),
        ("x5u", json!({"alg": "RS256", "kid": "k", "x5u": x5u})),
        (
            "jwk",
            json!({"alg": "RS256", "kid": "k", "jwk": evil.jwk()}),
        ),
        ("x5c", json!({"alg": "RS256", "kid": "k", "x5c": ["MIIB"]})),
    ] {
        c.token(
            CLASS,
            format!("issuer-signed, {name} ignored"),
            lab.rsa
                .sign_raw(header.to_string().as_bytes(), claims.as_bytes()),
            Reason::InsufficientScope,
        );
    }
}

/// `kid` values that are paths or SQL, or of the wrong type; and `kid`s that name a key of
/// another type or curve than `alg`, signed with the key that would verify were `kid` ignored.
fn kid_attacks(lab: &Lab, c: &mut Corpus) {
    const CLASS: &str = "kid";
    let claims = lab.claims_text();
    let long = "k".repeat(4000);
    for kid in [
        "../../dev/null",
        "../../../../../../dev/null",
        "/etc/passwd",
        "file:///etc/passwd",
        "' OR 1=1 --",
        "k' UNION SELECT 'secret",
        "k\u{0}",
        "k ",
        "K",
        "",
        "k\u{200b}",
        long.as_str(),
    ] {
        let h = json!({"alg": "RS256", "kid": kid}).to_string();
        c.token(
            CLASS,
            format!("kid {:?}, issuer-signed", truncate(kid)),
            lab.rsa.sign_raw(h.as_bytes(), claims.as_bytes()),
            Reason::UnknownKey,
        );
    }
    // The /dev/null trick: an HMAC keyed with the empty file the kid points at.
    for (kid, secret) in [
        ("../../dev/null", &b""[..]),
        ("/dev/null", b"\0"),
        ("' OR 1=1 --", b"1"),
    ] {
        c.token(
            CLASS,
            format!("HS256 kid {kid:?} with the secret it would read"),
            hmac_token(
                "HS256",
                &json!({"alg": "HS256", "kid": kid}),
                &claims,
                secret,
            ),
            Reason::AlgNotAllowed,
        );
    }
    for (name, h) in [
        ("kid number", r#"{"alg":"RS256","kid":1}"#),
        ("kid null", r#"{"alg":"RS256","kid":null}"#),
        ("kid array", r#"{"alg":"RS256","kid":["k"]}"#),
        ("kid object", r#"{"alg":"RS256","kid":{"$ne":""}}"#),
        ("duplicate kid", r#"{"alg":"RS256","kid":"k","kid":"evil"}"#),
    ] {
        c.token(
            CLASS,
            name,
            lab.rsa.sign_raw(h.as_bytes(), claims.as_bytes()),
            Reason::Malformed,
        );
    }
    let mismatch: [(&str, &Signer, &str); 11] = [
        (
            "RSA alg on the EC kid",
            &lab.rsa,
            r#"{"alg":"RS256","kid":"ec256"}"#,
        ),
        (
            "RSA alg on the Ed25519 kid",
            &lab.rsa,
            r#"{"alg":"RS256","kid":"ed"}"#,
        ),
        (
            "ES256 on the RSA kid",
            &lab.ec256,
            r#"{"alg":"ES256","kid":"k"}"#,
        ),
        (
            "EdDSA on the RSA kid",
            &lab.ed,
            r#"{"alg":"EdDSA","kid":"k"}"#,
        ),
        (
            "EdDSA on the EC kid",
            &lab.ed,
            r#"{"alg":"EdDSA","kid":"ec256"}"#,
        ),
        (
            "ES256 on the Ed25519 kid",
            &lab.ec256,
            r#"{"alg":"ES256","kid":"ed"}"#,
        ),
        (
            "ES256 on the P-384 kid, P-256 signature",
            &lab.ec256,
            r#"{"alg":"ES256","kid":"ec384"}"#,
        ),
        (
            "ES256 on the P-384 kid, P-384 signature",
            &lab.ec384,
            r#"{"alg":"ES256","kid":"ec384"}"#,
        ),
        (
            "ES384 on the P-256 kid, P-384 signature",
            &lab.ec384,
            r#"{"alg":"ES384","kid":"ec256"}"#,
        ),
        (
            "PS256 on an RS256 key, PKCS#1 signature",
            &lab.rsa,
            r#"{"alg":"PS256","kid":"k"}"#,
        ),
        (
            "RS512 on an RS256 key, RS256 signature",
            &lab.rsa,
            r#"{"alg":"RS512","kid":"k"}"#,
        ),
    ];
    for (name, key, h) in mismatch {
        c.token(
            CLASS,
            name,
            key.sign_raw(h.as_bytes(), claims.as_bytes()),
            Reason::UnknownKey,
        );
    }
    // Without a kid, every key of the alg's type is tried; none of them made these signatures.
    for (name, key, h) in [
        (
            "no kid, ES256 header, P-384 signature",
            &lab.ec384,
            r#"{"alg":"ES256"}"#,
        ),
        (
            "no kid, ES384 header, P-256 signature",
            &lab.ec256,
            r#"{"alg":"ES384"}"#,
        ),
        (
            "no kid, EdDSA header, P-256 signature",
            &lab.ec256,
            r#"{"alg":"EdDSA"}"#,
        ),
    ] {
        c.token(
            CLASS,
            name,
            key.sign_raw(h.as_bytes(), claims.as_bytes()),
            Reason::BadSignature,
        );
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 24 {
        format!("{}… ({} bytes)", &s[..16], s.len())
    } else {
        s.to_owned()
    }
}

/// `value + 1` for a big-endian integer that does not overflow.
fn plus_one(be: &[u8]) -> Vec<u8> {
    let mut out = be.to_vec();
    for b in out.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    out
}

/// A DER `ECDSA-Sig-Value`, the form JOSE does not use.
fn der_ecdsa(r: &[u8], s: &[u8]) -> Vec<u8> {
    der(0x30, &[der_uint(r), der_uint(s)].concat())
}

/// CVE-2022-21449 ("psychic signatures") and friends: r or s zero, equal to the group order,
/// or above it, in the right length and in wrong ones. Every one decodes and must not verify.
fn ecdsa_signatures(lab: &Lab, c: &mut Corpus) {
    const CLASS: &str = "ecdsa r/s";
    // The group orders of P-256 and P-384.
    let curves = [
        (
            "ES256",
            &lab.ec256,
            hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
        ),
        (
            "ES384",
            &lab.ec384,
            hex(
                "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
            ),
        ),
    ];
    for (alg, key, n) in curves {
        let token = key.sign(&lab.claims());
        let (input, valid) = split(&token);
        let half = n.len();
        assert_eq!(valid.len(), 2 * half, "JOSE r||s");
        let (r, s) = valid.split_at(half);
        let zero = vec![0u8; half];
        let ff = vec![0xffu8; half];
        let mut one = vec![0u8; half];
        one[half - 1] = 1;
        let n1 = plus_one(&n);
        let right_length: [(&str, Vec<u8>); 10] = [
            ("all zero", [&zero[..], &zero].concat()),
            ("r = 0", [&zero[..], s].concat()),
            ("s = 0", [r, &zero[..]].concat()),
            ("r = s = n", [&n[..], &n].concat()),
            ("r = n", [&n[..], s].concat()),
            ("s = n", [r, &n[..]].concat()),
            ("r = n + 1", [&n1[..], s].concat()),
            ("r, s all ones (> n)", [&ff[..], &ff].concat()),
            ("r = s = 1", [&one[..], &one].concat()),
            ("r = 0, s = n", [&zero[..], &n].concat()),
        ];
        for (name, bad) in right_length {
            c.token(
                CLASS,
                format!("{alg} {name}"),
                with_sig(input, &bad),
                Reason::BadSignature,
            );
        }
        let other = if half == 32 { 96 } else { 64 };
        let wrong_length: [(&str, Vec<u8>); 10] = [
            ("empty", vec![]),
            ("one zero byte", vec![0]),
            ("truncated by one byte", valid[..valid.len() - 1].to_vec()),
            ("a zero byte appended", [&valid[..], &[0]].concat()),
            ("a leading zero byte", [&[0u8][..], &valid].concat()),
            ("zero r||s of the other curve", vec![0; other]),
            ("zeros, twice the length", vec![0; 4 * half]),
            ("DER of the valid r, s", der_ecdsa(r, s)),
            ("DER of r = s = 0", der_ecdsa(&[0], &[0])),
            ("r only", r.to_vec()),
        ];
        for (name, bad) in wrong_length {
            c.token(
                CLASS,
                format!("{alg} {name} ({} bytes)", bad.len()),
                with_sig(input, &bad),
                Reason::BadSignature,
            );
        }
    }
    // Ed25519: zero, all ones, and S + L (a non-canonical S for the same signature).
    let token = lab.ed.sign(&lab.claims());
    let (input, valid) = split(&token);
    let l = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    let mut s_plus_l = valid.clone();
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s_plus_l[32 + i]) + u16::from(l[i]) + carry;
        s_plus_l[32 + i] = v as u8;
        carry = v >> 8;
    }
    for (name, bad) in [
        ("all zero", vec![0u8; 64]),
        ("all ones", vec![0xff; 64]),
        ("S = 0", [&valid[..32], &[0u8; 32]].concat()),
        ("S + L", s_plus_l),
        ("truncated", valid[..63].to_vec()),
        ("empty", vec![]),
    ] {
        c.token(
            CLASS,
            format!("EdDSA {name}"),
            with_sig(input, &bad),
            Reason::BadSignature,
        );
    }
}

/// RS256 signatures of the wrong length or out of range.
fn rsa_signatures(lab: &Lab, c: &mut Corpus) {
    const CLASS: &str = "rsa signature length";
    let token = lab.rsa.sign(&lab.claims());
    let (input, valid) = split(&token);
    assert_eq!(valid.len(), 256);
    let n = unb64(lab.rsa.jwk()["n"].as_str().expect("n"));
    let mut one = vec![0u8; 256];
    one[255] = 1;
    let mut flipped = valid.clone();
    flipped[255] ^= 1;
    for (name, bad) in [
        ("empty", vec![]),
        ("one zero byte", vec![0]),
        ("255 zero bytes", vec![0; 255]),
        ("257 zero bytes", vec![0; 257]),
        ("512 zero bytes", vec![0; 512]),
        ("64 zero bytes (ECDSA-shaped)", vec![0; 64]),
        (
            "valid, padded with a leading zero",
            [&[0u8][..], &valid].concat(),
        ),
        ("valid, a zero byte appended", [&valid[..], &[0]].concat()),
        ("valid, first byte dropped", valid[1..].to_vec()),
        ("valid, last byte dropped", valid[..255].to_vec()),
        ("valid, doubled", [&valid[..], &valid].concat()),
        ("zero, full length", vec![0; 256]),
        ("one, full length", one),
        ("the modulus", n),
        ("all ones (> n)", vec![0xff; 256]),
        ("last bit flipped", flipped),
    ] {
        c.token(
            CLASS,
            format!("RS256 {name}"),
            with_sig(input, &bad),
            Reason::BadSignature,
        );
    }
}

/// `crit` and `b64` in any form are refused, even under the issuer's signature.
fn crit_and_b64(lab: &Lab, c: &mut Corpus) {
    const CLASS: &str = "crit, b64";
    let claims = lab.claims_text();
    for (name, h) in [
        (
            "crit exp",
            r#"{"alg":"RS256","kid":"k","crit":["exp"],"exp":1}"#,
        ),
        (
            "crit unknown extension",
            r#"{"alg":"RS256","kid":"k","crit":["x-ext"],"x-ext":true}"#,
        ),
        ("crit empty", r#"{"alg":"RS256","kid":"k","crit":[]}"#),
        ("crit null", r#"{"alg":"RS256","kid":"k","crit":null}"#),
        ("crit string", r#"{"alg":"RS256","kid":"k","crit":"b64"}"#),
        ("b64 false", r#"{"alg":"RS256","kid":"k","b64":false}"#),
        (
            "b64 false, crit b64",
            r#"{"alg":"RS256","kid":"k","b64":false,"crit":["b64"]}"#,
        ),
        ("b64 true", r#"{"alg":"RS256","kid":"k","b64":true}"#),
    ] {
        c.token(
            CLASS,
            name,
            lab.rsa.sign_raw(h.as_bytes(), claims.as_bytes()),
            Reason::Malformed,
        );
    }
    // RFC 7797's own form: the payload unencoded in the token, the signature over it.
    let h = b64(r#"{"alg":"ES256","kid":"text","b64":false,"crit":["b64"]}"#);
    c.token(
        CLASS,
        "RFC 7797 unencoded payload",
        lab.text.sign_text(&h, r#"{"sub":"admin"}"#),
        Reason::Malformed,
    );
}

/// The JWS JSON serializations, built from a valid token's parts.
fn json_serialization(lab: &Lab, c: &mut Corpus) {
    const CLASS: &str = "JWS JSON serialization";
    let token = lab.rsa.sign(&lab.claims());
    let parts: Vec<&str> = token.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    for (name, doc) in [
        (
            "general",
            json!({"payload": p, "signatures": [{"protected": h, "signature": s}]}),
        ),
        (
            "general, two signatures",
            json!({"payload": p, "signatures": [
                {"protected": b64(r#"{"alg":"none"}"#), "signature": ""},
                {"protected": h, "signature": s}]}),
        ),
        (
            "flattened",
            json!({"payload": p, "protected": h, "signature": s}),
        ),
        (
            "flattened, unprotected alg none",
            json!({"payload": p, "header": {"alg": "none"}, "signature": ""}),
        ),
    ] {
        let text = doc.to_string();
        c.token(CLASS, name, text.clone(), Reason::Malformed);
        // Smuggled in as a compact header: a JSON object, but one without `alg`.
        c.token(
            CLASS,
            format!("{name}, as the header segment"),
            format!("{}.{p}.{s}", b64(&text)),
            Reason::AlgNotAllowed,
        );
    }
}

/// Nested JWTs (`cty: JWT`) and encrypted ones (JWE).
fn nested_and_jwe(lab: &Lab, c: &mut Corpus) {
    const CLASS: &str = "nested, JWE";
    let inner = lab.rsa.sign(&lab.claims());
    let inner_none = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(lab.claims_text()));
    let cty = br#"{"alg":"RS256","kid":"k","typ":"JWT","cty":"JWT"}"#;
    c.token(
        CLASS,
        "issuer-signed, a valid JWT as payload",
        lab.rsa.sign_raw(cty, inner.as_bytes()),
        Reason::Malformed,
    );
    c.token(
        CLASS,
        "issuer-signed, an alg none JWT as payload",
        lab.rsa.sign_raw(cty, inner_none.as_bytes()),
        Reason::Malformed,
    );
    c.token(
        CLASS,
        "issuer-signed, a JWT as a JSON string payload",
        lab.rsa.sign_raw(cty, json!(inner).to_string().as_bytes()),
        Reason::Malformed,
    );
    c.token(
        CLASS,
        "alg none around a valid JWT",
        format!("{}.{}.", b64(r#"{"alg":"none","cty":"JWT"}"#), b64(&inner)),
        Reason::AlgNotAllowed,
    );
    let evil = signer(Alg::RS256, "k");
    c.token(
        CLASS,
        "attacker-signed around a valid JWT",
        evil.sign_raw(cty, inner.as_bytes()),
        Reason::BadSignature,
    );
    // `cty` is not followed: a JSON payload under `cty: JWT` is read as claims.
    c.token(
        CLASS,
        "issuer-signed, cty JWT over plain claims",
        lab.rsa.sign_raw(cty, lab.claims_text().as_bytes()),
        Reason::InsufficientScope,
    );
    // `zip` is never inflated: a raw DEFLATE stored block of the claims is not JSON.
    let claims = lab.claims_text();
    let len = claims.len() as u16;
    let mut deflated = vec![
        0x01,
        len as u8,
        (len >> 8) as u8,
        !len as u8,
        !(len >> 8) as u8,
    ];
    deflated.extend_from_slice(claims.as_bytes());
    c.token(
        CLASS,
        "issuer-signed, zip DEF",
        lab.rsa
            .sign_raw(br#"{"alg":"RS256","kid":"k","zip":"DEF"}"#, &deflated),
        Reason::Malformed,
    );
    let jwe_h = b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM","kid":"k"}"#);
    let (ek, iv, ct, tag) = (b64([7u8; 256]), b64([1u8; 12]), b64(&inner), b64([2u8; 16]));
    for (name, token) in [
        ("JWE RSA-OAEP", format!("{jwe_h}.{ek}.{iv}.{ct}.{tag}")),
        (
            "JWE dir",
            format!(
                "{}..{iv}.{ct}.{tag}",
                b64(r#"{"alg":"dir","enc":"A128GCM"}"#)
            ),
        ),
        (
            "JWE alg none",
            format!("{}.{ek}.{iv}.{ct}.{tag}", b64(r#"{"alg":"none"}"#)),
        ),
        ("four parts", format!("{inner}.{tag}")),
        ("six parts", format!("{jwe_h}.{ek}.{iv}.{ct}.{tag}.{tag}")),
    ] {
        c.token(CLASS, name, token, Reason::Malformed);
    }
    for (name, h) in [
        (
            "JWE header, three parts",
            r#"{"alg":"RSA-OAEP-256","enc":"A128GCM","kid":"k"}"#,
        ),
        (
            "JWE dir header, three parts",
            r#"{"alg":"dir","enc":"A256GCM","kid":"k"}"#,
        ),
    ] {
        c.token(
            CLASS,
            name,
            format!("{}.{}.{tag}", b64(h), b64(lab.claims_text())),
            Reason::AlgNotAllowed,
        );
    }
}

/// Validly signed payloads whose claims are duplicated, mistyped, out of range or confusable.
fn strange_claims(lab: &Lab, c: &mut Corpus) {
    let iss = ISSUER;
    let exp = now() + 3600.0;
    let exp_i = exp as u64;
    let iat = now() - 10.0;
    let ok = |extra: &str| format!(r#"{{"iss":"{iss}","aud":"api","sub":"u"{extra}}}"#);
    let with_exp = |extra: &str| ok(&format!(r#","exp":{exp_i}{extra}"#));

    let dup = [
        ("two exp", with_exp(&format!(r#","exp":{exp_i}"#))),
        ("two exp, the second expired", with_exp(r#","exp":1"#)),
        ("two exp through a \\u escape", with_exp(r#","\u0065xp":1"#)),
        ("two iss", with_exp(r#","iss":"https://evil.example""#)),
        ("two aud", with_exp(r#","aud":"other""#)),
        ("two nbf", with_exp(r#","nbf":1,"nbf":1"#)),
        ("two scope", with_exp(r#","scope":"x","scope":"admin""#)),
    ];
    for (name, p) in dup {
        c.token("duplicate claims", name, lab.rs(&p), Reason::Malformed);
    }

    let past = now() - 1.5;
    let exps: [(&str, String, Reason); 18] = [
        ("exp string", format!(r#""{exp_i}""#), Reason::Malformed),
        (
            "exp numeric string with exponent",
            r#""1e30""#.into(),
            Reason::Malformed,
        ),
        ("exp true", "true".into(), Reason::Malformed),
        ("exp null", "null".into(), Reason::Malformed),
        ("exp array", format!("[{exp_i}]"), Reason::Malformed),
        (
            "exp object",
            format!(r#"{{"v":{exp_i}}}"#),
            Reason::Malformed,
        ),
        (
            "exp 1e400 (beyond a double)",
            "1e400".into(),
            Reason::Malformed,
        ),
        ("exp -1e400", "-1e400".into(), Reason::Malformed),
        (
            "exp float in the future",
            format!("{exp_i}.5"),
            Reason::InsufficientScope,
        ),
        ("exp float in the past", format!("{past}"), Reason::Expired),
        ("exp 1e30", "1e30".into(), Reason::InsufficientScope),
        ("exp 1e300", "1e300".into(), Reason::InsufficientScope),
        (
            "exp 2^64",
            "18446744073709551616".into(),
            Reason::InsufficientScope,
        ),
        ("exp -1", "-1".into(), Reason::Expired),
        ("exp -1e300", "-1e300".into(), Reason::Expired),
        ("exp 0", "0".into(), Reason::Expired),
        ("exp 1e-400 (zero)", "1e-400".into(), Reason::Expired),
        ("exp now", format!("{}", now()), Reason::Expired),
    ];
    for (name, v, want) in exps {
        c.token("exp", name, lab.rs(&ok(&format!(r#","exp":{v}"#))), want);
    }
    c.token("exp", "exp missing", lab.rs(&ok("")), Reason::Malformed);

    let future = exp_i - 60;
    let times: [(&str, String, Reason); 11] = [
        ("nbf string", r#","nbf":"0""#.into(), Reason::Malformed),
        ("nbf true", r#","nbf":true"#.into(), Reason::Malformed),
        ("nbf null", r#","nbf":null"#.into(), Reason::Malformed),
        ("nbf object", r#","nbf":{}"#.into(), Reason::Malformed),
        ("nbf 1e400", r#","nbf":1e400"#.into(), Reason::Malformed),
        (
            "nbf in the future",
            format!(r#","nbf":{future}"#),
            Reason::NotYetValid,
        ),
        (
            "iat string",
            format!(r#","iat":"{iat}""#),
            Reason::Malformed,
        ),
        ("iat false", r#","iat":false"#.into(), Reason::Malformed),
        ("iat null", r#","iat":null"#.into(), Reason::Malformed),
        ("iat array", format!(r#","iat":[{iat}]"#), Reason::Malformed),
        (
            "iat in the future",
            format!(r#","iat":{future}"#),
            Reason::NotYetValid,
        ),
    ];
    for (name, extra, want) in times {
        c.token("nbf, iat", name, lab.rs(&with_exp(&extra)), want);
    }

    let aud = |v: &str| format!(r#"{{"iss":"{iss}","aud":{v},"exp":{exp_i}}}"#);
    let auds: [(&str, &str, Reason); 12] = [
        ("aud number", "5", Reason::Malformed),
        ("aud object", r#"{"api":true}"#, Reason::Malformed),
        ("aud array of numbers", "[1,2]", Reason::Malformed),
        ("aud null", "null", Reason::Malformed),
        ("aud true", "true", Reason::Malformed),
        (
            "aud array holding null",
            r#"["api",null]"#,
            Reason::Malformed,
        ),
        (
            "aud array holding a number",
            r#"["api",7]"#,
            Reason::Malformed,
        ),
        ("aud nested array", r#"[["api"]]"#, Reason::Malformed),
        ("aud empty array", "[]", Reason::WrongAudience),
        ("aud in another case", r#""API""#, Reason::WrongAudience),
        (
            "aud with a trailing space",
            r#""api ""#,
            Reason::WrongAudience,
        ),
        (
            "aud with a zero-width space",
            "\"api\u{200b}\"",
            Reason::WrongAudience,
        ),
    ];
    for (name, v, want) in auds {
        c.token("aud", name, lab.rs(&aud(v)), want);
    }
    let no_aud = |extra: &str| format!(r#"{{"iss":"{iss}","exp":{exp_i}{extra}}}"#);
    c.token(
        "aud",
        "no aud, no client_id",
        lab.rs(&no_aud("")),
        Reason::Malformed,
    );
    c.token(
        "aud",
        "no aud, client_id number",
        lab.rs(&no_aud(r#","client_id":5"#)),
        Reason::Malformed,
    );
    c.token(
        "aud",
        "no aud, client_id another app",
        lab.rs(&no_aud(r#","client_id":"other""#)),
        Reason::WrongAudience,
    );

    let issuer = |v: &str| format!(r#"{{"iss":{v},"aud":"api","exp":{exp_i}}}"#);
    let confusables: [(&str, String, Reason); 18] = [
        (
            "Cyrillic т in the scheme",
            json!(iss.replacen('t', "т", 1)).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "Cyrillic а in the host",
            json!(iss.replace("example", "exаmple")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "Cyrillic а in the path",
            json!(iss.replace("acme", "аcme")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "Cyrillic е and і",
            json!(iss.replace("issuer", "іssuеr")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "full-width host",
            json!(iss.replace("issuer", "ｉｓｓｕｅｒ")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "trailing zero-width space",
            json!(format!("{iss}\u{200b}")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "right-to-left override",
            json!(format!("{iss}\u{202e}")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "trailing NUL",
            json!(format!("{iss}\u{0}")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "trailing slash",
            json!(format!("{iss}/")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "leading space",
            json!(format!(" {iss}")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "upper-case host",
            json!(iss.replace("issuer.example", "ISSUER.EXAMPLE")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "explicit port 443",
            json!(iss.replace(".example", ".example:443")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "percent-encoded path",
            json!(iss.replace("acme", "%61cme")).to_string(),
            Reason::WrongIssuer,
        ),
        (
            "dot segment",
            json!(format!("{iss}/../acme")).to_string(),
            Reason::WrongIssuer,
        ),
        ("iss number", "5".into(), Reason::Malformed),
        ("iss null", "null".into(), Reason::Malformed),
        ("iss array", json!([iss]).to_string(), Reason::Malformed),
        // JSON escapes decode to the very issuer string: the same issuer, accepted.
        (
            "iss with JSON escapes",
            r#""https:\/\/issuer.example\/\u0061cme""#.into(),
            Reason::InsufficientScope,
        ),
    ];
    for (name, v, want) in confusables {
        c.token("iss", name, lab.rs(&issuer(&v)), want);
    }
    c.token(
        "iss",
        "iss missing",
        lab.rs(&format!(r#"{{"aud":"api","exp":{exp_i}}}"#)),
        Reason::Malformed,
    );
}

/// Headers and payloads that are not JSON objects. A header is read before any key; a payload
/// only after the signature verifies, so a broken payload is `malformed` when validly signed.
fn not_objects(lab: &Lab, c: &mut Corpus) {
    const CLASS: &str = "not JSON objects";
    let p = b64(lab.claims_text());
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let bad: [(&str, Vec<u8>); 13] = [
        ("array", b"[]".to_vec()),
        ("string", br#""alg""#.to_vec()),
        ("number", b"1".to_vec()),
        ("null", b"null".to_vec()),
        ("true", b"true".to_vec()),
        ("empty", vec![]),
        ("invalid UTF-8", vec![0xff, 0xfe, b'{', b'}']),
        (
            "UTF-8 BOM before the object",
            [&[0xef, 0xbb, 0xbf][..], br#"{"alg":"RS256","kid":"k"}"#].concat(),
        ),
        (
            "invalid UTF-8 inside a string",
            [&br#"{"alg":"RS256","kid":"k"#[..], &[0xc3, 0x28], b"\"}"].concat(),
        ),
        (
            "lone surrogate escape",
            br#"{"alg":"RS256","kid":"\ud800"}"#.to_vec(),
        ),
        ("truncated", br#"{"alg":"RS256","kid":"k""#.to_vec()),
        (
            "trailing garbage",
            br#"{"alg":"RS256","kid":"k"}x"#.to_vec(),
        ),
        (
            "deeply nested",
            format!(r#"{{"alg":"RS256","kid":"k","x":{}}}"#, deep(2000)).into_bytes(),
        ),
    ];
    for (name, bytes) in &bad {
        c.token(
            CLASS,
            format!("header {name}"),
            format!("{}.{p}.{}", b64(bytes), b64([0u8; 256])),
            Reason::Malformed,
        );
        c.token(
            CLASS,
            format!("header {name}, issuer-signed"),
            lab.rsa.sign_raw(bytes, lab.claims_text().as_bytes()),
            Reason::Malformed,
        );
    }
    let exp = now() as u64 + 3600;
    let payloads: [(&str, Vec<u8>); 12] = [
        ("array", b"[1,2,3]".to_vec()),
        ("string", br#""claims""#.to_vec()),
        ("number", b"42".to_vec()),
        ("null", b"null".to_vec()),
        ("invalid UTF-8", vec![0xff, 0xfe, 0xfd]),
        (
            "invalid UTF-8 inside a string",
            [&br#"{"iss":"x"#[..], &[0xff], b"\"}"].concat(),
        ),
        (
            "UTF-8 BOM before the object",
            [&[0xef, 0xbb, 0xbf][..], lab.claims_text().as_bytes()].concat(),
        ),
        ("truncated", lab.claims_text().as_bytes()[..20].to_vec()),
        (
            "trailing garbage",
            format!("{}x", lab.claims_text()).into_bytes(),
        ),
        (
            "two objects",
            format!("{0}{0}", lab.claims_text()).into_bytes(),
        ),
        (
            "deeply nested",
            format!(
                r#"{{"iss":"{ISSUER}","aud":"api","exp":{exp},"x":{}}}"#,
                deep(3000)
            )
            .into_bytes(),
        ),
        (
            "lone surrogate escape",
            format!(r#"{{"iss":"{ISSUER}","aud":"api","exp":{exp},"sub":"\udc00"}}"#).into_bytes(),
        ),
    ];
    for (name, bytes) in payloads {
        c.token(
            CLASS,
            format!("payload {name}, issuer-signed"),
            lab.rsa.sign_raw(br#"{"alg":"RS256","kid":"k"}"#, &bytes),
            Reason::Malformed,
        );
    }
    // Claims are not read before the signature: the same payload under a signature that does
    // not verify is a bad signature.
    c.token(
        CLASS,
        "payload array, signature that does not verify",
        format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","kid":"k"}"#),
            b64("[]"),
            b64([0u8; 256])
        ),
        Reason::BadSignature,
    );
}

/// Sizes around the SPEC's 8 KiB limit (applied after `Bearer ` is stripped).
fn sizes(lab: &Lab, c: &mut Corpus) {
    const CLASS: &str = "size";
    // An issuer-signed token of exactly `len` bytes: pad a claim, and a space in the header
    // where the base64 lengths need it.
    let exact = |len: usize| -> String {
        let b64_len = |n: usize| (4 * n).div_ceil(3);
        let mut claims = lab.claims();
        claims["pad"] = json!("");
        let bare = claims.to_string().len();
        for spaces in 0..3 {
            let h = format!(r#"{{"alg":"RS256","kid":"k"{}}}"#, " ".repeat(spaces));
            let fits =
                (0..len).find(|pad| b64_len(h.len()) + 1 + b64_len(bare + pad) + 1 + 342 == len);
            if let Some(pad) = fits {
                claims["pad"] = json!("x".repeat(pad));
                let t = lab
                    .rsa
                    .sign_raw(h.as_bytes(), claims.to_string().as_bytes());
                assert_eq!(t.len(), len);
                return t;
            }
        }
        panic!("no token of {len} bytes");
    };
    c.token(
        CLASS,
        "8192 bytes, issuer-signed",
        exact(8192),
        Reason::InsufficientScope,
    );
    c.token(
        CLASS,
        "8193 bytes, issuer-signed",
        exact(8193),
        Reason::Malformed,
    );
    c.token(
        CLASS,
        "10000 bytes, issuer-signed",
        exact(10000),
        Reason::Malformed,
    );
    let h = b64(r#"{"alg":"RS256","kid":"k"}"#);
    c.token(
        CLASS,
        "64 KiB of payload",
        format!("{h}.{}.AAAA", "A".repeat(64 * 1024)),
        Reason::Malformed,
    );
    c.token(
        CLASS,
        "8193 bytes of A",
        "A".repeat(8193),
        Reason::Malformed,
    );
    c.token(
        CLASS,
        "9000-byte payload, short signature",
        format!("{h}.{}.AAAA", "A".repeat(9000)),
        Reason::Malformed,
    );
}

/// Swaps the base64url alphabet for the standard one.
fn standard_alphabet(segment: &str) -> String {
    STANDARD_NO_PAD.encode(unb64(segment))
}

/// Sets the unused low bits of a segment's last character (non-canonical base64).
fn dirty_trailing_bits(segment: &str) -> String {
    let unused = match segment.len() % 4 {
        2 => 0b1111,
        3 => 0b11,
        _ => panic!("segment length {} has no unused bits", segment.len()),
    };
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (head, last) = segment.split_at(segment.len() - 1);
    let index = ALPHABET
        .iter()
        .position(|b| *b == last.as_bytes()[0])
        .expect("base64url");
    format!("{head}{}", ALPHABET[index | unused] as char)
}

/// Padding, alphabet, whitespace and trailing-bit variants of base64url, in the token and
/// around it in the `Authorization` value.
fn encoding_variants(lab: &Lab, c: &mut Corpus) {
    const CLASS: &str = "base64url and whitespace";
    // Claims and a signature whose base64url spells `-` or `_` (so the standard alphabet
    // differs) and whose payload length leaves unused bits: each variant then changes the text.
    let (payload, token) = (0..256)
        .map(|i| {
            let mut v = lab.claims();
            v["x"] = json!(format!("??>>{}", "~".repeat(i % 8)));
            v["jti"] = json!(i);
            let payload = v.to_string();
            let token = lab.rs(&payload);
            (payload, token)
        })
        .find(|(_, t)| {
            let parts: Vec<&str> = t.split('.').collect();
            parts[1].len() % 4 >= 2
                && parts[1].contains(['-', '_'])
                && parts[2].contains(['-', '_'])
        })
        .expect("some claims work");
    let parts: Vec<&str> = token.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let variants = [
        ("trailing = on the signature", format!("{token}=")),
        ("trailing == on the signature", format!("{token}==")),
        ("= padding on the header", format!("{h}==.{p}.{s}")),
        ("= padding on the payload", format!("{h}.{p}=.{s}")),
        (
            "standard alphabet signature",
            format!("{h}.{p}.{}", standard_alphabet(s)),
        ),
        (
            "standard alphabet payload",
            format!("{h}.{}.{s}", standard_alphabet(p)),
        ),
        (
            "standard alphabet, padded",
            format!("{h}.{p}.{}", STANDARD.encode(unb64(s))),
        ),
        (
            "non-canonical trailing bits, signature",
            format!("{h}.{p}.{}", dirty_trailing_bits(s)),
        ),
        (
            "non-canonical trailing bits, payload",
            format!("{h}.{}.{s}", dirty_trailing_bits(p)),
        ),
        ("a space after a dot", token.replacen('.', ". ", 1)),
        (
            "a space inside the payload",
            format!("{h}.{} {}.{s}", &p[..10], &p[10..]),
        ),
        (
            "a tab inside the signature",
            format!("{h}.{p}.{}\t{}", &s[..10], &s[10..]),
        ),
        (
            "a newline inside the payload",
            format!("{h}.{}\n{}.{s}", &p[..10], &p[10..]),
        ),
        (
            "CRLF inside the signature",
            format!("{h}.{p}.{}\r\n{}", &s[..10], &s[10..]),
        ),
        (
            "a NUL inside the header",
            format!("{}\0{}.{p}.{s}", &h[..4], &h[4..]),
        ),
        ("a trailing dot", format!("{token}.")),
        ("a leading dot", format!(".{token}")),
        ("a doubled dot", token.replacen('.', "..", 1)),
        ("percent-encoded dots", token.replace('.', "%2E")),
        (
            "a zero-width space after the token",
            format!("{token}\u{200b}"),
        ),
        ("a full-width dot", token.replacen('.', "\u{ff0e}", 1)),
    ];
    for (name, t) in variants {
        c.token(CLASS, name, t, Reason::Malformed);
    }
    // The header's trailing bits: make a header whose encoding has unused bits.
    let header = (0..3)
        .map(|i| format!(r#"{{"alg":"RS256","kid":"k"{}}}"#, " ".repeat(i)))
        .find(|h| b64(h).len() % 4 >= 2)
        .expect("a header length");
    let t = lab.rsa.sign_raw(header.as_bytes(), payload.as_bytes());
    let (th, rest) = t.split_once('.').expect("dot");
    c.token(
        CLASS,
        "non-canonical trailing bits, header",
        format!("{}.{rest}", dirty_trailing_bits(th)),
        Reason::Malformed,
    );

    // The same variants under a signature that covers them exactly as written: still refused,
    // whatever the signature says.
    let th = b64(r#"{"alg":"ES256","kid":"text"}"#);
    let tp = b64(&payload);
    for (name, hh, pp) in [
        ("padded payload", th.clone(), format!("{tp}=")),
        (
            "standard-alphabet payload",
            th.clone(),
            standard_alphabet(&tp),
        ),
        (
            "non-canonical payload bits",
            th.clone(),
            dirty_trailing_bits(&tp),
        ),
        (
            "payload with a space",
            th.clone(),
            format!("{} {}", &tp[..8], &tp[8..]),
        ),
        ("padded header", format!("{th}=="), tp.clone()),
    ] {
        c.token(
            CLASS,
            format!("validly signed over the text, {name}"),
            lab.text.sign_text(&hh, &pp),
            Reason::Malformed,
        );
    }

    // Around the token, in the Authorization value.
    let good = lab.rsa.sign(&lab.claims());
    let accepted = [
        ("two spaces after Bearer", format!("Bearer  {good}")),
        (
            "leading and trailing spaces",
            format!("   Bearer {good}   "),
        ),
        ("leading and trailing tabs", format!("\tBearer {good}\t")),
        ("lower-case bearer", format!("bearer {good}")),
        ("upper-case BEARER", format!("BEARER {good}")),
        ("no Bearer prefix", good.clone()),
    ];
    for (name, value) in accepted {
        c.raw(CLASS, name, value, Reason::InsufficientScope);
    }
    let refused = [
        ("a tab after Bearer", format!("Bearer\t{good}")),
        ("no space after Bearer", format!("Bearer{good}")),
        ("two tokens", format!("Bearer {good} {good}")),
        ("Bearer twice", format!("Bearer Bearer {good}")),
        ("Basic scheme", format!("Basic {good}")),
        (
            "a no-break space after Bearer",
            format!("Bearer\u{a0}{good}"),
        ),
        (
            "a trailing zero-width space",
            format!("Bearer {good}\u{200b}"),
        ),
        ("a trailing newline", format!("Bearer {good}\n")),
        ("a trailing CRLF", format!("Bearer {good}\r\n")),
        ("a trailing NUL", format!("Bearer {good}\0")),
        (
            "a comma-joined second value",
            format!("Bearer {good}, Bearer {good}"),
        ),
    ];
    for (name, value) in refused {
        c.raw(CLASS, name, value, Reason::Malformed);
    }
    for (name, value) in [
        ("empty Authorization", String::new()),
        ("Bearer alone", "Bearer".to_owned()),
        ("Bearer and spaces", "Bearer    ".to_owned()),
    ] {
        c.raw("missing", name, value, Reason::MissingToken);
    }
}

/// The SPEC's decision table, written out here rather than taken from `Reason::wire`.
fn spec_wire(reason: Reason) -> (u16, i32, &'static str, Option<&'static str>) {
    const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;
    match reason {
        Reason::MissingToken => (401, 16, UNAUTHORIZED, Some("Bearer")),
        Reason::InsufficientScope => (
            403,
            7,
            r#"{"message":"Forbidden"}"#,
            Some(r#"Bearer error="insufficient_scope", scope="admin""#),
        ),
        Reason::Malformed
        | Reason::AlgNotAllowed
        | Reason::UnknownKey
        | Reason::BadSignature
        | Reason::WrongIssuer
        | Reason::WrongAudience
        | Reason::Expired
        | Reason::NotYetValid
        | Reason::WrongTokenUse => (
            401,
            16,
            UNAUTHORIZED,
            Some(r#"Bearer error="invalid_token""#),
        ),
        other => panic!("{other:?} is not a corpus outcome"),
    }
}

/// `tokengate_checks_total` for one authorizer: `(transport, decision, reason)` → count.
async fn checks(
    http: &reqwest::Client,
    admin: SocketAddr,
    authorizer: &str,
) -> HashMap<(String, String, String), u64> {
    let page = http
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    let mut out = HashMap::new();
    for line in page.lines() {
        let Some(rest) = line.strip_prefix("tokengate_checks_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").expect("a sample");
        let labels: HashMap<&str, &str> = labels
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        if labels.get("authorizer") != Some(&authorizer) {
            continue;
        }
        let key = (
            labels["transport"].to_owned(),
            labels["decision"].to_owned(),
            labels["reason"].to_owned(),
        );
        *out.entry(key).or_default() += value.parse::<f64>().expect("a count") as u64;
    }
    out
}

fn increments(
    before: &HashMap<(String, String, String), u64>,
    after: &HashMap<(String, String, String), u64>,
) -> BTreeMap<(String, String, String), u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// What the gRPC and HTTP transports answered for one case, checked against the SPEC.
async fn judge_over_transports(
    lab: &Lab,
    grpc: &mut tokengate::pb::auth::authorization_client::AuthorizationClient<
        tonic::transport::Channel,
    >,
    http: &reqwest::Client,
    case: &Case,
    over_http: bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    let (status, code, body, challenge) = spec_wire(case.want);
    let what = format!("[{}] {}", case.class, case.name);

    let req = check_request("GET", SCOPED, &[("authorization", &case.authorization)]);
    match grpc.check(req).await {
        Err(e) => errors.push(format!("{what}: gRPC Check failed: {e}")),
        Ok(resp) => {
            let v = verdict(resp.into_inner());
            let got = (
                v.grpc_code,
                v.http_status,
                v.body.as_str(),
                v.denied_headers.get("www-authenticate").map(String::as_str),
                v.denied_headers.get("content-type").map(String::as_str),
            );
            let want = (
                code,
                Some(i32::from(status)),
                body,
                challenge,
                Some("application/json"),
            );
            if got != want || !v.set.is_empty() || v.metadata.is_some() {
                errors.push(format!("{what}: gRPC answered {got:?}, want {want:?}"));
            }
        }
    }

    if over_http {
        let value = HeaderValue::from_str(&case.authorization).expect("checked by the caller");
        let sent = http
            .get(format!("http://{}{SCOPED}", lab.tg.http))
            .header(AUTHORIZATION, value)
            .send()
            .await;
        match sent {
            Err(e) => errors.push(format!("{what}: HTTP request failed: {e}")),
            Ok(r) => {
                let header = |name: &str| -> Vec<String> {
                    r.headers()
                        .get_all(name)
                        .iter()
                        .map(|v| v.to_str().unwrap_or("<not text>").to_owned())
                        .collect()
                };
                let challenges = header("www-authenticate");
                let content_type = header("content-type");
                let got_status = r.status().as_u16();
                let got_body = r.text().await.unwrap_or_default();
                let want_challenges: Vec<String> =
                    challenge.into_iter().map(str::to_owned).collect();
                if got_status != status
                    || got_body != body
                    || challenges != want_challenges
                    || content_type != ["application/json"]
                {
                    errors.push(format!(
                        "{what}: HTTP answered {got_status} {got_body:?} {challenges:?} {content_type:?}, want {status} {body:?} {want_challenges:?}"
                    ));
                }
            }
        }
    }
    errors
}

#[tokio::test]
async fn the_hostile_corpus_is_denied_over_both_transports_with_the_exact_reason() {
    const AUTHORIZER: &str = "corpus";
    let lab = Lab::start(AUTHORIZER).await;
    // Two attacker keys: one under its own kid, one reusing the issuer's kid `k`.
    let evil = signer(Alg::RS256, "evil");
    let evil_k = signer(Alg::RS256, "k");
    let attacker = Attacker::start(&[&evil, &evil_k]).await;

    let mut corpus = Corpus::default();
    alg_attacks(&lab, &mut corpus);
    hmac_confusion(&lab, &mut corpus);
    embedded_keys(&lab, &attacker, &evil, &evil_k, &mut corpus);
    kid_attacks(&lab, &mut corpus);
    ecdsa_signatures(&lab, &mut corpus);
    rsa_signatures(&lab, &mut corpus);
    crit_and_b64(&lab, &mut corpus);
    json_serialization(&lab, &mut corpus);
    nested_and_jwe(&lab, &mut corpus);
    strange_claims(&lab, &mut corpus);
    not_objects(&lab, &mut corpus);
    sizes(&lab, &mut corpus);
    encoding_variants(&lab, &mut corpus);

    let mut grpc = lab.tg.client().await;
    let http = reqwest::Client::new();
    let mut errors = Vec::new();
    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut grpc_only = Vec::new();
    let mut counts = checks(&http, lab.tg.admin, AUTHORIZER).await;
    for case in &corpus.cases {
        *classes.entry(case.class).or_default() += 1;
        let what = format!("[{}] {}", case.class, case.name);
        assert!(
            !case.want.is_allow(),
            "{what}: a corpus case expects a denial"
        );

        // In-process: the exact reason.
        let d = decide(
            &lab.tg.state,
            "GET",
            SCOPED,
            &[("authorization", &case.authorization)],
        )
        .await;
        if d.reason != case.want {
            errors.push(format!(
                "{what}: core said {:?}, want {:?}",
                d.reason, case.want
            ));
        }

        // A value with CR, LF or another control character cannot be an HTTP header value:
        // no proxy could send it to the HTTP authorizer, so it goes over gRPC only.
        let over_http = HeaderValue::from_str(&case.authorization).is_ok();
        if !over_http {
            grpc_only.push(case.name.clone());
        }
        errors.extend(judge_over_transports(&lab, &mut grpc, &http, case, over_http).await);

        // Each transport counted exactly this denial, under the exact reason.
        let after = checks(&http, lab.tg.admin, AUTHORIZER).await;
        let mut want = BTreeMap::new();
        for transport in ["grpc", "http"]
            .into_iter()
            .take(1 + usize::from(over_http))
        {
            let key = (
                transport.to_owned(),
                "deny".to_owned(),
                case.want.as_str().to_owned(),
            );
            want.insert(key, 1);
        }
        let got = increments(&counts, &after);
        if got != want {
            errors.push(format!("{what}: counted {got:?}, want {want:?}"));
        }
        counts = after;
    }
    assert!(
        errors.is_empty(),
        "{} of {} cases went wrong:\n{}",
        errors.len(),
        corpus.cases.len(),
        errors.join("\n")
    );
    assert_eq!(
        attacker.connections(),
        0,
        "the attacker's jku/x5u server was never contacted"
    );

    // Still up, and still right: a valid token with the scope is let through everywhere.
    let mut good = lab.claims();
    good["scope"] = json!("admin");
    let auth = bearer(&lab.rsa.sign(&good));
    let d = decide(&lab.tg.state, "GET", SCOPED, &[("authorization", &auth)]).await;
    assert_eq!(d.reason, Reason::Verified);
    let v = check(
        &mut grpc,
        check_request("GET", SCOPED, &[("authorization", &auth)]),
    )
    .await;
    assert_eq!(v.grpc_code, 0, "{v:?}");
    let r = http
        .get(format!("http://{}{SCOPED}", lab.tg.http))
        .header(AUTHORIZATION, &auth)
        .send()
        .await
        .expect("HTTP authorizer answers");
    assert_eq!(r.status().as_u16(), 200);
    let after = checks(&http, lab.tg.admin, AUTHORIZER).await;
    let allowed: BTreeMap<_, _> = [("grpc", 1), ("http", 1)]
        .into_iter()
        .map(|(t, n)| ((t.to_owned(), "allow".to_owned(), "verified".to_owned()), n))
        .collect();
    assert_eq!(increments(&counts, &after), allowed);

    let per_class: Vec<String> = classes.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    eprintln!(
        "hostile corpus: {} cases, each denied in-process, over gRPC and (all but {} with control characters) over HTTP\n  {}",
        corpus.cases.len(),
        grpc_only.len(),
        per_class.join("\n  ")
    );
    lab.tg.shutdown().await;
}

/// An `Authorization` value that is not UTF-8 at all cannot be a JSON string, so it is not in
/// the corpus: over HTTP as raw bytes, and over gRPC in Envoy's `header_map.raw_value`, it is
/// a present token that is malformed, never a missing one.
#[tokio::test]
async fn a_non_utf8_authorization_is_malformed_on_both_transports() {
    use tokengate::pb::auth::attribute_context::{HttpRequest, Request as AttrRequest};
    use tokengate::pb::auth::{AttributeContext, CheckRequest};
    use tokengate::pb::core::{HeaderMap, HeaderValue as PbHeader};

    let lab = Lab::start("bytes").await;
    let good = lab.rsa.sign(&lab.claims());
    for bytes in [
        [b"Bearer ".as_slice(), good.as_bytes(), b"\xe9"].concat(),
        [b"Bearer \xff\xfe".as_slice(), good.as_bytes()].concat(),
        b"\x80".to_vec(),
    ] {
        let what = String::from_utf8_lossy(&bytes).into_owned();
        let value = HeaderValue::from_bytes(&bytes).expect("obs-text is a valid header value");
        let d = decide(
            &lab.tg.state,
            "GET",
            "/",
            &[("authorization", tokengate::request::NOT_UTF8)],
        )
        .await;
        assert_eq!(d.reason, Reason::Malformed);

        let r = reqwest::Client::new()
            .get(format!("http://{}/", lab.tg.http))
            .header(AUTHORIZATION, value)
            .send()
            .await
            .expect("HTTP authorizer answers");
        let challenge = r.headers().get("www-authenticate").cloned();
        assert_eq!(r.status().as_u16(), 401, "{what}");
        assert_eq!(
            challenge.as_ref().and_then(|v| v.to_str().ok()),
            Some(r#"Bearer error="invalid_token""#),
            "{what}"
        );

        let header_map = HeaderMap {
            headers: vec![PbHeader {
                key: "authorization".to_owned(),
                raw_value: bytes.clone(),
                ..Default::default()
            }],
        };
        let req = CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(AttrRequest {
                    http: Some(HttpRequest {
                        method: "GET".to_owned(),
                        path: "/".to_owned(),
                        header_map: Some(header_map),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        let v = check(&mut lab.tg.client().await, req).await;
        assert_eq!((v.grpc_code, v.http_status), (16, Some(401)), "{what}");
        assert_eq!(
            v.denied_headers.get("www-authenticate").map(String::as_str),
            Some(r#"Bearer error="invalid_token""#),
            "{what}"
        );
    }
    lab.tg.shutdown().await;
}

#[tokio::test]
async fn random_bytes_are_denied_without_panic() {
    let lab = Lab::start("random").await;
    let mut grpc = lab.tg.client().await;
    let http = reqwest::Client::new();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet: Vec<char> = "ABCxyz019-_.=+/ {}\"[]:,".chars().collect();
    for i in 0..2000 {
        let len = (next() % 300) as usize + 1;
        let token: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let auth = bearer(&token);
        let d = decide(&lab.tg.state, "GET", "/", &[("authorization", &auth)]).await;
        assert!(!d.is_allow(), "random token {i} allowed: {token}");
        // Every tenth also over both transports: a 401 each time, and no failed call.
        if i % 10 == 0 {
            let v = check(
                &mut grpc,
                check_request("GET", "/", &[("authorization", &auth)]),
            )
            .await;
            assert_eq!((v.grpc_code, v.http_status), (16, Some(401)), "{token}");
            let r = http
                .get(format!("http://{}/", lab.tg.http))
                .header(AUTHORIZATION, &auth)
                .send()
                .await
                .expect("HTTP authorizer answers");
            assert_eq!(r.status().as_u16(), 401, "{token}");
        }
    }
    lab.tg.shutdown().await;
}
