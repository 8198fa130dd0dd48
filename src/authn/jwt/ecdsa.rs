//! ES256 / ES384 / ES512: ECDSA verification on the NIST curves P-256, P-384 and P-521, on
//! `modular.rs`'s Montgomery arithmetic.
//!
//! Why our own: RustCrypto's curve crates are generated per curve (p384 alone was ~120 KB of
//! the module, and there is no small P-521), while verification needs only one generic
//! prime-field implementation for all three. Only public values are involved (key, signature,
//! signed data): no constant-time concern.
//!
//! The checks are BoringSSL's `ECDSA_do_verify` as jwt_verify_lib calls it: the key is a point
//! on the curve with coordinates below p (checked when the JWKS is read); `r` and `s` are in
//! [1, n-1]; the hash of the curve's size (SHA-256, SHA-384, SHA-512), reduced below n, is
//! `e`; the signature holds when the x coordinate of `e/s * G + r/s * Q`, reduced mod n, is
//! `r`. Each curve is used with the hash of its algorithm only (`Alg::fits`), so no digest is
//! ever longer than the group order and none needs truncating.

use super::modular::{is_zero, less, limbs_be, Modulus};
use super::nist_field::Prime;
use super::sha::Hash;
use super::window::{digit, entry, signed_digits, top, TABLE};

/// The curves Envoy's jwt_authn verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

/// Domain parameters, big-endian hex (SEC 2 / FIPS 186-4 D.1.2). a = -3 on all three.
struct Params {
    p: &'static str,
    /// The field's own arithmetic (`nist_field`), if it has one.
    prime: Option<Prime>,
    b: &'static str,
    gx: &'static str,
    gy: &'static str,
    n: &'static str,
}

const P256: Params = Params {
    p: "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
    prime: Some(Prime::P256),
    b: "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
    gx: "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
    gy: "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    n: "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
};

const P384: Params = Params {
    p: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe\
        ffffffff0000000000000000ffffffff",
    prime: Some(Prime::P384),
    b: "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875a\
        c656398d8a2ed19d2a85c8edd3ec2aef",
    gx: "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a38\
         5502f25dbf55296c3a545e3872760ab7",
    gy: "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c0\
         0a60b1ce1d7e819d7a431d7c90ea0e5f",
    n: "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf\
        581a0db248b0a77aecec196accc52973",
};

const P521: Params = Params {
    p: "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
        ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
        ffff",
    prime: None,
    b: "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef1\
        09e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b50\
        3f00",
    gx: "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d\
         3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5\
         bd66",
    gy: "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e\
         662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd1\
         6650",
    n: "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
        fffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e9138\
        6409",
};

impl Curve {
    fn params(self) -> &'static Params {
        match self {
            Curve::P256 => &P256,
            Curve::P384 => &P384,
            Curve::P521 => &P521,
        }
    }

    /// Bytes of a coordinate, and of each half of a JWS signature.
    pub fn coordinate_bytes(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Curve::P256 => Hash::Sha256.digest(message),
            Curve::P384 => Hash::Sha384.digest(message),
            Curve::P521 => Hash::Sha512.digest(message),
        }
    }
}

/// The largest number of limbs a coordinate takes (P-521): the size of the scratch buffers.
const MAX: usize = 17;

/// Arithmetic modulo one prime of `N` limbs on fixed-size arrays (no allocation per
/// operation). Every curve is its own instance: P-256 8 limbs, P-384 12, P-521 17.
#[derive(Clone)]
struct Field<const N: usize> {
    m: Modulus,
    /// A prime with arithmetic of its own (`nist_field`: the same results, faster), for
    /// products, squares, sums and differences.
    prime: Option<Prime>,
    /// R^3 mod m, for `invert`.
    r3: [u32; N],
}

impl<const N: usize> Field<N> {
    fn new(hex_be: &str, prime: Option<Prime>) -> Option<Self> {
        let m = Modulus::from_be_bytes(&hex(hex_be)?)?;
        if m.limbs() != N || N > MAX {
            return None;
        }
        let mut field = Field {
            m,
            prime,
            r3: [0u32; N],
        };
        // to_mont(x) = xR: thrice from 1.
        let mut r = [0u32; N];
        *r.first_mut()? = 1;
        for _ in 0..3 {
            r = field.to_mont(&r);
        }
        field.r3 = r;
        Some(field)
    }

    /// A number below the modulus from big-endian bytes, as it is (not in Montgomery form).
    fn element(&self, be: &[u8]) -> Option<[u32; N]> {
        let limbs: [u32; N] = limbs_be(be, N)?.try_into().ok()?;
        less(&limbs, self.m.value()).then_some(limbs)
    }

    fn mul(&self, a: &[u32; N], b: &[u32; N]) -> [u32; N] {
        let (mut out, mut t) = ([0u32; N], [0u32; 2 * MAX + 1]);
        if !self.prime.is_some_and(|p| p.mul(a, b, &mut out)) {
            self.m.mul(a, b, &mut out, &mut t);
        }
        out
    }

    fn sqr(&self, a: &[u32; N]) -> [u32; N] {
        let (mut out, mut w) = ([0u32; N], [0u32; 2 * MAX + 1]);
        if !self.prime.is_some_and(|p| p.sqr(a, &mut out)) {
            self.m.sqr(a, &mut out, &mut w);
        }
        out
    }

    fn add(&self, a: &[u32; N], b: &[u32; N]) -> [u32; N] {
        let mut out = [0u32; N];
        if !self.prime.is_some_and(|p| p.add(a, b, &mut out)) {
            self.m.add(a, b, &mut out);
        }
        out
    }

    fn sub(&self, a: &[u32; N], b: &[u32; N]) -> [u32; N] {
        let mut out = [0u32; N];
        if !self.prime.is_some_and(|p| p.sub(a, b, &mut out)) {
            self.m.sub(a, b, &mut out);
        }
        out
    }

    fn to_mont(&self, a: &[u32; N]) -> [u32; N] {
        let (mut out, mut t) = ([0u32; N], [0u32; 2 * MAX + 1]);
        self.m.to_mont(a, &mut out, &mut t);
        out
    }

    fn out_of_mont(&self, a: &[u32; N]) -> [u32; N] {
        let (mut out, mut t) = ([0u32; N], [0u32; 2 * MAX + 1]);
        self.m.out_of_mont(a, &mut out, &mut t);
        out
    }

    /// `a^-1` in Montgomery form (`a` in Montgomery form, not zero): the plain inverse of
    /// aR is a^-1 R^-1, and a Montgomery product with R^3 makes it a^-1 R. Zero stays zero.
    fn invert(&self, a: &[u32; N]) -> [u32; N] {
        let mut plain = [0u32; N];
        for (o, v) in plain
            .iter_mut()
            .zip(self.m.invert_vartime(a).unwrap_or_default())
        {
            *o = v;
        }
        self.mul(&plain, &self.r3)
    }

    /// `a mod n` for `a` below 2n.
    fn reduce(&self, mut a: [u32; N]) -> [u32; N] {
        self.m.reduce(&mut a);
        a
    }
}

/// A point in Jacobian coordinates (x = X/Z^2, y = Y/Z^3), Montgomery form; Z = 0 is the
/// point at infinity.
#[derive(Clone, Copy)]
pub struct Point<const N: usize> {
    x: [u32; N],
    y: [u32; N],
    z: [u32; N],
}

/// A curve ready for verification: its field and group order (both of `N` limbs on these
/// curves), and b and G in Montgomery form.
#[derive(Clone)]
pub struct Group<const N: usize> {
    field: Field<N>,
    order: Field<N>,
    b: [u32; N],
    /// G, 3G, ..., 15G.
    g: Box<[Point<N>; TABLE]>,
    one: [u32; N],
}

impl<const N: usize> Group<N> {
    fn new(params: &Params) -> Option<Self> {
        let field = Field::<N>::new(params.p, params.prime)?;
        let order = Field::<N>::new(params.n, None)?;
        let to_mont = |hex_be: &str| -> Option<[u32; N]> {
            Some(field.to_mont(&field.element(&hex(hex_be)?)?))
        };
        let mut one = [0u32; N];
        *one.first_mut()? = 1;
        let one = field.to_mont(&one);
        let mut group = Group {
            b: to_mont(params.b)?,
            g: Box::new(
                [Point {
                    x: to_mont(params.gx)?,
                    y: to_mont(params.gy)?,
                    z: one,
                }; TABLE],
            ),
            one,
            field,
            order,
        };
        group.g = Box::new(group.odd_multiples(group.g.first()?));
        Some(group)
    }

    /// P, 3P, ..., 15P.
    fn odd_multiples(&self, p: &Point<N>) -> [Point<N>; TABLE] {
        let p2 = self.double(p);
        let mut table = [*p; TABLE];
        let mut acc = *p;
        for entry in table.iter_mut().skip(1) {
            acc = self.add(&acc, &p2);
            *entry = acc;
        }
        table
    }

    fn neg(&self, p: &Point<N>) -> Point<N> {
        Point {
            y: self.field.sub(&[0u32; N], &p.y),
            ..*p
        }
    }

    /// Whether the affine point (Montgomery form) satisfies y^2 = x^3 - 3x + b.
    fn on_curve(&self, x: &[u32; N], y: &[u32; N]) -> bool {
        let f = &self.field;
        let x3 = f.mul(&f.sqr(x), x);
        let three_x = f.add(&f.add(x, x), x);
        let rhs = f.add(&f.sub(&x3, &three_x), &self.b);
        f.sqr(y) == rhs
    }

    fn infinity(&self) -> Point<N> {
        Point {
            x: self.one,
            y: self.one,
            z: [0u32; N],
        }
    }

    fn is_infinity(p: &Point<N>) -> bool {
        is_zero(&p.z)
    }

    /// 2P, for a = -3 ("dbl-2001-b"). A point with y = 0 doubles to Z = 0, infinity.
    fn double(&self, p: &Point<N>) -> Point<N> {
        if Self::is_infinity(p) {
            return *p;
        }
        let f = &self.field;
        let delta = f.sqr(&p.z);
        let gamma = f.sqr(&p.y);
        let beta = f.mul(&p.x, &gamma);
        let t = f.mul(&f.sub(&p.x, &delta), &f.add(&p.x, &delta));
        let alpha = f.add(&f.add(&t, &t), &t);
        let beta2 = f.add(&beta, &beta);
        let beta4 = f.add(&beta2, &beta2);
        let beta8 = f.add(&beta4, &beta4);
        let x3 = f.sub(&f.sqr(&alpha), &beta8);
        let yz = f.add(&p.y, &p.z);
        let z3 = f.sub(&f.sub(&f.sqr(&yz), &gamma), &delta);
        let gamma_sq = f.sqr(&gamma);
        let g2 = f.add(&gamma_sq, &gamma_sq);
        let g4 = f.add(&g2, &g2);
        let g8 = f.add(&g4, &g4);
        let y3 = f.sub(&f.mul(&alpha, &f.sub(&beta4, &x3)), &g8);
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// P + Q ("add-2007-bl"), with the cases the formula leaves out: either point at
    /// infinity, P = Q (doubling) and P = -Q (infinity).
    fn add(&self, p: &Point<N>, q: &Point<N>) -> Point<N> {
        if Self::is_infinity(p) {
            return *q;
        }
        if Self::is_infinity(q) {
            return *p;
        }
        let f = &self.field;
        let z1z1 = f.sqr(&p.z);
        let z2z2 = f.sqr(&q.z);
        let u1 = f.mul(&p.x, &z2z2);
        let u2 = f.mul(&q.x, &z1z1);
        let s1 = f.mul(&f.mul(&p.y, &q.z), &z2z2);
        let s2 = f.mul(&f.mul(&q.y, &p.z), &z1z1);
        let h = f.sub(&u2, &u1);
        let s_diff = f.sub(&s2, &s1);
        if is_zero(&h) {
            return if is_zero(&s_diff) {
                self.double(p)
            } else {
                self.infinity()
            };
        }
        let rr = f.add(&s_diff, &s_diff);
        let h2 = f.add(&h, &h);
        let i = f.sqr(&h2);
        let j = f.mul(&h, &i);
        let v = f.mul(&u1, &i);
        let x3 = f.sub(&f.sub(&f.sqr(&rr), &j), &f.add(&v, &v));
        let s1j = f.mul(&s1, &j);
        let y3 = f.sub(&f.mul(&rr, &f.sub(&v, &x3)), &f.add(&s1j, &s1j));
        let zz = f.add(&p.z, &q.z);
        let z3 = f.mul(&f.sub(&f.sub(&f.sqr(&zz), &z1z1), &z2z2), &h);
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// `a*G + b*Q`, Q given as its table of odd multiples: one doubling per digit position
    /// and one addition per nonzero signed digit of either scalar.
    fn double_mul(&self, a: &[u32; N], q: &[Point<N>; TABLE], b: &[u32; N]) -> Point<N> {
        let (da, db) = (signed_digits(a), signed_digits(b));
        let mut acc = self.infinity();
        for i in (0..=top(&da, &db)).rev() {
            acc = self.double(&acc);
            for (d, table) in [(digit(&da, i), &*self.g), (digit(&db, i), q)] {
                if let Some(p) = entry(table, d) {
                    acc = self.add(&acc, &if d < 0 { self.neg(p) } else { *p });
                }
            }
        }
        acc
    }

    /// The affine point (Montgomery form) of big-endian coordinates, if on the curve.
    fn point(&self, x: &[u8], y: &[u8]) -> Option<Point<N>> {
        let f = &self.field;
        let x = f.to_mont(&f.element(x)?);
        let y = f.to_mont(&f.element(y)?);
        self.on_curve(&x, &y).then_some(Point { x, y, z: self.one })
    }

    /// ECDSA verification of `r || s` over `digest` with the public point `q`.
    fn verify(
        &self,
        q: &[Point<N>; TABLE],
        digest: &[u8],
        signature: &[u8],
        size: usize,
    ) -> Option<bool> {
        if signature.len() != 2 * size {
            return Some(false);
        }
        let (r_be, s_be) = signature.split_at(size);
        // r and s in [1, n-1]: zero would make every key verify (CVE-2022-21449).
        let n = &self.order;
        let r = n.element(r_be)?;
        let s = n.element(s_be)?;
        if is_zero(&r) || is_zero(&s) {
            return Some(false);
        }
        // e: the digest as a number, below 2n (the digest has at most the order's bits), so one
        // subtraction reduces it.
        let e: [u32; N] = limbs_be(digest, N)?.try_into().ok()?;
        let e = n.reduce(e);
        // w = 1/s in Montgomery form; a Montgomery product of a plain number and w is plain.
        let w = n.invert(&n.to_mont(&s));
        let u1 = n.mul(&e, &w);
        let u2 = n.mul(&r, &w);
        let point = self.double_mul(&u1, q, &u2);
        if Self::is_infinity(&point) {
            return Some(false);
        }
        let f = &self.field;
        let zinv = f.invert(&point.z);
        let x = f.out_of_mont(&f.mul(&point.x, &f.sqr(&zinv)));
        // x < p < 2n on these curves: one subtraction reduces it mod n.
        Some(n.reduce(x) == r)
    }
}

/// A public key: a point of the curve, checked when the JWKS is read.
#[derive(Clone)]
pub enum EcKey {
    P256(Group<8>, Box<[Point<8>; TABLE]>),
    P384(Group<12>, Box<[Point<12>; TABLE]>),
    P521(Group<17>, Box<[Point<17>; TABLE]>),
}

impl std::fmt::Debug for EcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.curve() {
            Curve::P256 => "P256",
            Curve::P384 => "P384",
            Curve::P521 => "P521",
        })
    }
}

impl EcKey {
    /// From the affine coordinates, big-endian, each exactly the curve's coordinate size.
    /// `None` unless both are below p and the point is on the curve (which, every curve here
    /// having cofactor 1, puts it in the group).
    pub fn new(curve: Curve, x: &[u8], y: &[u8]) -> Option<Self> {
        let params = curve.params();
        Some(match curve {
            Curve::P256 => {
                let g = Group::<8>::new(params)?;
                let q = Box::new(g.odd_multiples(&g.point(x, y)?));
                EcKey::P256(g, q)
            }
            Curve::P384 => {
                let g = Group::<12>::new(params)?;
                let q = Box::new(g.odd_multiples(&g.point(x, y)?));
                EcKey::P384(g, q)
            }
            Curve::P521 => {
                let g = Group::<17>::new(params)?;
                let q = Box::new(g.odd_multiples(&g.point(x, y)?));
                EcKey::P521(g, q)
            }
        })
    }

    pub fn curve(&self) -> Curve {
        match self {
            EcKey::P256(..) => Curve::P256,
            EcKey::P384(..) => Curve::P384,
            EcKey::P521(..) => Curve::P521,
        }
    }

    /// Verifies the JWS signature `r || s` (each half the coordinate size) over `message`,
    /// hashed with the curve's hash.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let curve = self.curve();
        let digest = curve.digest(message);
        let size = curve.coordinate_bytes();
        match self {
            EcKey::P256(g, q) => g.verify(q, &digest, signature, size),
            EcKey::P384(g, q) => g.verify(q, &digest, signature, size),
            EcKey::P521(g, q) => g.verify(q, &digest, signature, size),
        }
        .unwrap_or(false)
    }
}

/// Big-endian bytes from hex digits; `None` for anything else (the constants above only).
fn hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let d = |c: u8| (c as char).to_digit(16);
            match pair {
                [hi, lo] => Some((d(*hi)? * 16 + d(*lo)?) as u8),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecdsa_core::signature::Signer;

    // The reference implementations come in as dev-dependencies; their shared `ecdsa` crate
    // is reached through p256's re-export.
    use p256::ecdsa as ecdsa_core;

    fn rng(seed: u64) -> impl FnMut() -> u8 {
        let mut next = crate::authn::jwt::tests::xorshift(seed);
        move || next() as u8
    }

    /// a * a^-1 = 1 in each field and group order (P-256's field on its own products), and
    /// zero has no inverse (it stays zero).
    #[test]
    fn inverses() {
        fn check<const N: usize>(hex_be: &str, prime: Option<Prime>) {
            let f = Field::<N>::new(hex_be, prime).unwrap();
            let mut next = rng(7);
            let mut one = [0u32; N];
            one[0] = 1;
            for _ in 0..64 {
                let bytes: Vec<u8> = (0..4 * N).map(|_| next()).collect();
                let Some(a) = f.element(&bytes) else { continue };
                if is_zero(&a) {
                    continue;
                }
                let am = f.to_mont(&a);
                assert_eq!(f.out_of_mont(&f.mul(&am, &f.invert(&am))), one, "{hex_be}");
            }
        }
        let f = Field::<8>::new(P256.n, None).unwrap();
        assert!(is_zero(&f.invert(&[0u32; 8])));
        check::<8>(P256.p, P256.prime);
        check::<8>(P256.n, None);
        check::<12>(P384.p, P384.prime);
        check::<17>(P521.n, None);
    }

    /// The key as meshguard reads it, from an uncompressed SEC1 point.
    fn key(curve: Curve, sec1: &[u8]) -> EcKey {
        let size = curve.coordinate_bytes();
        assert_eq!(sec1.len(), 1 + 2 * size);
        EcKey::new(curve, &sec1[1..1 + size], &sec1[1 + size..]).expect("a valid point")
    }

    /// Tampered signatures: every bit position class, swapped halves, zeros, r and s
    /// replaced by n or above.
    fn tampered(good: &[u8], n: &[u8]) -> Vec<Vec<u8>> {
        let half = good.len() / 2;
        let mut out = Vec::new();
        for i in [0, 1, half - 1, half, half + 1, good.len() - 1] {
            let mut bad = good.to_vec();
            bad[i] ^= 0x01;
            out.push(bad);
        }
        out.push([&good[half..], &good[..half]].concat());
        out.push(vec![0; good.len()]);
        out.push([&good[..half], &vec![0; half][..]].concat());
        out.push([&vec![0; half][..], &good[half..]].concat());
        out.push([n, &good[half..]].concat());
        out.push([&good[..half], n].concat());
        out.push(vec![0xff; good.len()]);
        out.push(good[..good.len() - 1].to_vec());
        out.push([good, &[0][..]].concat());
        out
    }

    /// `n - s`: ECDSA's other valid `s` (BoringSSL accepts both, as the standard does).
    fn negate_s(good: &[u8], n_hex: &str) -> Vec<u8> {
        let half = good.len() / 2;
        let n = rsa::BigUint::from_bytes_be(&hex(n_hex).unwrap());
        let s = rsa::BigUint::from_bytes_be(&good[half..]);
        let neg = (n - s).to_bytes_be();
        let mut out = good[..half].to_vec();
        out.extend(std::iter::repeat_n(0, half - neg.len()));
        out.extend(neg);
        out
    }

    fn check_curve(
        curve: Curve,
        n_hex: &str,
        mut sign: impl FnMut(&[u8]) -> (Vec<u8>, Vec<u8>),
        messages: usize,
    ) {
        let n = hex(n_hex).unwrap();
        let n = left_pad(&n, curve.coordinate_bytes());
        for m in 0..messages {
            let message = format!("header.payload-{m}");
            let (sec1, good) = sign(message.as_bytes());
            let k = key(curve, &sec1);
            assert!(k.verify(message.as_bytes(), &good), "{curve:?}: valid #{m}");
            assert!(k.verify(message.as_bytes(), &negate_s(&good, n_hex)));
            assert!(!k.verify(b"other", &good), "{curve:?}: other message");
            for (i, bad) in tampered(&good, &n).iter().enumerate() {
                assert!(
                    !k.verify(message.as_bytes(), bad),
                    "{curve:?}: tampered #{i}"
                );
            }
        }
    }

    fn left_pad(b: &[u8], size: usize) -> Vec<u8> {
        let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
        let mut out = vec![0; size - (b.len() - first)];
        out.extend_from_slice(&b[first..]);
        out
    }

    #[test]
    fn p256_agrees_with_the_p256_crate() {
        let mut next = rng(1);
        check_curve(
            Curve::P256,
            P256.n,
            |msg| {
                let secret: Vec<u8> = (0..32).map(|_| next()).collect();
                let sk = p256::ecdsa::SigningKey::from_slice(&secret).unwrap();
                let sig: p256::ecdsa::Signature = sk.sign(msg);
                let point = sk.verifying_key().to_encoded_point(false);
                (point.as_bytes().to_vec(), sig.to_bytes().to_vec())
            },
            6,
        );
    }

    #[test]
    fn p384_agrees_with_the_p384_crate() {
        let mut next = rng(2);
        check_curve(
            Curve::P384,
            P384.n,
            |msg| {
                let secret: Vec<u8> = (0..48).map(|_| next()).collect();
                let sk = p384::ecdsa::SigningKey::from_slice(&secret).unwrap();
                let sig: p384::ecdsa::Signature = p384::ecdsa::signature::Signer::sign(&sk, msg);
                let point = sk.verifying_key().to_encoded_point(false);
                (point.as_bytes().to_vec(), sig.to_bytes().to_vec())
            },
            3,
        );
    }

    #[test]
    fn p521_agrees_with_the_p521_crate() {
        let mut next = rng(3);
        check_curve(
            Curve::P521,
            P521.n,
            |msg| {
                let mut secret: Vec<u8> = (0..66).map(|_| next()).collect();
                secret[0] &= 1;
                let sk = p521::ecdsa::SigningKey::from_slice(&secret).unwrap();
                let sig: p521::ecdsa::Signature = p521::ecdsa::signature::Signer::sign(&sk, msg);
                let vk = p521::ecdsa::VerifyingKey::from(&sk);
                let point = vk.to_encoded_point(false);
                (point.as_bytes().to_vec(), sig.to_bytes().to_vec())
            },
            2,
        );
    }

    fn generator_checks<const N: usize>(params: &Params) {
        let g = Group::<N>::new(params).unwrap();
        let gen = g.g[0];
        assert!(g.on_curve(&gen.x, &gen.y));
        let f = &g.field;
        let affine = |p: &Point<N>| {
            let zi = f.invert(&p.z);
            (
                f.mul(&p.x, &f.sqr(&zi)),
                f.mul(&p.y, &f.mul(&f.sqr(&zi), &zi)),
            )
        };
        // n*G = (n-1)*G + G, and (n-1)*G = -G: computed through double_mul with a = n-1.
        let mut n_minus_1: [u32; N] = g.order.m.value().try_into().unwrap();
        n_minus_1[0] -= 1;
        let minus_g = g.double_mul(&n_minus_1, &g.g, &[0u32; N]);
        assert!(Group::is_infinity(&g.add(&minus_g, &gen)));
        assert!(affine(&minus_g) == affine(&g.neg(&gen)));
        assert!(!Group::is_infinity(&g.double(&gen)));
        // G + G by addition is G doubled; the table holds G, 3G, ..., 15G.
        let twice = g.add(&gen, &gen);
        assert!(affine(&twice) == affine(&g.double(&gen)));
        let mut k = gen;
        for (i, entry) in g.g.iter().enumerate() {
            assert!(affine(entry) == affine(&k), "{}G", 2 * i + 1);
            k = g.add(&k, &twice);
        }
        // a*G + b*G through both tables: 15G + 17G = 32G (a carry past the window), and the
        // sum of two scalars' multiples is the multiple of their sum.
        let mut fifteen = [0u32; N];
        fifteen[0] = 15;
        let mut seventeen = [0u32; N];
        seventeen[0] = 17;
        let mut thirty_two = gen;
        for _ in 0..5 {
            thirty_two = g.double(&thirty_two);
        }
        let sum = g.double_mul(&fifteen, &g.g, &seventeen);
        assert!(affine(&sum) == affine(&thirty_two));
        // G + (-G) is infinity.
        assert!(Group::is_infinity(&g.add(&gen, &g.neg(&gen))));
    }

    #[test]
    fn the_generator_is_on_each_curve_and_n_times_it_is_infinity() {
        generator_checks::<8>(&P256);
        generator_checks::<12>(&P384);
        generator_checks::<17>(&P521);
    }

    #[test]
    fn points_off_the_curve_or_out_of_the_field_are_refused() {
        let sk = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
        let point = sk.verifying_key().to_encoded_point(false);
        let (x, y) = (&point.as_bytes()[1..33], &point.as_bytes()[33..]);
        assert!(EcKey::new(Curve::P256, x, y).is_some());
        let mut y_bad = y.to_vec();
        y_bad[31] ^= 1;
        assert!(EcKey::new(Curve::P256, x, &y_bad).is_none());
        // The same point on another curve is not on it.
        let mut x48 = vec![0; 16];
        x48.extend_from_slice(x);
        let mut y48 = vec![0; 16];
        y48.extend_from_slice(y);
        assert!(EcKey::new(Curve::P384, &x48, &y48).is_none());
        // p itself, and coordinates one byte too long.
        let p = hex(P256.p).unwrap();
        assert!(EcKey::new(Curve::P256, &p, y).is_none());
        assert!(EcKey::new(Curve::P256, &[&[1][..], x].concat(), y).is_none());
        // (0, sqrt(b)) style garbage and all-zero coordinates.
        assert!(EcKey::new(Curve::P256, &[0; 32], &[0; 32]).is_none());
    }

    /// The same key's signature by a key whose point is -Q does not verify (y negated).
    #[test]
    fn the_negated_key_does_not_verify() {
        let sk = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
        let sig: p256::ecdsa::Signature = sk.sign(b"m");
        let point = sk.verifying_key().to_encoded_point(false);
        let (x, y) = (&point.as_bytes()[1..33], &point.as_bytes()[33..]);
        let p = rsa::BigUint::from_bytes_be(&hex(P256.p).unwrap());
        let neg_y = left_pad(&(p - rsa::BigUint::from_bytes_be(y)).to_bytes_be(), 32);
        let neg = EcKey::new(Curve::P256, x, &neg_y).unwrap();
        assert!(!neg.verify(b"m", &sig.to_bytes()));
        assert!(EcKey::new(Curve::P256, x, y)
            .unwrap()
            .verify(b"m", &sig.to_bytes()));
    }
}
