"""Ed25519 signatures built point by point, for the tokens a signing library never makes.

A library signs with R = [r]B and a key A = [a]B of the prime-order subgroup. Where verifiers
differ is everything else: an R or a key with a small-order component, a key of small order
(anyone can sign for it), a key encoding that is not canonical. The arithmetic here is plain
affine twisted-Edwards arithmetic on Python integers (RFC 8032's curve: -x^2 + y^2 = 1 + d x^2 y^2
modulo p = 2^255 - 19): slow, short and easy to check, which is what a test oracle needs.
"""

from __future__ import annotations

import hashlib
import secrets

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int]
IDENTITY: Point = (0, 1)


def add(p: Point, q: Point) -> Point:
    (x1, y1), (x2, y2) = p, q
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


def neg(p: Point) -> Point:
    return (-p[0]) % P, p[1]


def mul(k: int, p: Point) -> Point:
    acc = IDENTITY
    while k:
        if k & 1:
            acc = add(acc, p)
        p = add(p, p)
        k >>= 1
    return acc


def x_of(y: int, sign: int) -> int | None:
    """The x of the point with this y and x's parity, None when there is none."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    xx = u * pow(v, P - 2, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if (x * x - xx) % P:
        x = x * SQRT_M1 % P
    if (x * x - xx) % P:
        return None
    return P - x if x & 1 != sign and x else x


B: Point = (x_of(4 * pow(5, P - 2, P) % P, 0), 4 * pow(5, P - 2, P) % P)


def encode(p: Point) -> bytes:
    return (p[1] | (p[0] & 1) << 255).to_bytes(32, "little")


def challenge(r: bytes, a: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + a + message).digest(), "little") % L


def order8_point() -> Point:
    """A point of order 8 (the torsion a cofactor-8 curve has besides its prime-order group)."""
    y = 2
    while True:
        x = x_of(y, 0)
        if x is not None:
            t = mul(L, (x, y))
            if mul(4, t) != IDENTITY:
                return t
        y += 1


def sign(a: int, message: bytes, r_offset: Point = IDENTITY, key: bytes | None = None) -> bytes:
    """R || S with the secret scalar `a`, R = [r]B + r_offset (IDENTITY: a signature any library
    makes). `key`: the encoding of A hashed into h (default: A's canonical one)."""
    r = secrets.randbelow(L)
    big_r = encode(add(mul(r, B), r_offset))
    a_bytes = key if key is not None else encode(mul(a, B))
    s = (r + challenge(big_r, a_bytes, message) * a) % L
    return big_r + s.to_bytes(32, "little")


def forge(key: bytes, key_point: Point, order: int, message: bytes) -> bytes:
    """A signature for a key of small `order` without any secret: [S]B - [h]A depends on h mod
    `order` only, so guess it, and keep the R whose h agrees."""
    while True:
        s = secrets.randbelow(L)
        sb = mul(s, B)
        for j in range(order):
            big_r = encode(add(sb, neg(mul(j, key_point))))
            if challenge(big_r, key, message) % order == j:
                return big_r + s.to_bytes(32, "little")
