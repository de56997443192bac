//! One usable signing key from a JWKS, parsed once into aws-lc-rs public keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};

use crate::jwt::Alg;

/// Why a JWKS entry is skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// A key for encryption (`use: enc`).
    #[error("`use` is not `sig`")]
    NotForSignatures,
    /// A key type or curve no allowed algorithm uses.
    #[error("key type or curve not supported")]
    KeyType,
    /// An `alg` that tokengate does not verify, or that its key cannot make.
    #[error("its `alg` is not one tokengate verifies, or does not fit its key type")]
    Alg,
    /// Key material that does not parse.
    #[error("key material does not parse")]
    Broken,
}

/// A verification key: its `kid`, and a pre-parsed public key per algorithm it may verify.
pub struct Key {
    /// The JWK's `kid`, when it has one.
    pub kid: Option<Arc<str>>,
    verifiers: Vec<(Alg, ParsedPublicKey)>,
    /// The public key bytes, to tell an unchanged key from a replaced one across fetches.
    material: Vec<u8>,
    /// Set when a successful fetch no longer lists this key; cached verdicts made with it die.
    retired: AtomicBool,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<_> = self.verifiers.iter().map(|(a, _)| a.as_str()).collect();
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algs", &algs)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Builds a key from a JWK, or says why it cannot verify anything.
    pub fn from_jwk(jwk: &Jwk) -> Result<Key, Unusable> {
        match &jwk.common.public_key_use {
            None | Some(PublicKeyUse::Signature) => {}
            Some(_) => return Err(Unusable::NotForSignatures),
        }
        let declared = match &jwk.common.key_algorithm {
            None => None,
            Some(a) => Some(declared_alg(a).ok_or(Unusable::Alg)?),
        };
        let (algs, material, build): (&[Alg], Vec<u8>, Builder) = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let n = strip_zeros(decode(&rsa.n)?);
                let e = strip_zeros(decode(&rsa.e)?);
                let mut material = n.clone();
                material.extend_from_slice(&e);
                (&RSA_ALGS, material, Builder::Rsa { n, e })
            }
            AlgorithmParameters::EllipticCurve(ec) => {
                let (alg, len) = match ec.curve {
                    EllipticCurve::P256 => (&[Alg::ES256][..], 32),
                    EllipticCurve::P384 => (&[Alg::ES384][..], 48),
                    _ => return Err(Unusable::KeyType),
                };
                let (x, y) = (decode(&ec.x)?, decode(&ec.y)?);
                if x.len() != len || y.len() != len {
                    return Err(Unusable::Broken);
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (alg, point, Builder::Raw)
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                let x = decode(&okp.x)?;
                if x.len() != 32 {
                    return Err(Unusable::Broken);
                }
                (&[Alg::EdDSA][..], x, Builder::Raw)
            }
            _ => return Err(Unusable::KeyType),
        };
        let algs: Vec<Alg> = match declared {
            Some(d) if algs.contains(&d) => vec![d],
            Some(_) => return Err(Unusable::Alg),
            None => algs.to_vec(),
        };
        let mut verifiers = Vec::with_capacity(algs.len());
        for alg in algs {
            let parsed = match &build {
                Builder::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(rsa_params(alg).ok_or(Unusable::Alg)?),
                Builder::Raw => {
                    ParsedPublicKey::new(raw_params(alg).ok_or(Unusable::Alg)?, &material)
                }
            };
            verifiers.push((alg, parsed.map_err(|_| Unusable::Broken)?));
        }
        Ok(Key {
            kid: jwk.common.key_id.as_deref().map(Arc::from),
            verifiers,
            material,
            retired: AtomicBool::new(false),
        })
    }

    /// Whether this key's type, curve and own `alg` fit `alg`.
    pub fn fits(&self, alg: Alg) -> bool {
        self.verifiers.iter().any(|(a, _)| *a == alg)
    }

    /// Verifies `signature` over `message`; false for a key that does not fit `alg`.
    pub fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, k)| k.verify_sig(message, signature).is_ok())
    }

    /// Same `kid` and same public key: a refetch that returns it keeps the old one.
    pub fn same_as(&self, other: &Key) -> bool {
        self.kid == other.kid
            && self.material == other.material
            && self.verifiers.len() == other.verifiers.len()
            && self
                .verifiers
                .iter()
                .zip(&other.verifiers)
                .all(|((a, _), (b, _))| a == b)
    }

    /// Marks the key as gone from the JWKS: verdicts cached with it stop serving.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    /// Whether the key has left the JWKS.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }
}

enum Builder {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Raw,
}

const RSA_ALGS: [Alg; 6] = [
    Alg::RS256,
    Alg::RS384,
    Alg::RS512,
    Alg::PS256,
    Alg::PS384,
    Alg::PS512,
];

fn rsa_params(alg: Alg) -> Option<&'static sig::RsaParameters> {
    Some(match alg {
        Alg::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Alg::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Alg::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Alg::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Alg::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Alg::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn raw_params(alg: Alg) -> Option<&'static dyn sig::VerificationAlgorithm> {
    Some(match alg {
        Alg::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Alg::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        Alg::EdDSA => &sig::ED25519,
        _ => return None,
    })
}

fn declared_alg(a: &KeyAlgorithm) -> Option<Alg> {
    Some(match a {
        KeyAlgorithm::RS256 => Alg::RS256,
        KeyAlgorithm::RS384 => Alg::RS384,
        KeyAlgorithm::RS512 => Alg::RS512,
        KeyAlgorithm::PS256 => Alg::PS256,
        KeyAlgorithm::PS384 => Alg::PS384,
        KeyAlgorithm::PS512 => Alg::PS512,
        KeyAlgorithm::ES256 => Alg::ES256,
        KeyAlgorithm::ES384 => Alg::ES384,
        KeyAlgorithm::EdDSA => Alg::EdDSA,
        _ => return None,
    })
}

fn decode(s: &str) -> Result<Vec<u8>, Unusable> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| Unusable::Broken)
}

/// Some issuers pad `n` with a leading zero byte; the integer is the same.
fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}
