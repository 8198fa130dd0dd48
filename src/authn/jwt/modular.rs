//! Arithmetic modulo an odd number in Montgomery form, on 32-bit limbs (wasm multiplies
//! 32x32->64 natively): what ES* (`ecdsa.rs`) verification runs on. RS* and PS* exponentiate
//! with `modexp.rs`'s lazy-carry 27-bit limbs instead.
//!
//! Only public values ever pass through here (keys, signatures, hashes of signed data), so
//! nothing needs to be constant-time. Numbers are little-endian limb slices of the modulus'
//! length; every operation takes operands below the modulus and returns a result below it.

/// An odd modulus ready for Montgomery multiplication.
#[derive(Clone, PartialEq, Eq)]
pub struct Modulus {
    /// The modulus, least significant limb first; the top limb is not zero.
    n: Vec<u32>,
    /// `-n^-1 mod 2^32`.
    n0inv: u32,
    /// `R^2 mod n`, R = 2^(32 * limbs): brings a value into Montgomery form.
    r2: Vec<u32>,
}

impl std::fmt::Debug for Modulus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Modulus({} limbs)", self.n.len())
    }
}

impl Modulus {
    /// From big-endian bytes (leading zeros allowed). `None` for an even modulus or one
    /// below 3: neither has a Montgomery form worth having.
    pub fn from_be_bytes(bytes: &[u8]) -> Option<Self> {
        let first = bytes.iter().position(|&b| b != 0)?;
        let digits = bytes.get(first..)?;
        let n = limbs_be(digits, digits.len().div_ceil(4))?;
        let n0 = *n.first()?;
        if n0 & 1 == 0 || (n.len() == 1 && n0 < 3) {
            return None;
        }
        // n0^-1 mod 2^32 by Newton's iteration (each step doubles the correct bits).
        let mut inv: u32 = 1;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(inv)));
        }
        let len = n.len();
        let mut m = Modulus {
            n,
            n0inv: inv.wrapping_neg(),
            r2: vec![0; len],
        };
        m.r2 = m.compute_r2();
        Some(m)
    }

    /// The number of limbs every operand has.
    pub fn limbs(&self) -> usize {
        self.n.len()
    }

    /// The modulus' limbs.
    pub fn value(&self) -> &[u32] {
        &self.n
    }

    /// `R^2 mod n`: R mod n by doubling 1, which is the Montgomery form of 1; doubling that
    /// `j` more times gives the form of 2^j, and `i` Montgomery squarings the form of
    /// 2^(j * 2^i). With j * 2^i = 32 * limbs, that is the form of R: R^2 mod n.
    fn compute_r2(&self) -> Vec<u32> {
        let len = self.n.len();
        let total = 32 * len;
        let i = total.trailing_zeros() as usize;
        let j = total >> i;
        let mut x = vec![0u32; len];
        if let Some(lo) = x.first_mut() {
            *lo = 1;
        }
        for _ in 0..total + j {
            self.double_in_place(&mut x);
        }
        let mut out = vec![0u32; len];
        let mut w = vec![0u32; 2 * len + 1];
        for _ in 0..i {
            self.sqr(&x, &mut out, &mut w);
            std::mem::swap(&mut x, &mut out);
        }
        x
    }

    /// `x = 2x mod n`.
    fn double_in_place(&self, x: &mut [u32]) {
        let mut top = 0u32;
        for limb in x.iter_mut() {
            let next = *limb >> 31;
            *limb = (*limb << 1) | top;
            top = next;
        }
        self.reduce_once(x, top != 0);
    }

    /// `a * b / R mod n` into `out`. `w` is scratch of at least `2 * limbs + 1`. The whole
    /// product first, then the reduction (separated operand scanning, as `sqr`): no shifting
    /// of the accumulator at every limb.
    pub fn mul(&self, a: &[u32], b: &[u32], out: &mut [u32], w: &mut [u32]) {
        let len = self.n.len();
        let Some(w) = w.get_mut(..2 * len + 1) else {
            return;
        };
        w.fill(0);
        for (i, &bi) in b.iter().enumerate() {
            let bi = u64::from(bi);
            let mut c = 0u64;
            if let Some(row) = w.get_mut(i..i + len) {
                for (wk, &aj) in row.iter_mut().zip(a) {
                    let s = u64::from(*wk) + u64::from(aj) * bi + c;
                    *wk = s as u32;
                    c = s >> 32;
                }
            }
            // Nothing was written at i + len yet: earlier rows end below it.
            if let Some(wk) = w.get_mut(i + len) {
                *wk = c as u32;
            }
        }
        self.redc(w, out);
    }

    /// `a * a / R mod n` into `out`. `w` is scratch of at least `2 * limbs + 1`. Each cross product is
    /// computed once and doubled, then the square is reduced (separated operand scanning):
    /// about three quarters of `mul`'s multiplications, and RS verification is mostly
    /// squarings.
    pub fn sqr(&self, a: &[u32], out: &mut [u32], w: &mut [u32]) {
        let len = self.n.len();
        let Some(w) = w.get_mut(..2 * len + 1) else {
            return;
        };
        w.fill(0);
        for (i, &ai) in a.iter().enumerate() {
            let ai = u64::from(ai);
            let mut c = 0u64;
            if let (Some(row), Some(rest)) = (w.get_mut(2 * i + 1..i + len), a.get(i + 1..)) {
                for (wk, &aj) in row.iter_mut().zip(rest) {
                    let s = u64::from(*wk) + ai * u64::from(aj) + c;
                    *wk = s as u32;
                    c = s >> 32;
                }
            }
            // Nothing was written at i + len yet: earlier rows end below it.
            if let Some(wk) = w.get_mut(i + len) {
                *wk = c as u32;
            }
        }
        // Double the cross products.
        let mut top = 0u32;
        for wk in w.iter_mut() {
            let next = *wk >> 31;
            *wk = (*wk << 1) | top;
            top = next;
        }
        // Add the squares of the limbs.
        let mut c = 0u64;
        for (pair, &ai) in w.chunks_exact_mut(2).zip(a) {
            let sq = u64::from(ai) * u64::from(ai);
            let mut add = [sq & 0xffff_ffff, sq >> 32];
            for (wk, x) in pair.iter_mut().zip(add.iter_mut()) {
                let s = u64::from(*wk) + *x + c;
                *wk = s as u32;
                c = s >> 32;
            }
        }
        if let Some(last) = w.get_mut(2 * len) {
            *last = last.wrapping_add(c as u32);
        }
        self.redc(w, out);
    }

    /// `w / R mod n` into `out`, for a product `w` (`2 * limbs + 1` limbs) of two numbers
    /// below n: adds q * n * 2^(32 i) so that limb i becomes zero, for each i, then keeps the
    /// upper half.
    fn redc(&self, w: &mut [u32], out: &mut [u32]) {
        let len = self.n.len();
        for i in 0..len {
            let q = u64::from(w.get(i).copied().unwrap_or(0).wrapping_mul(self.n0inv));
            let mut c = 0u64;
            if let Some(row) = w.get_mut(i..i + len) {
                for (wk, &nj) in row.iter_mut().zip(&self.n) {
                    let s = u64::from(*wk) + q * u64::from(nj) + c;
                    *wk = s as u32;
                    c = s >> 32;
                }
            }
            if let Some(upper) = w.get_mut(i + len..) {
                for wk in upper {
                    if c == 0 {
                        break;
                    }
                    let s = u64::from(*wk) + c;
                    *wk = s as u32;
                    c = s >> 32;
                }
            }
        }
        if let Some(high) = w.get(len..2 * len) {
            for (o, h) in out.iter_mut().zip(high) {
                *o = *h;
            }
        }
        let overflow = w.get(2 * len).copied().unwrap_or(0) != 0;
        self.reduce_once(out, overflow);
    }

    /// `a * R mod n` into `out`: the Montgomery form of `a` (< n). `w`: at least `2 * limbs + 1`.
    pub fn to_mont(&self, a: &[u32], out: &mut [u32], w: &mut [u32]) {
        self.mul(a, &self.r2, out, w);
    }

    /// `a / R mod n` into `out`: back from Montgomery form. `w`: at least `2 * limbs + 1`.
    pub fn out_of_mont(&self, a: &[u32], out: &mut [u32], w: &mut [u32]) {
        let one = self.one();
        self.mul(a, &one, out, w);
    }

    /// The number 1 (not in Montgomery form).
    pub fn one(&self) -> Vec<u32> {
        let mut one = vec![0u32; self.n.len()];
        if let Some(lo) = one.first_mut() {
            *lo = 1;
        }
        one
    }

    /// `a + b mod n` into `out`.
    pub fn add(&self, a: &[u32], b: &[u32], out: &mut [u32]) {
        let mut c = 0u64;
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            let s = u64::from(x) + u64::from(y) + c;
            *o = s as u32;
            c = s >> 32;
        }
        self.reduce_once(out, c != 0);
    }

    /// `a - b mod n` into `out`.
    pub fn sub(&self, a: &[u32], b: &[u32], out: &mut [u32]) {
        let mut borrow = 0u64;
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            let d = u64::from(x).wrapping_sub(u64::from(y)).wrapping_sub(borrow);
            *o = d as u32;
            borrow = d >> 63;
        }
        if borrow != 0 {
            // Wrapped below zero: add n back (the carry out cancels the borrow).
            let mut c = 0u64;
            for (o, &nj) in out.iter_mut().zip(&self.n) {
                let s = u64::from(*o) + u64::from(nj) + c;
                *o = s as u32;
                c = s >> 32;
            }
        }
    }

    /// `a mod n` for `a` below 2n, in place.
    pub fn reduce(&self, a: &mut [u32]) {
        self.reduce_once(a, false);
    }

    /// Subtracts n from `out` if it is not below n (or overflowed a limb): sums and the
    /// results of `mul` and `sqr` are below 2n.
    fn reduce_once(&self, out: &mut [u32], overflow: bool) {
        if overflow || !less(out, &self.n) {
            let mut borrow = 0u64;
            for (o, &nj) in out.iter_mut().zip(&self.n) {
                let d = u64::from(*o)
                    .wrapping_sub(u64::from(nj))
                    .wrapping_sub(borrow);
                *o = d as u32;
                borrow = d >> 63;
            }
        }
    }
}

impl Modulus {
    /// `a^-1 mod n` for a prime n and `a` below it, not zero, as plain numbers (not Montgomery
    /// form): the binary extended Euclidean algorithm, in variable time (public values only),
    /// a fraction of Fermat's 1.5 products per bit. `None` when `a` is zero.
    pub fn invert_vartime(&self, a: &[u32]) -> Option<Vec<u32>> {
        let len = self.n.len();
        let mut u = a.get(..len)?.to_vec();
        if is_zero(&u) {
            return None;
        }
        // u = x1 * a and v = x2 * a (mod n) throughout; the one that reaches 1 holds the inverse.
        let mut v = self.n.clone();
        let mut x1 = self.one();
        let mut x2 = vec![0u32; len];
        let mut t = vec![0u32; len];
        while !is_one(&u) && !is_one(&v) {
            if is_zero(&u) || is_zero(&v) {
                return None;
            }
            while u.first().is_some_and(|l| l & 1 == 0) {
                shift_right(&mut u, 0);
                self.halve(&mut x1);
            }
            while v.first().is_some_and(|l| l & 1 == 0) {
                shift_right(&mut v, 0);
                self.halve(&mut x2);
            }
            if less(&u, &v) {
                sub_limbs(&mut v, &u);
                self.sub(&x2, &x1, &mut t);
                std::mem::swap(&mut x2, &mut t);
            } else {
                sub_limbs(&mut u, &v);
                self.sub(&x1, &x2, &mut t);
                std::mem::swap(&mut x1, &mut t);
            }
        }
        Some(if is_one(&u) { x1 } else { x2 })
    }

    /// `x / 2 mod n`: x itself when even, x + n (one bit longer) when odd.
    fn halve(&self, x: &mut [u32]) {
        if x.first().is_some_and(|l| l & 1 == 1) {
            let mut c = 0u64;
            for (o, &nj) in x.iter_mut().zip(&self.n) {
                let s = u64::from(*o) + u64::from(nj) + c;
                *o = s as u32;
                c = s >> 32;
            }
            shift_right(x, c as u32);
        } else {
            shift_right(x, 0);
        }
    }
}

/// `x >>= 1`, `top` shifted in as the new most significant bit.
fn shift_right(x: &mut [u32], top: u32) {
    let mut carry = top;
    for limb in x.iter_mut().rev() {
        let next = *limb & 1;
        *limb = (*limb >> 1) | (carry << 31);
        carry = next;
    }
}

/// `a -= b` for `a >= b`, same length.
fn sub_limbs(a: &mut [u32], b: &[u32]) {
    sub_limbs_of_width(a, b, u64::from(u32::MAX));
}

/// `a -= b`, same length, on limbs of `mask`'s width (32 bits here, 27 in modexp.rs): the
/// borrow out of the top limb is dropped, so the result is modulo the limbs' range.
pub(super) fn sub_limbs_of_width(a: &mut [u32], b: &[u32], mask: u64) {
    let mut borrow = 0u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = u64::from(*x)
            .wrapping_sub(u64::from(y))
            .wrapping_sub(borrow);
        *x = (d & mask) as u32;
        borrow = d >> 63;
    }
}

fn is_one(a: &[u32]) -> bool {
    a.split_first()
        .is_some_and(|(lo, rest)| *lo == 1 && is_zero(rest))
}

/// Big-endian `bytes` as exactly `len` little-endian limbs; `None` when they need more.
pub fn limbs_be(bytes: &[u8], len: usize) -> Option<Vec<u32>> {
    let mut out = vec![0u32; len];
    for (i, chunk) in bytes.rchunks(4).enumerate() {
        let mut b = [0u8; 4];
        for (d, s) in b.iter_mut().rev().zip(chunk.iter().rev()) {
            *d = *s;
        }
        let v = u32::from_be_bytes(b);
        match out.get_mut(i) {
            Some(limb) => *limb = v,
            None if v == 0 => {}
            None => return None,
        }
    }
    Some(out)
}

/// `a < b`, both little-endian limbs of the same length.
pub fn less(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// Whether every limb is zero.
pub fn is_zero(a: &[u32]) -> bool {
    a.iter().all(|&l| l == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::BigUint;

    fn big(limbs: &[u32]) -> BigUint {
        let bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
        BigUint::from_bytes_le(&bytes)
    }

    use crate::authn::jwt::tests::xorshift as rng;

    /// Every operation agrees with general big-integer arithmetic, on moduli of one limb to
    /// 8192 bits, including those whose top limb is small.
    #[test]
    fn operations_agree_with_big_integers() {
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        for bits in [31usize, 32, 33, 256, 384, 521, 1024, 2056, 8192] {
            let bytes = bits.div_ceil(8);
            let mut n_bytes: Vec<u8> = (0..bytes).map(|_| next() as u8).collect();
            let top_bits = bits - 8 * (bytes - 1);
            n_bytes[0] = (n_bytes[0] & ((1u16 << top_bits) - 1) as u8) | (1 << (top_bits - 1));
            *n_bytes.last_mut().unwrap() |= 1;
            let m = Modulus::from_be_bytes(&n_bytes).unwrap();
            let n = BigUint::from_bytes_be(&n_bytes);
            let len = m.limbs();
            let r = BigUint::from(1u32) << (32 * len);
            assert_eq!(big(&m.r2), (&r * &r) % &n, "{bits}: R^2");
            let mut t = vec![0u32; 2 * len + 1];
            let mut w = vec![0u32; 2 * len + 1];
            for _ in 0..6 {
                let mut rand_below = || {
                    let v: Vec<u8> = (0..bytes).map(|_| next() as u8).collect();
                    let v = BigUint::from_bytes_be(&v) % &n;
                    limbs_be(&v.to_bytes_be(), len).unwrap()
                };
                let (a, b) = (rand_below(), rand_below());
                let (ba, bb) = (big(&a), big(&b));
                let mut out = vec![0u32; len];
                m.mul(&a, &b, &mut out, &mut t);
                assert_eq!(big(&out) * &r % &n, (&ba * &bb) % &n, "{bits}: mul");
                m.sqr(&a, &mut out, &mut w);
                assert_eq!(big(&out) * &r % &n, (&ba * &ba) % &n, "{bits}: sqr");
                m.add(&a, &b, &mut out);
                assert_eq!(big(&out), (&ba + &bb) % &n, "{bits}: add");
                m.sub(&a, &b, &mut out);
                assert_eq!(big(&out), (&ba + &n - &bb) % &n, "{bits}: sub");
                let mut am = vec![0u32; len];
                m.to_mont(&a, &mut am, &mut t);
                assert_eq!(big(&am), (&ba * &r) % &n, "{bits}: to_mont");
                m.out_of_mont(&am, &mut out, &mut t);
                assert_eq!(out, a, "{bits}: from_mont");
            }
            // n - 1 is -1: its square is 1.
            let mut minus_one = m.value().to_vec();
            minus_one[0] -= 1;
            let mut am = vec![0u32; len];
            m.to_mont(&minus_one, &mut am, &mut t);
            let mut sq = vec![0u32; len];
            m.sqr(&am.clone(), &mut sq, &mut t);
            let mut out = vec![0u32; len];
            m.out_of_mont(&sq, &mut out, &mut t);
            assert_eq!(out, m.one());
        }
    }

    #[test]
    fn no_montgomery_form_for_even_or_tiny_moduli() {
        assert!(Modulus::from_be_bytes(&[0xf0, 0xf0]).is_none());
        assert!(Modulus::from_be_bytes(&[0, 1]).is_none());
        assert!(Modulus::from_be_bytes(&[0, 0]).is_none());
        assert!(Modulus::from_be_bytes(&[]).is_none());
        assert!(Modulus::from_be_bytes(&[3]).is_some());
    }

    #[test]
    fn byte_conversions() {
        assert_eq!(limbs_be(&[1, 2, 3, 4, 5], 2), Some(vec![0x0203_0405, 1]));
        assert_eq!(limbs_be(&[0, 0, 0, 0, 5], 1), Some(vec![5]));
        assert_eq!(limbs_be(&[1, 0, 0, 0, 5], 1), None);
    }
}
