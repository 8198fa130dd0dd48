//! JWS algorithms: which names Envoy accepts, which key type each one may use, and the
//! signature check itself (jwt-compact's algorithms, plus ES384 on RustCrypto's p384).

use super::rsa_pkcs1::Hash;
use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa};
use jwt_compact::{Algorithm, AlgorithmSignature};
use std::borrow::Cow;

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
    /// Accepted as a name, as Envoy does; P-521 keys are not supported, so no key fits it.
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
            ) | (Alg::Es256, PublicKey::P256(_))
                | (Alg::Es384, PublicKey::P384(_))
                | (Alg::Hs256 | Alg::Hs384 | Alg::Hs512, PublicKey::Oct(_))
                | (Alg::EdDsa, PublicKey::Ed25519(_))
        )
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
        (Alg::Ps256, PublicKey::Rsa(k)) => run(&Rsa::ps256(), &k.key, message, signature),
        (Alg::Ps384, PublicKey::Rsa(k)) => run(&Rsa::ps384(), &k.key, message, signature),
        (Alg::Ps512, PublicKey::Rsa(k)) => run(&Rsa::ps512(), &k.key, message, signature),
        (Alg::Es256, PublicKey::P256(k)) => {
            nonzero_halves(signature) && run(&Es256, k, message, signature)
        }
        (Alg::Es384, PublicKey::P384(k)) => {
            nonzero_halves(signature) && run(&Es384, k, message, signature)
        }
        (Alg::Hs256, PublicKey::Oct(k)) => run(&Hs256, &Hs256Key::new(k), message, signature),
        (Alg::Hs384, PublicKey::Oct(k)) => run(&Hs384, &Hs384Key::new(k), message, signature),
        (Alg::Hs512, PublicKey::Oct(k)) => run(&Hs512, &Hs512Key::new(k), message, signature),
        (Alg::EdDsa, PublicKey::Ed25519(k)) => {
            if signature.len() != 64 {
                return Check::Ed25519WrongLength;
            }
            run(&Ed25519, k, message, signature)
        }
        _ => false,
    };
    if valid {
        Check::Valid
    } else {
        Check::Invalid
    }
}

/// Runs one jwt-compact algorithm. The length is checked first: some of its signature
/// types (HMAC, Ed25519) panic when built from a slice of the wrong length.
fn run<A: Algorithm>(alg: &A, key: &A::VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    if A::Signature::LENGTH.is_some_and(|len| len.get() != signature.len()) {
        return false;
    }
    match A::Signature::try_from_slice(signature) {
        Ok(sig) => alg.verify_signature(&sig, key, message),
        Err(_) => false,
    }
}

/// ECDSA `r || s` with neither half zero. RustCrypto refuses zero scalars too; the check is
/// repeated here because accepting r = s = 0 is the "psychic signature" bug (CVE-2022-21449).
fn nonzero_halves(signature: &[u8]) -> bool {
    let (r, s) = signature.split_at(signature.len() / 2);
    !signature.is_empty() && r.iter().any(|&b| b != 0) && s.iter().any(|&b| b != 0)
}

/// ES384 (ECDSA on P-384 with SHA-384), which jwt-compact does not ship.
#[derive(Debug, Clone, Copy, Default)]
pub struct Es384;

/// ES384's fixed-size `r || s` signature.
#[derive(Debug, Clone, Copy)]
pub struct Es384Signature(p384::ecdsa::Signature);

impl AlgorithmSignature for Es384Signature {
    const LENGTH: Option<std::num::NonZeroUsize> = std::num::NonZeroUsize::new(96);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        p384::ecdsa::Signature::from_slice(slice)
            .map(Es384Signature)
            .map_err(anyhow::Error::msg)
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_bytes().to_vec())
    }
}

impl Algorithm for Es384 {
    type SigningKey = p384::ecdsa::SigningKey;
    type VerifyingKey = p384::ecdsa::VerifyingKey;
    type Signature = Es384Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES384")
    }

    fn sign(&self, signing_key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
        use p384::ecdsa::signature::Signer;
        Es384Signature(signing_key.sign(message))
    }

    fn verify_signature(
        &self,
        signature: &Self::Signature,
        verifying_key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        use p384::ecdsa::signature::Verifier;
        verifying_key.verify(message, &signature.0).is_ok()
    }
}
