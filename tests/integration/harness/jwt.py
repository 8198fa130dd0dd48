"""Signing keys, their JWKs and JWTs for the RequestAuthentication tests.

Keys are made with `cryptography` once per session and shared by every test (`keys()`): RSA 2048
(slow to generate: two of them, the second for key rotation), EC P-256, P-384 and P-521, Ed25519, and
HMAC secrets for HS256/384/512. A `SigningKey` is one key as a JWKS publishes it: the key material,
a `kid` and (unless None) an `alg` the key is restricted to.

    key = keys().get("RS256")
    token = key.sign({"iss": "https://issuer.test", "sub": "alice"})   # exp/iat added
    jwks_json({key})                                                   # the JWKS that verifies it

Tokens are compact JWS (`header.payload.signature`, base64url without padding); `sign` takes
header overrides (`kid`, `alg`, `typ`...) and `forge` builds a token with any alg and signature.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any, Iterable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGS = ("ES256", "ES384", "ES512")
HMAC_ALGS = ("HS256", "HS384", "HS512")
ALL_ALGS = (*RSA_ALGS, *EC_ALGS, "EdDSA", *HMAC_ALGS)
ASYMMETRIC_ALGS = (*RSA_ALGS, *EC_ALGS, "EdDSA")

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def _uint(n: int, size: int | None = None) -> str:
    """A big-endian unsigned integer, base64url (JWK `n`, `e`, `x`, `y`); `size` pads EC coordinates."""
    size = size or max(1, (n.bit_length() + 7) // 8)
    return b64url(n.to_bytes(size, "big"))


@dataclass(frozen=True)
class SigningKey:
    """One key of a JWKS: private material to sign with, its `kid`, and the `alg` it signs with
    (`jwk_alg`: the `alg` the JWK declares; None publishes the JWK without one)."""

    material: Any  # an RSA/EC/Ed25519 private key, or the HMAC secret (bytes)
    kid: str | None
    alg: str
    jwk_alg: str | None

    def jwk(self) -> dict:
        """The public JWK (for oct keys: the secret, as an inline JWKS carries it)."""
        m = self.material
        if isinstance(m, rsa.RSAPrivateKey):
            pub = m.public_key().public_numbers()
            jwk = {"kty": "RSA", "n": _uint(pub.n), "e": _uint(pub.e)}
        elif isinstance(m, ec.EllipticCurvePrivateKey):
            size = (m.curve.key_size + 7) // 8
            pub = m.public_key().public_numbers()
            crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[m.curve.name]
            jwk = {"kty": "EC", "crv": crv, "x": _uint(pub.x, size), "y": _uint(pub.y, size)}
        elif isinstance(m, ed25519.Ed25519PrivateKey):
            raw = m.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        else:
            jwk = {"kty": "oct", "k": b64url(m)}
        if self.kid is not None:
            jwk["kid"] = self.kid
        if self.jwk_alg is not None:
            jwk["alg"] = self.jwk_alg
        return jwk

    def with_kid(self, kid: str | None, jwk_alg: str | None | type = ...) -> "SigningKey":
        """The same key material under another kid (and optionally another declared alg)."""
        return SigningKey(self.material, kid, self.alg, self.jwk_alg if jwk_alg is ... else jwk_alg)

    def signature(self, signing_input: bytes, alg: str | None = None) -> bytes:
        alg = alg or self.alg
        m = self.material
        if alg in HMAC_ALGS:
            return hmac.new(m, signing_input, _HMAC[alg]).digest()
        if alg.startswith("RS"):
            return m.sign(signing_input, padding.PKCS1v15(), _HASHES[alg[2:]]())
        if alg.startswith("PS"):
            h = _HASHES[alg[2:]]()
            return m.sign(signing_input, padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.DIGEST_LENGTH), h)
        if alg.startswith("ES"):
            der = m.sign(signing_input, ec.ECDSA(_HASHES[alg[2:]]()))  # ES512: SHA-512 on P-521
            r, s = decode_dss_signature(der)
            size = (m.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if alg == "EdDSA":
            return m.sign(signing_input)
        raise ValueError(f"cannot sign {alg}")

    def sign(self, claims: dict, header: dict | None = None, *, exp: int | None = 3600,
             iat: bool = True) -> str:
        """A token of `claims`, signed with this key. `exp` (seconds from now; None: no exp) and
        `iat` are added unless `claims` has them; `header` overrides alg/kid/typ (a None value
        removes that member)."""
        now = int(time.time())
        payload = dict(claims)
        if exp is not None:
            payload.setdefault("exp", now + exp)
        if iat:
            payload.setdefault("iat", now)
        head: dict[str, Any] = {"alg": self.alg, "typ": "JWT"}
        if self.kid is not None:
            head["kid"] = self.kid
        for k, v in (header or {}).items():
            if v is None:
                head.pop(k, None)
            else:
                head[k] = v
        return sign_raw(head, payload, lambda data: self.signature(data, head["alg"] if head["alg"] in ALL_ALGS
                                                                     else self.alg))


def sign_raw(header: dict, payload: dict | str | bytes, signer) -> str:
    """`header` and `payload` (a dict, or the exact JSON text/bytes to encode) signed by `signer(bytes)`."""
    if isinstance(payload, dict):
        payload_b64 = b64url_json(payload)
    else:
        payload_b64 = b64url(payload.encode() if isinstance(payload, str) else payload)
    signing_input = f"{b64url_json(header)}.{payload_b64}"
    return f"{signing_input}.{b64url(signer(signing_input.encode()))}"


def forge(header: dict, payload: dict, signature: bytes = b"") -> str:
    """A token with any header (e.g. `alg: none`) and the given raw signature bytes."""
    return f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(signature)}"


def jwks_doc(signing_keys: Iterable[SigningKey]) -> dict:
    return {"keys": [k.jwk() for k in signing_keys]}


def jwks_json(signing_keys: Iterable[SigningKey]) -> str:
    """The JWKS document (JSON text) of `signing_keys`: what `jwks:` holds inline or a jwksUri serves."""
    return json.dumps(jwks_doc(signing_keys))


class KeyRing:
    """The session's key material: one key per algorithm (`get(alg)`), plus spares."""

    def __init__(self):
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_material = rsa_key
        # The rotation key: generated once too (RSA 2048 takes a noticeable fraction of a second).
        self.rsa_rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.p256 = ec.generate_private_key(ec.SECP256R1())
        self.p384 = ec.generate_private_key(ec.SECP384R1())
        self.p521 = ec.generate_private_key(ec.SECP521R1())
        self.ed25519 = ed25519.Ed25519PrivateKey.generate()
        self.secrets = {alg: hashlib.sha256(f"meshguard-test-{alg}".encode()).digest() * (int(alg[2:]) // 256 + 1)
                        for alg in HMAC_ALGS}
        self._by_alg: dict[str, SigningKey] = {}
        for alg in RSA_ALGS:
            self._by_alg[alg] = SigningKey(rsa_key, f"rsa-{alg.lower()}", alg, alg)
        self._by_alg["ES256"] = SigningKey(self.p256, "ec-p256", "ES256", "ES256")
        self._by_alg["ES384"] = SigningKey(self.p384, "ec-p384", "ES384", "ES384")
        self._by_alg["ES512"] = SigningKey(self.p521, "ec-p521", "ES512", "ES512")
        self._by_alg["EdDSA"] = SigningKey(self.ed25519, "ed25519", "EdDSA", "EdDSA")
        for alg in HMAC_ALGS:
            self._by_alg[alg] = SigningKey(self.secrets[alg], f"hmac-{alg.lower()}", alg, alg)

    def get(self, alg: str) -> SigningKey:
        return self._by_alg[alg]

    def all(self, algs: Iterable[str] = ALL_ALGS) -> list[SigningKey]:
        return [self._by_alg[a] for a in algs]

    def fresh_ec(self, kid: str, curve: str = "P-256") -> SigningKey:
        """A new EC key (fast to make): another issuer's key, a key nobody published..."""
        alg, c = {"P-256": ("ES256", ec.SECP256R1()), "P-384": ("ES384", ec.SECP384R1()),
                  "P-521": ("ES512", ec.SECP521R1())}[curve]
        return SigningKey(ec.generate_private_key(c), kid, alg, alg)

    def rotated_rsa(self, kid: str, alg: str = "RS256") -> SigningKey:
        return SigningKey(self.rsa_rotated, kid, alg, alg)

    def rsa_public_pem(self) -> bytes:
        """The RSA public key as PEM: the 'secret' of the RS256 -> HS256 confusion attack."""
        return self.rsa_material.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def ec_jwks_json() -> str:
    """A JWKS of one fresh EC P-256 key (cheap: for configurations that only need a valid document)."""
    return jwks_json([SigningKey(ec.generate_private_key(ec.SECP256R1()), "ec", "ES256", "ES256")])


@functools.lru_cache(maxsize=1)
def keys() -> KeyRing:
    """The session's keys, made on first use."""
    return KeyRing()
