//! JWS algorithms: which names Envoy accepts, which key type each one may use, and the
//! signature check itself (meshguard's own for every algorithm).

use super::ecdsa::Curve;
use super::sha::{hmac_matches, Hash};

use super::jwks::PublicKey;

/// The `alg` values jwt_verify_lib implements (`isImplemented` in `src/jwt.cc`); anything
/// else, `none` in any spelling included, is "Jwt header [alg] is not supported".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
    Hs256,
    Hs384,
    Hs512,
    EdDsa,
}

impl Alg {
    /// Case-sensitive, as in jwt_verify_lib.
    pub fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "ES512" => Alg::Es512,
            "HS256" => Alg::Hs256,
            "HS384" => Alg::Hs384,
            "HS512" => Alg::Hs512,
            "EdDSA" => Alg::EdDsa,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// Whether `key` may check a signature made with this algorithm. The key's type decides,
    /// never the token: an RSA public key is never an HMAC secret (RS256 -> HS256 confusion),
    /// and an EC key only serves the algorithm of its curve.
    pub fn fits(self, key: &PublicKey) -> bool {
        matches!(
            (self, key),
            (
                Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512,
                PublicKey::Rsa(_)
            ) | (Alg::Hs256 | Alg::Hs384 | Alg::Hs512, PublicKey::Oct(_))
                | (Alg::EdDsa, PublicKey::Ed25519(_))
        ) || match key {
            PublicKey::Ec(k) => self.curve() == Some(k.curve()),
            _ => false,
        }
    }

    /// The curve an ES algorithm signs on.
    fn curve(self) -> Option<Curve> {
        match self {
            Alg::Es256 => Some(Curve::P256),
            Alg::Es384 => Some(Curve::P384),
            Alg::Es512 => Some(Curve::P521),
            _ => None,
        }
    }
}

/// What one key said about a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Valid,
    Invalid,
    /// An Ed25519 signature that is not 64 bytes: Envoy stops at the first such key.
    Ed25519WrongLength,
}

/// Checks `signature` over `message` with `key`, which must [fit](Alg::fits) `alg`.
pub fn check(alg: Alg, key: &PublicKey, message: &[u8], signature: &[u8]) -> Check {
    let valid = match (alg, key) {
        (Alg::Rs256, PublicKey::Rsa(k)) => k.mont.verify(Hash::Sha256, message, signature),
        (Alg::Rs384, PublicKey::Rsa(k)) => k.mont.verify(Hash::Sha384, message, signature),
        (Alg::Rs512, PublicKey::Rsa(k)) => k.mont.verify(Hash::Sha512, message, signature),
        (Alg::Ps256, PublicKey::Rsa(k)) => k.mont.verify_pss(Hash::Sha256, message, signature),
        (Alg::Ps384, PublicKey::Rsa(k)) => k.mont.verify_pss(Hash::Sha384, message, signature),
        (Alg::Ps512, PublicKey::Rsa(k)) => k.mont.verify_pss(Hash::Sha512, message, signature),
        (Alg::Es256 | Alg::Es384 | Alg::Es512, PublicKey::Ec(k)) => {
            alg.curve() == Some(k.curve()) && k.verify(message, signature)
        }
        (Alg::Hs256, PublicKey::Oct(k)) => hmac_matches(Hash::Sha256, k, message, signature),
        (Alg::Hs384, PublicKey::Oct(k)) => hmac_matches(Hash::Sha384, k, message, signature),
        (Alg::Hs512, PublicKey::Oct(k)) => hmac_matches(Hash::Sha512, k, message, signature),
        (Alg::EdDsa, PublicKey::Ed25519(k)) => {
            if signature.len() != 64 {
                return Check::Ed25519WrongLength;
            }
            k.verify(message, signature)
        }
        _ => false,
    };
    if valid {
        Check::Valid
    } else {
        Check::Invalid
    }
}
