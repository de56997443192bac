//! Hostile tokens: each is denied with the right reason, and none panics or hangs.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use serde_json::json;
use tokengate::decision::Reason;
use tokengate::jwt::Alg;

async fn setup() -> (tokengate::dev::Signer, JwksServer, Tokengate) {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let yaml = format!(
        "cache: {{tokens: 0}}\nauthorizers:\n  a: {{issuer: \"{}\", audience: [api]}}\nroutes:\n  \"$default\": {{authorizer: a}}\n",
        jwks.url
    );
    let tg = Tokengate::start(&yaml).await.ready().await;
    (k, jwks, tg)
}

fn b64(s: &str) -> String {
    B64.encode(s)
}

#[tokio::test]
async fn random_bytes_are_denied_without_panic() {
    let (_, _, tg) = setup().await;
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
        let d = decide(&tg.state, "GET", "/", &[("authorization", &bearer(&token))]).await;
        assert!(!d.is_allow(), "random token {i} allowed: {token}");
    }
}

#[tokio::test]
async fn structural_attacks_are_malformed() {
    let (k, jwks, tg) = setup().await;
    let c = claims(&jwks.url, "api").to_string();
    let good_h = b64(r#"{"alg":"RS256","kid":"k"}"#);
    let deep = format!(
        r#"{{"alg":"RS256","x":{}{}}}"#,
        "[".repeat(2000),
        "]".repeat(2000)
    );
    let signed = |h: &str| k.sign_raw(h.as_bytes(), c.as_bytes());
    let cases = [
        (
            "crit",
            signed(r#"{"alg":"RS256","kid":"k","crit":["exp"],"exp":1}"#),
        ),
        (
            "b64 false",
            signed(r#"{"alg":"RS256","kid":"k","b64":false}"#),
        ),
        ("deep header", signed(&deep)),
        (
            "duplicate alg",
            signed(r#"{"alg":"RS256","alg":"RS256","kid":"k"}"#),
        ),
        (
            "JWE",
            format!(
                "{good_h}.{}.{}.{}.{}",
                b64("k"),
                b64("iv"),
                b64("ct"),
                b64("tag")
            ),
        ),
        (
            "JSON serialization",
            json!({"payload": b64(&c), "signatures": [{"protected": good_h, "signature": "AA"}]})
                .to_string(),
        ),
        ("padding", format!("{}=", k.sign(&claims(&jwks.url, "api")))),
        (
            "space",
            k.sign(&claims(&jwks.url, "api")).replacen('.', ". ", 1),
        ),
        ("too long", format!("{good_h}.{}.AAAA", "A".repeat(9000))),
        ("header array", format!("{}.{}.AAAA", b64("[]"), b64(&c))),
        ("alg number", signed(r#"{"alg":1,"kid":"k"}"#)),
    ];
    for (name, token) in cases {
        assert_eq!(
            reason_for(&tg.state, "/", &token).await,
            Reason::Malformed,
            "{name}"
        );
    }
}

#[tokio::test]
async fn algorithm_attacks_are_refused() {
    let (k, jwks, tg) = setup().await;
    let c = claims(&jwks.url, "api").to_string();
    for alg in ["none", "None", "NONE", "nOnE", "HS256", "HS512", "RS1", ""] {
        let h = json!({"alg": alg, "kid": "k"}).to_string();
        let unsigned = format!("{}.{}.", b64(&h), b64(&c));
        assert_eq!(
            reason_for(&tg.state, "/", &unsigned).await,
            Reason::AlgNotAllowed,
            "{alg}"
        );
    }
    // HMAC keyed with the issuer's public key bytes (key confusion).
    let jwk = k.jwk();
    let n = B64.decode(jwk["n"].as_str().unwrap()).unwrap();
    for secret in [jwk.to_string().into_bytes(), n] {
        let h = b64(r#"{"alg":"HS256","kid":"k"}"#);
        let input = format!("{h}.{}", b64(&c));
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        let token = format!("{input}.{}", B64.encode(tag.as_ref()));
        assert_eq!(
            reason_for(&tg.state, "/", &token).await,
            Reason::AlgNotAllowed
        );
    }
    // An RSA kid presented with an EC alg, and the same for EdDSA.
    for alg in [Alg::ES256, Alg::EdDSA] {
        let other = signer(alg, "k");
        assert_eq!(
            reason_for(&tg.state, "/", &other.sign(&claims(&jwks.url, "api"))).await,
            Reason::UnknownKey
        );
    }
    // RS256 signatures of the wrong length, ECDSA-shaped zeros.
    let t = k.sign(&claims(&jwks.url, "api"));
    let (input, _) = t.rsplit_once('.').unwrap();
    for sig in [vec![0u8; 255], vec![0u8; 257], vec![0u8; 64], vec![]] {
        let token = format!("{input}.{}", B64.encode(&sig));
        assert_eq!(
            reason_for(&tg.state, "/", &token).await,
            Reason::BadSignature
        );
    }
}

#[tokio::test]
async fn embedded_keys_and_key_urls_are_never_used() {
    let (k, jwks, tg) = setup().await;
    let attacker = signer(Alg::RS256, "evil");
    let evil = JwksServer::start(&[&attacker]).await;
    let c = claims(&jwks.url, "api").to_string();
    let jku = format!("{}/.well-known/jwks.json", evil.url);
    let cases = [
        (
            json!({"alg": "RS256", "kid": "evil", "jku": jku}),
            Reason::UnknownKey,
        ),
        (
            json!({"alg": "RS256", "kid": "k", "jku": jku}),
            Reason::BadSignature,
        ),
        (
            json!({"alg": "RS256", "kid": "k", "x5u": jku}),
            Reason::BadSignature,
        ),
        (
            json!({"alg": "RS256", "jwk": attacker.jwk()}),
            Reason::BadSignature,
        ),
        (
            json!({"alg": "RS256", "kid": "k", "jwk": attacker.jwk()}),
            Reason::BadSignature,
        ),
        (
            json!({"alg": "RS256", "kid": "k", "x5c": ["MIIB"]}),
            Reason::BadSignature,
        ),
    ];
    for (header, want) in cases {
        let token = attacker.sign_raw(header.to_string().as_bytes(), c.as_bytes());
        assert_eq!(reason_for(&tg.state, "/", &token).await, want, "{header}");
    }
    assert_eq!(
        evil.hits(),
        0,
        "the attacker's key server was never contacted"
    );
    // Signed by the real key, the same headers are simply ignored.
    let real = k.sign_raw(
        json!({"alg": "RS256", "kid": "k", "jku": jku, "jwk": attacker.jwk()})
            .to_string()
            .as_bytes(),
        c.as_bytes(),
    );
    assert_eq!(reason_for(&tg.state, "/", &real).await, Reason::Verified);
    assert_eq!(evil.hits(), 0);
}

#[tokio::test]
async fn validly_signed_strange_claims_get_the_right_reason() {
    let (k, jwks, tg) = setup().await;
    let iss = jwks.url.clone();
    let raw = |payload: &str| k.sign_raw(br#"{"alg":"RS256","kid":"k"}"#, payload.as_bytes());
    let exp = tokengate::clock::now() as u64 + 600;
    let cases = [
        (
            format!(r#"{{"iss":"{iss}","aud":"api","exp":{exp},"exp":{exp}}}"#),
            Reason::Malformed,
        ),
        (
            format!(r#"{{"iss":"{iss}","aud":"api","exp":"{exp}"}}"#),
            Reason::Malformed,
        ),
        (
            format!(r#"{{"iss":"{iss}","aud":"api","exp":{exp}.5}}"#),
            Reason::Verified,
        ),
        (
            format!(r#"{{"iss":"{iss}","aud":"api","exp":1e300}}"#),
            Reason::Verified,
        ),
        (
            format!(r#"{{"iss":"{iss}","aud":"api","exp":-1e300}}"#),
            Reason::Expired,
        ),
        (
            format!(r#"{{"iss":"{iss}","aud":null,"exp":{exp}}}"#),
            Reason::Malformed,
        ),
        (
            format!(r#"{{"iss":"{iss}","aud":5,"exp":{exp}}}"#),
            Reason::Malformed,
        ),
        (
            format!(r#"{{"iss":"{iss}","aud":["api",7],"exp":{exp}}}"#),
            Reason::Malformed,
        ),
        (
            format!(r#"{{"iss":"{iss}","aud":{{"a":1}},"exp":{exp}}}"#),
            Reason::Malformed,
        ),
        (
            format!(r#"{{"iss":"{iss}","aud":"api","exp":{exp},"nbf":"0"}}"#),
            Reason::Malformed,
        ),
        // A Cyrillic 'а' in the scheme: not the issuer.
        (
            format!(
                r#"{{"iss":"{}","aud":"api","exp":{exp}}}"#,
                iss.replacen('t', "т", 1)
            ),
            Reason::WrongIssuer,
        ),
        (
            format!(r#"{{"iss":"{iss}/","aud":"api","exp":{exp}}}"#),
            Reason::WrongIssuer,
        ),
        ("[1,2,3]".to_owned(), Reason::Malformed),
        ("\"claims\"".to_owned(), Reason::Malformed),
        (
            format!(
                r#"{{"iss":"{iss}","aud":"api","exp":{exp},"x":{}{}}}"#,
                "[".repeat(3000),
                "]".repeat(3000)
            ),
            Reason::Malformed,
        ),
    ];
    for (payload, want) in cases {
        assert_eq!(
            reason_for(&tg.state, "/", &raw(&payload)).await,
            want,
            "{payload:.120}"
        );
    }
}
