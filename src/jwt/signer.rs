//! Token signing with an in-memory key, for the development issuer (and tests).

use aws_lc_rs::error::Unspecified;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{self, KeySize};
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::jwt::Alg;

/// A private key that signs JWTs with one algorithm, and publishes its JWK.
pub struct Signer {
    /// The `kid` put in its tokens' headers and its JWK.
    pub kid: String,
    /// The one algorithm it signs with.
    pub alg: Alg,
    key: Private,
}

enum Private {
    Rsa(rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    /// A fresh key for `alg` (RSA keys are 2048-bit).
    pub fn generate(alg: Alg, kid: &str) -> Result<Signer, Unspecified> {
        let key = match alg {
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                Private::Rsa(rsa::KeyPair::generate(KeySize::Rsa2048)?)
            }
            Alg::ES256 => Private::Ec(EcdsaKeyPair::generate(
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            )?),
            Alg::ES384 => Private::Ec(EcdsaKeyPair::generate(
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            )?),
            Alg::EdDSA => Private::Ed(Ed25519KeyPair::generate()?),
        };
        Ok(Signer {
            kid: kid.to_owned(),
            alg,
            key,
        })
    }

    /// The public JWK, with `kid`, `alg` and `use: sig`.
    pub fn jwk(&self) -> Value {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = match &self.key {
            Private::Rsa(k) => {
                let public = k.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Private::Ec(k) => {
                let point = k.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                let crv = if half == 32 { "P-256" } else { "P-384" };
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b64(&point[1..=half]),
                    "y": b64(&point[1 + half..]),
                })
            }
            Private::Ed(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(self.alg.as_str());
        jwk["use"] = json!("sig");
        jwk
    }

    /// A compact JWS of `claims` with the header `{"alg", "kid", "typ": "JWT"}`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": "JWT"});
        self.sign_raw(header.to_string().as_bytes(), claims.to_string().as_bytes())
    }

    /// Signs any header and payload bytes as given (tests use this for hostile tokens).
    pub fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = self.signature(input.as_bytes()).unwrap_or_default();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn signature(&self, message: &[u8]) -> Result<Vec<u8>, Unspecified> {
        let rng = SystemRandom::new();
        match &self.key {
            Private::Rsa(k) => {
                let padding: &'static dyn sig::RsaEncoding = match self.alg {
                    Alg::RS384 => &sig::RSA_PKCS1_SHA384,
                    Alg::RS512 => &sig::RSA_PKCS1_SHA512,
                    Alg::PS256 => &sig::RSA_PSS_SHA256,
                    Alg::PS384 => &sig::RSA_PSS_SHA384,
                    Alg::PS512 => &sig::RSA_PSS_SHA512,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(padding, &rng, message, &mut out)?;
                Ok(out)
            }
            Private::Ec(k) => Ok(k.sign(&rng, message)?.as_ref().to_vec()),
            Private::Ed(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}
