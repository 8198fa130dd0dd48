//! Ed25519 signature verification (RFC 8032), answering exactly as BoringSSL's
//! `ED25519_verify`, which Envoy's jwt_authn runs for EdDSA tokens:
//!
//! - the public key is decoded as BoringSSL decodes it: a y at or above p is taken modulo p,
//!   an x of 0 with the sign bit set is accepted, and a point of small order is a key like
//!   any other;
//! - S must be below the group order L (and its top three bits clear);
//! - h = SHA-512(R || A || M) reduced modulo L, and the signature holds when the encoding of
//!   [S]B - [h]A is R's 32 bytes exactly: no cofactor, no second encoding of R.
//!
//! A general-purpose library is stricter or looser in places (one that rejects small-order
//! points, or accepts when [S]B - [h]A - R is a small-order point): a token one of them
//! accepts and Envoy refuses would be a wrong allow.
//!
//! Field elements are ten limbs of 26 and 25 bits alternately (radix 2^25.5), so that a
//! product of two limbs and a column of ten of them fit a u64: wasm multiplies 64x64->64
//! natively, where 51-bit limbs need 128-bit products, a call each. Only public values pass
//! through here: nothing is constant-time.

use super::modular::{less, limbs_be, Modulus};
use super::sha::Hash;
use super::window::{digit, entry, signed_digits, top, TABLE};
use std::sync::OnceLock;

/// An element of GF(2^255 - 19): limb i holds bits from `OFFSETS[i]`, each limb a little
/// above its width at most (every operation returns carried limbs).
#[derive(Clone, Copy)]
struct Fe([u64; 10]);

/// Where each limb starts: ceil(25.5 * i).
const OFFSETS: [usize; 10] = [0, 26, 51, 77, 102, 128, 153, 179, 204, 230];
const M26: u64 = (1 << 26) - 1;
const M25: u64 = (1 << 25) - 1;

/// p = 2^255 - 19, little-endian bytes.
const P: [u8; 32] = {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// d = -121665/121666, sqrt(-1) and the base point's coordinates, big-endian hex.
const D_HEX: &str = "52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3";
const SQRT_M1_HEX: &str = "2b8324804fc1df0b2b4d00993dfbd7a72f431806ad2fe478c4ee1b274a0ea0b0";
const BX_HEX: &str = "216936d3cd6e53fec0a4e231fdd6dc5c692cc7609525a7b2c9562d608f25d51a";
const BY_HEX: &str = "6666666666666666666666666666666666666666666666666666666666666658";
/// The group order L = 2^252 + 27742317777372353535851937790883648493, big-endian hex.
const L_HEX: &str = "1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed";

/// Carries every limb's excess into the next and the top's, times 19 (2^255 = 19 mod p),
/// into the bottom: limbs below 2^26 + 2^17 after. Written out, as `mul` is: as a loop it
/// took more time than the product.
fn carry(h: [u64; 10]) -> Fe {
    let [mut h0, mut h1, mut h2, mut h3, mut h4, mut h5, mut h6, mut h7, mut h8, mut h9] = h;
    h1 += h0 >> 26;
    h0 &= M26;
    h2 += h1 >> 25;
    h1 &= M25;
    h3 += h2 >> 26;
    h2 &= M26;
    h4 += h3 >> 25;
    h3 &= M25;
    h5 += h4 >> 26;
    h4 &= M26;
    h6 += h5 >> 25;
    h5 &= M25;
    h7 += h6 >> 26;
    h6 &= M26;
    h8 += h7 >> 25;
    h7 &= M25;
    h9 += h8 >> 26;
    h8 &= M26;
    h0 += 19 * (h9 >> 25);
    h9 &= M25;
    h1 += h0 >> 26;
    h0 &= M26;
    Fe([h0, h1, h2, h3, h4, h5, h6, h7, h8, h9])
}

impl Fe {
    const ZERO: Fe = Fe([0; 10]);
    const ONE: Fe = Fe([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

    /// 32 little-endian bytes, bit 255 ignored; a value at or above p is kept as it is (it
    /// stands for itself modulo p).
    fn from_bytes(b: &[u8; 32]) -> Fe {
        let mut limbs = [0u64; 10];
        for (i, (limb, &off)) in limbs.iter_mut().zip(&OFFSETS).enumerate() {
            let mut word = [0u8; 8];
            for (k, w) in word.iter_mut().enumerate() {
                *w = b.get(off / 8 + k).copied().unwrap_or(0);
            }
            let mask = if i % 2 == 0 { M26 } else { M25 };
            *limb = (u64::from_le_bytes(word) >> (off % 8)) & mask;
        }
        Fe(limbs)
    }

    fn from_hex(hex: &str) -> Fe {
        let mut le = be_bytes(hex);
        le.reverse();
        Fe::from_bytes(&le)
    }

    /// The canonical encoding: the value reduced below p, 32 little-endian bytes.
    fn to_bytes(self) -> [u8; 32] {
        // The limbs summed at their offsets into a 320-bit number (they may overlap a little).
        let mut acc = [0u64; 5];
        for (&limb, &off) in self.0.iter().zip(&OFFSETS) {
            let wide = u128::from(limb) << (off % 64);
            let parts = [wide as u64, (wide >> 64) as u64];
            let mut c = 0u128;
            for (k, a) in acc.iter_mut().enumerate().skip(off / 64) {
                let add = parts.get(k - off / 64).copied().unwrap_or(0);
                let sum = u128::from(*a) + u128::from(add) + c;
                *a = sum as u64;
                c = sum >> 64;
            }
        }
        let mut bytes = [0u8; 40];
        for (chunk, w) in bytes.chunks_exact_mut(8).zip(&acc) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        // Below 2^256 + small, so a few subtractions of p reduce it.
        let p40: [u8; 40] = {
            let mut p = [0u8; 40];
            for (d, s) in p.iter_mut().zip(&P) {
                *d = *s;
            }
            p
        };
        while !less_le(&bytes, &p40) {
            sub_le(&mut bytes, &p40);
        }
        let mut out = [0u8; 32];
        for (o, b) in out.iter_mut().zip(&bytes) {
            *o = *b;
        }
        out
    }

    fn add(self, b: Fe) -> Fe {
        let (a, b) = (self.0, b.0);
        carry([
            a[0] + b[0],
            a[1] + b[1],
            a[2] + b[2],
            a[3] + b[3],
            a[4] + b[4],
            a[5] + b[5],
            a[6] + b[6],
            a[7] + b[7],
            a[8] + b[8],
            a[9] + b[9],
        ])
    }

    /// `self - b`, as `self + 4p - b` so that no limb goes below zero.
    fn sub(self, b: Fe) -> Fe {
        const E: u64 = 4 * M26;
        const O: u64 = 4 * M25;
        let (a, b) = (self.0, b.0);
        carry([
            a[0] + 4 * (M26 - 18) - b[0],
            a[1] + O - b[1],
            a[2] + E - b[2],
            a[3] + O - b[3],
            a[4] + E - b[4],
            a[5] + O - b[5],
            a[6] + E - b[6],
            a[7] + O - b[7],
            a[8] + E - b[8],
            a[9] + O - b[9],
        ])
    }

    fn neg(self) -> Fe {
        Fe::ZERO.sub(self)
    }

    /// The product, written out column by column: a loop keeps its index arithmetic and
    /// runs at half the speed in V8 at opt-level "z". A pair of odd limbs meets one bit
    /// above the column's offset (times 2), and a column past the top wraps times 19.
    fn mul(self, g: Fe) -> Fe {
        let (f, g) = (self.0, g.0);
        let g19 = scale(&g, 19);
        let g2 = scale(&g, 2);
        let g38 = scale(&g, 38);
        carry([
            f[0] * g[0]
                + f[1] * g38[9]
                + f[2] * g19[8]
                + f[3] * g38[7]
                + f[4] * g19[6]
                + f[5] * g38[5]
                + f[6] * g19[4]
                + f[7] * g38[3]
                + f[8] * g19[2]
                + f[9] * g38[1],
            f[0] * g[1]
                + f[1] * g[0]
                + f[2] * g19[9]
                + f[3] * g19[8]
                + f[4] * g19[7]
                + f[5] * g19[6]
                + f[6] * g19[5]
                + f[7] * g19[4]
                + f[8] * g19[3]
                + f[9] * g19[2],
            f[0] * g[2]
                + f[1] * g2[1]
                + f[2] * g[0]
                + f[3] * g38[9]
                + f[4] * g19[8]
                + f[5] * g38[7]
                + f[6] * g19[6]
                + f[7] * g38[5]
                + f[8] * g19[4]
                + f[9] * g38[3],
            f[0] * g[3]
                + f[1] * g[2]
                + f[2] * g[1]
                + f[3] * g[0]
                + f[4] * g19[9]
                + f[5] * g19[8]
                + f[6] * g19[7]
                + f[7] * g19[6]
                + f[8] * g19[5]
                + f[9] * g19[4],
            f[0] * g[4]
                + f[1] * g2[3]
                + f[2] * g[2]
                + f[3] * g2[1]
                + f[4] * g[0]
                + f[5] * g38[9]
                + f[6] * g19[8]
                + f[7] * g38[7]
                + f[8] * g19[6]
                + f[9] * g38[5],
            f[0] * g[5]
                + f[1] * g[4]
                + f[2] * g[3]
                + f[3] * g[2]
                + f[4] * g[1]
                + f[5] * g[0]
                + f[6] * g19[9]
                + f[7] * g19[8]
                + f[8] * g19[7]
                + f[9] * g19[6],
            f[0] * g[6]
                + f[1] * g2[5]
                + f[2] * g[4]
                + f[3] * g2[3]
                + f[4] * g[2]
                + f[5] * g2[1]
                + f[6] * g[0]
                + f[7] * g38[9]
                + f[8] * g19[8]
                + f[9] * g38[7],
            f[0] * g[7]
                + f[1] * g[6]
                + f[2] * g[5]
                + f[3] * g[4]
                + f[4] * g[3]
                + f[5] * g[2]
                + f[6] * g[1]
                + f[7] * g[0]
                + f[8] * g19[9]
                + f[9] * g19[8],
            f[0] * g[8]
                + f[1] * g2[7]
                + f[2] * g[6]
                + f[3] * g2[5]
                + f[4] * g[4]
                + f[5] * g2[3]
                + f[6] * g[2]
                + f[7] * g2[1]
                + f[8] * g[0]
                + f[9] * g38[9],
            f[0] * g[9]
                + f[1] * g[8]
                + f[2] * g[7]
                + f[3] * g[6]
                + f[4] * g[5]
                + f[5] * g[4]
                + f[6] * g[3]
                + f[7] * g[2]
                + f[8] * g[1]
                + f[9] * g[0],
        ])
    }

    /// The square: each cross product once, doubled.
    fn sqr(self) -> Fe {
        let f = self.0;
        let f2 = scale(&f, 2);
        let f19 = scale(&f, 19);
        let f38 = scale(&f, 38);
        carry([
            f[0] * f[0]
                + f2[1] * f38[9]
                + f2[2] * f19[8]
                + f2[3] * f38[7]
                + f2[4] * f19[6]
                + f2[5] * f19[5],
            f2[0] * f[1] + f2[2] * f19[9] + f2[3] * f19[8] + f2[4] * f19[7] + f2[5] * f19[6],
            f2[0] * f[2]
                + f2[1] * f[1]
                + f2[3] * f38[9]
                + f2[4] * f19[8]
                + f2[5] * f38[7]
                + f[6] * f19[6],
            f2[0] * f[3] + f2[1] * f[2] + f2[4] * f19[9] + f2[5] * f19[8] + f2[6] * f19[7],
            f2[0] * f[4]
                + f2[1] * f2[3]
                + f[2] * f[2]
                + f2[5] * f38[9]
                + f2[6] * f19[8]
                + f2[7] * f19[7],
            f2[0] * f[5] + f2[1] * f[4] + f2[2] * f[3] + f2[6] * f19[9] + f2[7] * f19[8],
            f2[0] * f[6]
                + f2[1] * f2[5]
                + f2[2] * f[4]
                + f2[3] * f[3]
                + f2[7] * f38[9]
                + f[8] * f19[8],
            f2[0] * f[7] + f2[1] * f[6] + f2[2] * f[5] + f2[3] * f[4] + f2[8] * f19[9],
            f2[0] * f[8]
                + f2[1] * f2[7]
                + f2[2] * f[6]
                + f2[3] * f2[5]
                + f[4] * f[4]
                + f2[9] * f19[9],
            f2[0] * f[9] + f2[1] * f[8] + f2[2] * f[7] + f2[3] * f[6] + f2[4] * f[5],
        ])
    }

    fn sqr_n(self, n: usize) -> Fe {
        let mut x = self;
        for _ in 0..n {
            x = x.sqr();
        }
        x
    }

    /// `(z^(2^250 - 1), z^11)`: the common part of the two exponentiations below.
    fn pow_2_250_minus_1(self) -> (Fe, Fe) {
        let z = self;
        let z2 = z.sqr();
        let z9 = z2.sqr_n(2).mul(z);
        let z11 = z9.mul(z2);
        let z_5 = z11.sqr().mul(z9); // 2^5 - 1
        let z_10 = z_5.sqr_n(5).mul(z_5);
        let z_20 = z_10.sqr_n(10).mul(z_10);
        let z_40 = z_20.sqr_n(20).mul(z_20);
        let z_50 = z_40.sqr_n(10).mul(z_10);
        let z_100 = z_50.sqr_n(50).mul(z_50);
        let z_200 = z_100.sqr_n(100).mul(z_100);
        let z_250 = z_200.sqr_n(50).mul(z_50);
        (z_250, z11)
    }

    /// `z^-1 = z^(p - 2) = z^(2^255 - 21)`.
    fn invert(self) -> Fe {
        let (z_250, z11) = self.pow_2_250_minus_1();
        z_250.sqr_n(5).mul(z11)
    }

    /// `z^((p - 5) / 8) = z^(2^252 - 3)`, for the square root in point decoding.
    fn pow_p58(self) -> Fe {
        let (z_250, _) = self.pow_2_250_minus_1();
        z_250.sqr_n(2).mul(self)
    }

    fn is_zero(self) -> bool {
        self.to_bytes() == [0; 32]
    }

    /// Whether the canonical value is odd ("negative" in RFC 8032's encoding).
    fn is_negative(self) -> bool {
        self.to_bytes()[0] & 1 == 1
    }
}

/// The 32 big-endian bytes of 64 hex digits (the constants above).
fn be_bytes(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    out
}

/// Every limb times `k`, written out: `array::map` stays a call at opt-level "z".
#[inline(always)]
fn scale(f: &[u64; 10], k: u64) -> [u64; 10] {
    [
        k * f[0],
        k * f[1],
        k * f[2],
        k * f[3],
        k * f[4],
        k * f[5],
        k * f[6],
        k * f[7],
        k * f[8],
        k * f[9],
    ]
}

/// `a < b`, little-endian byte strings of one length.
fn less_le(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b`, little-endian byte strings of one length, `a >= b`.
fn sub_le(a: &mut [u8], b: &[u8]) {
    let mut borrow = 0i16;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = i16::from(*x) - i16::from(y) - borrow;
        *x = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
}

struct Constants {
    d: Fe,
    d2: Fe,
    sqrt_m1: Fe,
    /// B, 3B, 5B, ..., 15B.
    base: [Cached; TABLE],
    /// L's Montgomery form (always there: L is odd; `None` would fail every verification).
    order: Option<Modulus>,
}

fn constants() -> &'static Constants {
    static C: OnceLock<Constants> = OnceLock::new();
    C.get_or_init(|| {
        let d = Fe::from_hex(D_HEX);
        let (x, y) = (Fe::from_hex(BX_HEX), Fe::from_hex(BY_HEX));
        Constants {
            d,
            d2: d.add(d),
            sqrt_m1: Fe::from_hex(SQRT_M1_HEX),
            base: odd_multiples(
                &Point {
                    x,
                    y,
                    z: Fe::ONE,
                    t: x.mul(y),
                },
                d.add(d),
            ),
            order: Modulus::from_be_bytes(&be_bytes(L_HEX)),
        }
    })
}

/// A point in extended coordinates (x = X/Z, y = Y/Z, T = XY/Z) of -x^2 + y^2 = 1 + d x^2 y^2.
#[derive(Clone, Copy)]
struct Point {
    x: Fe,
    y: Fe,
    z: Fe,
    t: Fe,
}

impl Point {
    const IDENTITY: Point = Point {
        x: Fe::ZERO,
        y: Fe::ONE,
        z: Fe::ONE,
        t: Fe::ZERO,
    };

    /// The point of a 32-byte encoding as BoringSSL's `x25519_ge_frombytes_vartime` reads it.
    fn decode(s: &[u8; 32]) -> Option<Point> {
        let c = constants();
        let y = Fe::from_bytes(s);
        let yy = y.sqr();
        let u = yy.sub(Fe::ONE);
        let v = yy.mul(c.d).add(Fe::ONE);
        // x = u v^3 (u v^7)^((p - 5) / 8), a square root of u / v when there is one.
        let v3 = v.sqr().mul(v);
        let mut x = u.mul(v3).mul(u.mul(v3.sqr().mul(v)).pow_p58());
        let vxx = v.mul(x.sqr());
        if !vxx.sub(u).is_zero() {
            if !vxx.add(u).is_zero() {
                return None;
            }
            x = x.mul(c.sqrt_m1);
        }
        // An x of 0 with the sign bit set stays 0 (RFC 8032 would refuse it; BoringSSL does not).
        if x.is_negative() != (s.get(31).is_some_and(|b| b >> 7 == 1)) {
            x = x.neg();
        }
        Some(Point {
            x,
            y,
            z: Fe::ONE,
            t: x.mul(y),
        })
    }

    /// The canonical encoding: y with x's parity in the top bit.
    fn encode(&self) -> [u8; 32] {
        let zinv = self.z.invert();
        let x = self.x.mul(zinv);
        let mut out = self.y.mul(zinv).to_bytes();
        if let Some(top) = out.get_mut(31) {
            *top |= u8::from(x.is_negative()) << 7;
        }
        out
    }

    fn neg(&self) -> Point {
        Point {
            x: self.x.neg(),
            y: self.y,
            z: self.z,
            t: self.t.neg(),
        }
    }

    /// P + Q, or P - Q ("add-2008-hwcd-3" for a = -1, Q cached): complete on this curve,
    /// doubling and the identity included.
    /// T only `with_t`: a doubling, which always comes next but for a second addition, does
    /// not read it.
    fn add(&self, q: &Cached, minus: bool, with_t: bool) -> Point {
        let (q_plus, q_minus, q_t) = if minus {
            (q.y_minus_x, q.y_plus_x, q.t2d.neg())
        } else {
            (q.y_plus_x, q.y_minus_x, q.t2d)
        };
        let a = self.y.sub(self.x).mul(q_minus);
        let b = self.y.add(self.x).mul(q_plus);
        let c = self.t.mul(q_t);
        let d = self.z.mul(q.z2);
        let (e, f, g, h) = (b.sub(a), d.sub(c), d.add(c), b.add(a));
        Point {
            x: e.mul(f),
            y: g.mul(h),
            z: f.mul(g),
            t: if with_t { e.mul(h) } else { Fe::ZERO },
        }
    }

    fn cached(&self, d2: Fe) -> Cached {
        Cached {
            y_plus_x: self.y.add(self.x),
            y_minus_x: self.y.sub(self.x),
            z2: self.z.add(self.z),
            t2d: self.t.mul(d2),
        }
    }

    /// 2P ("dbl-2008-hwcd" for a = -1), which does not read T; T only `with_t`.
    fn double(&self, with_t: bool) -> Point {
        let a = self.x.sqr();
        let b = self.y.sqr();
        let c = self.z.sqr();
        let c = c.add(c);
        let h = a.add(b);
        let e = h.sub(self.x.add(self.y).sqr());
        let g = a.sub(b);
        let f = c.add(g);
        Point {
            x: e.mul(f),
            y: g.mul(h),
            z: f.mul(g),
            t: if with_t { e.mul(h) } else { Fe::ZERO },
        }
    }
}

/// A point as additions take it: (Y + X, Y - X, 2Z, 2dT).
#[derive(Clone, Copy)]
struct Cached {
    y_plus_x: Fe,
    y_minus_x: Fe,
    z2: Fe,
    t2d: Fe,
}

/// P, 3P, 5P, ..., 15P: the odd multiples a width-5 signed window adds.
fn odd_multiples(p: &Point, d2: Fe) -> [Cached; TABLE] {
    let p2 = p.double(true).cached(d2);
    let mut table = [p.cached(d2); TABLE];
    let mut acc = *p;
    for entry in table.iter_mut().skip(1) {
        acc = acc.add(&p2, false, true);
        *entry = acc.cached(d2);
    }
    table
}

/// A public key: its 32 bytes, and the odd multiples of the negated point they decode to
/// (`None`: no point, and then no signature verifies, as in BoringSSL, which decodes the key
/// at each verification).
#[derive(Clone)]
pub struct Ed25519Key {
    bytes: [u8; 32],
    minus_a: Option<Box<[Cached; TABLE]>>,
}

impl Ed25519Key {
    /// A key of exactly 32 bytes (any content: what they decode to is checked at verification).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(Ed25519Key {
            bytes,
            minus_a: Point::decode(&bytes)
                .map(|a| Box::new(odd_multiples(&a.neg(), constants().d2))),
        })
    }

    /// Whether `signature` (64 bytes: R, then S) signs `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let (Some(minus_a), Ok(sig)) = (&self.minus_a, <&[u8; 64]>::try_from(signature)) else {
            return false;
        };
        let (r, s) = sig.split_at(32);
        let Some(order) = &constants().order else {
            return false;
        };
        // S in [0, L): one signature, not S + L too (its top three bits clear first).
        let Some(s_limbs) = scalar_limbs(s) else {
            return false;
        };
        if s.get(31).is_some_and(|b| b & 0xe0 != 0) || !less(&s_limbs, order.value()) {
            return false;
        }
        let digest = Hash::Sha512.digest_parts(&[r, &self.bytes, message]);
        let Some(h) = reduce_wide(order, &digest) else {
            return false;
        };
        let point = double_scalar_mul(&h, minus_a, &s_limbs, &constants().base);
        point.encode().as_slice() == r
    }
}

/// 32 little-endian bytes as eight little-endian 32-bit limbs.
fn scalar_limbs(le: &[u8]) -> Option<Vec<u32>> {
    let be: Vec<u8> = le.iter().rev().copied().collect();
    limbs_be(&be, 8)
}

/// A 64-byte little-endian hash modulo L: hi * 2^256 + lo, with 2^256 the Montgomery R of
/// an eight-limb modulus, is `to_mont(hi) + (lo mod L)`.
fn reduce_wide(order: &Modulus, digest: &[u8]) -> Option<Vec<u32>> {
    let (lo, hi) = (digest.get(..32)?, digest.get(32..64)?);
    let (mut hi_r, mut lo_mont, mut lo_mod, mut h) = ([0u32; 8], [0u32; 8], [0u32; 8], [0u32; 8]);
    let mut w = [0u32; 17];
    order.to_mont(&scalar_limbs(hi)?, &mut hi_r, &mut w);
    order.to_mont(&scalar_limbs(lo)?, &mut lo_mont, &mut w);
    order.out_of_mont(&lo_mont, &mut lo_mod, &mut w);
    order.add(&hi_r, &lo_mod, &mut h);
    Some(h.to_vec())
}

/// `[a]P + [b]Q` (tables of odd multiples of P and Q): one doubling per digit position and
/// an addition per nonzero digit of either.
fn double_scalar_mul(a: &[u32], p: &[Cached; TABLE], b: &[u32], q: &[Cached; TABLE]) -> Point {
    let (da, db) = (signed_digits(a), signed_digits(b));
    let mut acc = Point::IDENTITY;
    for i in (0..=top(&da, &db)).rev() {
        let (x, y) = (digit(&da, i), digit(&db, i));
        acc = acc.double(x != 0 || y != 0);
        if let Some(entry) = entry(p, x) {
            acc = acc.add(entry, x < 0, y != 0);
        }
        if let Some(entry) = entry(q, y) {
            acc = acc.add(entry, y < 0, false);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::jwt::tests::xorshift as rng;
    use rsa::BigUint;

    fn p() -> BigUint {
        (BigUint::from(1u32) << 255) - 19u32
    }

    fn value(f: Fe) -> BigUint {
        f.0.iter()
            .zip(&OFFSETS)
            .map(|(&l, &o)| BigUint::from(l) << o)
            .sum()
    }

    fn random_bytes(next: &mut impl FnMut() -> u64) -> [u8; 32] {
        let mut b = [0u8; 32];
        for x in b.iter_mut() {
            *x = next() as u8;
        }
        b
    }

    fn masked(mut b: [u8; 32]) -> BigUint {
        b[31] &= 0x7f;
        BigUint::from_bytes_le(&b)
    }

    /// Field arithmetic agrees with big integers modulo p, on random values and on values at
    /// or above p (a non-canonical y is taken as it is), single operations and chains.
    #[test]
    fn field_agrees_with_big_integers() {
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        let p = p();
        let (mut p_plus_one, mut p_minus_one) = (P, P);
        p_plus_one[0] += 1;
        p_minus_one[0] -= 1;
        let edge = [[0u8; 32], [0xff; 32], P, p_plus_one, p_minus_one];
        let canon = |f: Fe| BigUint::from_bytes_le(&f.to_bytes());
        for round in 0..400 {
            let (a, b) = match edge.get(round % 50) {
                Some(e) if round < 50 => (*e, random_bytes(&mut next)),
                _ => (random_bytes(&mut next), random_bytes(&mut next)),
            };
            let (fa, fb) = (Fe::from_bytes(&a), Fe::from_bytes(&b));
            let (va, vb) = (masked(a), masked(b));
            assert_eq!(value(fa), va);
            assert_eq!(canon(fa), &va % &p, "to_bytes {round}");
            assert_eq!(canon(fa.mul(fb)), (&va * &vb) % &p, "mul {round}");
            assert_eq!(canon(fa.sqr()), (&va * &va) % &p, "sqr {round}");
            assert_eq!(canon(fa.add(fb)), (&va + &vb) % &p, "add {round}");
            let minus_b = &p - &vb % &p;
            assert_eq!(canon(fa.sub(fb)), (&va + &minus_b) % &p, "sub {round}");
            // Sums and differences fed to products keep the limbs within bounds.
            let chained = fa.add(fb).mul(fa.sub(fb)).sqr().add(fa).mul(fb.neg());
            let prod = (&va + &vb) * (&va + &minus_b) % &p;
            let want = &prod * &prod;
            let want = (want + &va) * &minus_b % &p;
            assert_eq!(canon(chained), want, "chain {round}");
            if &va % &p != BigUint::from(0u32) {
                assert_eq!(
                    canon(fa.invert().mul(fa)),
                    BigUint::from(1u32),
                    "invert {round}"
                );
            }
        }
    }

    #[test]
    fn constants_are_the_curve() {
        let c = constants();
        let p = p();
        // d * 121666 = -121665 mod p; sqrt(-1)^2 = -1; the base point encodes as RFC 8032
        // says (y = 4/5, x even) and decodes back.
        let d = BigUint::from_bytes_le(&c.d.to_bytes());
        assert_eq!(d * 121666u32 % &p, &p - 121665u32);
        let i = BigUint::from_bytes_le(&c.sqrt_m1.to_bytes());
        assert_eq!(&i * &i % &p, &p - 1u32);
        let mut b = [0x66u8; 32];
        b[0] = 0x58;
        let base = Point::decode(&b).unwrap();
        assert_eq!(base.encode(), b);
        // L as the order, and [L]B is the identity.
        let order = c.order.as_ref().unwrap().value().to_vec();
        let l = BigUint::parse_bytes(L_HEX.as_bytes(), 16).unwrap();
        let limbs: BigUint = order
            .iter()
            .enumerate()
            .map(|(i, &w)| BigUint::from(w) << (32 * i))
            .sum();
        assert_eq!(limbs, l);
        let lb = double_scalar_mul(&order, &c.base, &[0u32; 8], &c.base);
        assert_eq!(lb.encode(), Point::IDENTITY.encode());
        // The table is B's: [1]B + [0]B = B, [15]B + [1]B = [16]B = 2^4 B.
        let one = [1u32, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            double_scalar_mul(&one, &c.base, &[0u32; 8], &c.base).encode(),
            b
        );
        let mut sixteen_b = base;
        for _ in 0..4 {
            sixteen_b = sixteen_b.double(true);
        }
        let fifteen = [15u32, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            double_scalar_mul(&fifteen, &c.base, &one, &c.base).encode(),
            sixteen_b.encode()
        );
    }

    /// A 64-byte hash modulo L, as big integers reduce it (hashes above L * 2^256 included).
    #[test]
    fn wide_reduction() {
        let mut next = rng(99);
        let order = constants().order.as_ref().unwrap();
        let l = BigUint::parse_bytes(L_HEX.as_bytes(), 16).unwrap();
        for round in 0..200 {
            let digest: Vec<u8> = match round {
                0 => vec![0xff; 64],
                1 => vec![0; 64],
                _ => (0..64).map(|_| next() as u8).collect(),
            };
            let h = reduce_wide(order, &digest).unwrap();
            let got: BigUint = h
                .iter()
                .enumerate()
                .map(|(i, &w)| BigUint::from(w) << (32 * i))
                .sum();
            assert_eq!(got, BigUint::from_bytes_le(&digest) % &l, "round {round}");
        }
    }

    /// Valid signatures of ed25519-compact verify here; a changed message, R or S, or
    /// another key does not.
    #[test]
    fn agrees_with_ed25519_compact() {
        let mut next = rng(42);
        for round in 0..40u8 {
            let seed = random_bytes(&mut next);
            let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
            let other =
                ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([round + 1; 32]));
            let message: Vec<u8> = (0..(usize::from(round) * 7))
                .map(|_| next() as u8)
                .collect();
            let sig = kp.sk.sign(&message, None);
            let key = Ed25519Key::from_slice(kp.pk.as_ref()).unwrap();
            assert!(key.verify(&message, sig.as_ref()), "round {round}");
            let other_key = Ed25519Key::from_slice(other.pk.as_ref()).unwrap();
            assert!(!other_key.verify(&message, sig.as_ref()));
            let mut changed = message.clone();
            changed.push(0);
            assert!(!key.verify(&changed, sig.as_ref()));
            for at in [0usize, 17, 31, 32, 45, 63] {
                let mut bad = sig.to_vec();
                bad[at] ^= 1 << (round % 8);
                assert!(!key.verify(&message, &bad), "round {round}, byte {at}");
            }
            assert!(!key.verify(&message, &sig.as_ref()[..63]));
        }
    }
}
