//! JSON Web Tokens as tokengate reads them: where a token is found ([`extract`]), its compact
//! serialization ([`compact`]), and the claims checked after the signature ([`claims`]).

pub mod claims;
pub mod compact;
pub mod extract;
pub mod rules;
pub mod signer;

use std::fmt;
use std::str::FromStr;

pub use extract::IdentitySource;
pub use signer::Signer;

/// The signature algorithms tokengate verifies. Symmetric (HMAC) and `none` do not exist here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    /// The default allow-list: every algorithm above.
    pub const DEFAULT: [Alg; 9] = [
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    /// The name as JOSE headers and JWKs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The algorithm a JOSE header names, matched exactly (`none`, `HS256`, `rs256` are not).
    pub fn from_header(name: &str) -> Option<Alg> {
        Alg::DEFAULT.into_iter().find(|a| a.as_str() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an algorithm name is refused in a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgError {
    /// An `HS*` name.
    #[error("`{0}` is symmetric (HMAC): a shared secret is never accepted")]
    Hmac(String),
    /// `none`, in any case.
    #[error("`none` is never accepted")]
    None,
    #[error(
        "`{0}` is not supported (supported: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA)"
    )]
    /// Anything else.
    Unsupported(String),
}

impl FromStr for Alg {
    type Err = AlgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(a) = Alg::from_header(s) {
            return Ok(a);
        }
        if s.eq_ignore_ascii_case("none") {
            Err(AlgError::None)
        } else if s.to_ascii_uppercase().starts_with("HS") {
            Err(AlgError::Hmac(s.to_owned()))
        } else {
            Err(AlgError::Unsupported(s.to_owned()))
        }
    }
}

/// A set of algorithms, checked with one mask test on the request path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AlgSet(u16);

impl AlgSet {
    /// Whether `alg` is in the set.
    pub fn contains(self, alg: Alg) -> bool {
        self.0 & alg.bit() != 0
    }
}

impl FromIterator<Alg> for AlgSet {
    fn from_iter<I: IntoIterator<Item = Alg>>(iter: I) -> Self {
        AlgSet(iter.into_iter().fold(0, |m, a| m | a.bit()))
    }
}

/// Cognito's `token_use` claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenUse {
    /// An access token (`token_use: access`).
    Access,
    /// An ID token (`token_use: id`).
    Id,
}

impl TokenUse {
    /// The claim's value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenUse::Access => "access",
            TokenUse::Id => "id",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_algorithms_refuse_hmac_none_and_es512() {
        assert_eq!("RS256".parse::<Alg>(), Ok(Alg::RS256));
        assert!(matches!("HS256".parse::<Alg>(), Err(AlgError::Hmac(_))));
        assert_eq!("None".parse::<Alg>(), Err(AlgError::None));
        assert!(matches!(
            "ES512".parse::<Alg>(),
            Err(AlgError::Unsupported(_))
        ));
        assert_eq!(Alg::from_header("rs256"), None);
    }

    #[test]
    fn alg_set_holds_exactly_its_members() {
        let set: AlgSet = [Alg::RS256, Alg::EdDSA].into_iter().collect();
        assert!(set.contains(Alg::RS256) && set.contains(Alg::EdDSA));
        assert!(!set.contains(Alg::ES256) && !set.contains(Alg::PS512));
    }
}
