//! Montgomery arithmetic written for P-256's and P-384's primes: ES256 and ES384 spend nearly
//! all their time in it.
//!
//! Both primes are -1 modulo 2^32 and sparse in 32-bit words:
//!
//! - P-256: p = 2^256 - 2^224 + 2^192 + 2^96 - 1
//! - P-384: p = 2^384 - 2^128 - 2^96 + 2^32 - 1
//!
//! so a Montgomery reduction row's digit is the word itself, and adding digit * p is a few
//! additions and subtractions of it at fixed words: no multiplication. Products and squares
//! are written out column by column (as loops at opt-level "z" they ran at half the speed in
//! V8). The results are exactly `Modulus`'s for these moduli (R = 2^(32 * words)): the
//! generic code is the reference the tests hold this to.

const M32: u64 = 0xffff_ffff;

/// A prime with arithmetic of its own here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prime {
    P256,
    P384,
}

impl Prime {
    /// `a * b / R mod p` into `out`; false (nothing written) when the lengths are not the
    /// prime's.
    pub fn mul(self, a: &[u32], b: &[u32], out: &mut [u32]) -> bool {
        match self {
            Prime::P256 => apply(a, b, out, p256::mont_mul),
            Prime::P384 => apply(a, b, out, p384::mont_mul),
        }
    }

    /// `a * a / R mod p` into `out`.
    pub fn sqr(self, a: &[u32], out: &mut [u32]) -> bool {
        match self {
            Prime::P256 => apply(a, a, out, |a, _| p256::mont_sqr(a)),
            Prime::P384 => apply(a, a, out, |a, _| p384::mont_sqr(a)),
        }
    }

    /// `a + b mod p` into `out`.
    pub fn add(self, a: &[u32], b: &[u32], out: &mut [u32]) -> bool {
        match self {
            Prime::P256 => apply(a, b, out, p256::add),
            Prime::P384 => apply(a, b, out, p384::add),
        }
    }

    /// `a - b mod p` into `out`.
    pub fn sub(self, a: &[u32], b: &[u32], out: &mut [u32]) -> bool {
        match self {
            Prime::P256 => apply(a, b, out, p256::sub),
            Prime::P384 => apply(a, b, out, p384::sub),
        }
    }
}

/// `op` on `a` and `b` as arrays of N words, into `out`, when all three have N words.
fn apply<const N: usize>(
    a: &[u32],
    b: &[u32],
    out: &mut [u32],
    op: impl Fn(&[u32; N], &[u32; N]) -> [u32; N],
) -> bool {
    let (Ok(a), Ok(b), Ok(out)) = (
        <&[u32; N]>::try_from(a),
        <&[u32; N]>::try_from(b),
        <&mut [u32; N]>::try_from(out),
    ) else {
        return false;
    };
    *out = op(a, b);
    true
}

/// Adds a 64-bit partial product to a column kept as two sums, of its low and high halves,
/// so that nothing carries until the column ends.
#[inline(always)]
fn split_add(lo: &mut u64, hi: &mut u64, p: u64) {
    *lo += p & M32;
    *hi += p >> 32;
}

/// `split_add` of twice the product (a square's cross product), each half doubled apart.
#[inline(always)]
fn split_add2(lo: &mut u64, hi: &mut u64, p: u64) {
    *lo += (p & M32) << 1;
    *hi += (p >> 32) << 1;
}

mod p256 {
    use super::{split_add, split_add2, M32};

    /// p, little-endian 32-bit words.
    pub const P: [u32; 8] = [
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0,
        0,
        0,
        1,
        0xffff_ffff,
    ];

    pub fn mont_mul(a: &[u32; 8], b: &[u32; 8]) -> [u32; 8] {
        let (a, b) = (widen(a), widen(b));
        let mut t = [0i64; 16];
        let (mut lo, mut hi) = (0u64, 0u64);
        split_add(&mut lo, &mut hi, a[0] * b[0]);
        t[0] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[1]);
        split_add(&mut lo, &mut hi, a[1] * b[0]);
        t[1] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[2]);
        split_add(&mut lo, &mut hi, a[1] * b[1]);
        split_add(&mut lo, &mut hi, a[2] * b[0]);
        t[2] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[3]);
        split_add(&mut lo, &mut hi, a[1] * b[2]);
        split_add(&mut lo, &mut hi, a[2] * b[1]);
        split_add(&mut lo, &mut hi, a[3] * b[0]);
        t[3] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[4]);
        split_add(&mut lo, &mut hi, a[1] * b[3]);
        split_add(&mut lo, &mut hi, a[2] * b[2]);
        split_add(&mut lo, &mut hi, a[3] * b[1]);
        split_add(&mut lo, &mut hi, a[4] * b[0]);
        t[4] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[5]);
        split_add(&mut lo, &mut hi, a[1] * b[4]);
        split_add(&mut lo, &mut hi, a[2] * b[3]);
        split_add(&mut lo, &mut hi, a[3] * b[2]);
        split_add(&mut lo, &mut hi, a[4] * b[1]);
        split_add(&mut lo, &mut hi, a[5] * b[0]);
        t[5] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[6]);
        split_add(&mut lo, &mut hi, a[1] * b[5]);
        split_add(&mut lo, &mut hi, a[2] * b[4]);
        split_add(&mut lo, &mut hi, a[3] * b[3]);
        split_add(&mut lo, &mut hi, a[4] * b[2]);
        split_add(&mut lo, &mut hi, a[5] * b[1]);
        split_add(&mut lo, &mut hi, a[6] * b[0]);
        t[6] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[7]);
        split_add(&mut lo, &mut hi, a[1] * b[6]);
        split_add(&mut lo, &mut hi, a[2] * b[5]);
        split_add(&mut lo, &mut hi, a[3] * b[4]);
        split_add(&mut lo, &mut hi, a[4] * b[3]);
        split_add(&mut lo, &mut hi, a[5] * b[2]);
        split_add(&mut lo, &mut hi, a[6] * b[1]);
        split_add(&mut lo, &mut hi, a[7] * b[0]);
        t[7] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[1] * b[7]);
        split_add(&mut lo, &mut hi, a[2] * b[6]);
        split_add(&mut lo, &mut hi, a[3] * b[5]);
        split_add(&mut lo, &mut hi, a[4] * b[4]);
        split_add(&mut lo, &mut hi, a[5] * b[3]);
        split_add(&mut lo, &mut hi, a[6] * b[2]);
        split_add(&mut lo, &mut hi, a[7] * b[1]);
        t[8] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[2] * b[7]);
        split_add(&mut lo, &mut hi, a[3] * b[6]);
        split_add(&mut lo, &mut hi, a[4] * b[5]);
        split_add(&mut lo, &mut hi, a[5] * b[4]);
        split_add(&mut lo, &mut hi, a[6] * b[3]);
        split_add(&mut lo, &mut hi, a[7] * b[2]);
        t[9] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[3] * b[7]);
        split_add(&mut lo, &mut hi, a[4] * b[6]);
        split_add(&mut lo, &mut hi, a[5] * b[5]);
        split_add(&mut lo, &mut hi, a[6] * b[4]);
        split_add(&mut lo, &mut hi, a[7] * b[3]);
        t[10] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[4] * b[7]);
        split_add(&mut lo, &mut hi, a[5] * b[6]);
        split_add(&mut lo, &mut hi, a[6] * b[5]);
        split_add(&mut lo, &mut hi, a[7] * b[4]);
        t[11] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[5] * b[7]);
        split_add(&mut lo, &mut hi, a[6] * b[6]);
        split_add(&mut lo, &mut hi, a[7] * b[5]);
        t[12] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[6] * b[7]);
        split_add(&mut lo, &mut hi, a[7] * b[6]);
        t[13] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[7] * b[7]);
        t[14] = (lo & M32) as i64;
        lo = (lo >> 32) + hi;
        t[15] = lo as i64;
        reduce(t)
    }

    /// Each cross product once, doubled.
    pub fn mont_sqr(a: &[u32; 8]) -> [u32; 8] {
        let a = widen(a);
        let mut t = [0i64; 16];
        let (mut lo, mut hi) = (0u64, 0u64);
        split_add(&mut lo, &mut hi, a[0] * a[0]);
        t[0] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[1]);
        t[1] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[2]);
        split_add(&mut lo, &mut hi, a[1] * a[1]);
        t[2] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[3]);
        split_add2(&mut lo, &mut hi, a[1] * a[2]);
        t[3] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[4]);
        split_add2(&mut lo, &mut hi, a[1] * a[3]);
        split_add(&mut lo, &mut hi, a[2] * a[2]);
        t[4] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[5]);
        split_add2(&mut lo, &mut hi, a[1] * a[4]);
        split_add2(&mut lo, &mut hi, a[2] * a[3]);
        t[5] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[6]);
        split_add2(&mut lo, &mut hi, a[1] * a[5]);
        split_add2(&mut lo, &mut hi, a[2] * a[4]);
        split_add(&mut lo, &mut hi, a[3] * a[3]);
        t[6] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[7]);
        split_add2(&mut lo, &mut hi, a[1] * a[6]);
        split_add2(&mut lo, &mut hi, a[2] * a[5]);
        split_add2(&mut lo, &mut hi, a[3] * a[4]);
        t[7] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[1] * a[7]);
        split_add2(&mut lo, &mut hi, a[2] * a[6]);
        split_add2(&mut lo, &mut hi, a[3] * a[5]);
        split_add(&mut lo, &mut hi, a[4] * a[4]);
        t[8] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[2] * a[7]);
        split_add2(&mut lo, &mut hi, a[3] * a[6]);
        split_add2(&mut lo, &mut hi, a[4] * a[5]);
        t[9] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[3] * a[7]);
        split_add2(&mut lo, &mut hi, a[4] * a[6]);
        split_add(&mut lo, &mut hi, a[5] * a[5]);
        t[10] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[4] * a[7]);
        split_add2(&mut lo, &mut hi, a[5] * a[6]);
        t[11] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[5] * a[7]);
        split_add(&mut lo, &mut hi, a[6] * a[6]);
        t[12] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[6] * a[7]);
        t[13] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[7] * a[7]);
        t[14] = (lo & M32) as i64;
        lo = (lo >> 32) + hi;
        t[15] = lo as i64;
        reduce(t)
    }

    /// Row i adds t[i] * p * 2^(32 i): +t[i] at words i+3, i+6 and i+8, -t[i] at i+7 (and at
    /// i, which clears it); the next row's word is then carried into range.
    fn reduce(mut t: [i64; 16]) -> [u32; 8] {
        let q = t[0];
        t[3] += q;
        t[6] += q;
        t[7] -= q;
        t[8] += q;
        t[2] += t[1] >> 32;
        t[1] &= M32 as i64;
        let q = t[1];
        t[4] += q;
        t[7] += q;
        t[8] -= q;
        t[9] += q;
        t[3] += t[2] >> 32;
        t[2] &= M32 as i64;
        let q = t[2];
        t[5] += q;
        t[8] += q;
        t[9] -= q;
        t[10] += q;
        t[4] += t[3] >> 32;
        t[3] &= M32 as i64;
        let q = t[3];
        t[6] += q;
        t[9] += q;
        t[10] -= q;
        t[11] += q;
        t[5] += t[4] >> 32;
        t[4] &= M32 as i64;
        let q = t[4];
        t[7] += q;
        t[10] += q;
        t[11] -= q;
        t[12] += q;
        t[6] += t[5] >> 32;
        t[5] &= M32 as i64;
        let q = t[5];
        t[8] += q;
        t[11] += q;
        t[12] -= q;
        t[13] += q;
        t[7] += t[6] >> 32;
        t[6] &= M32 as i64;
        let q = t[6];
        t[9] += q;
        t[12] += q;
        t[13] -= q;
        t[14] += q;
        t[8] += t[7] >> 32;
        t[7] &= M32 as i64;
        let q = t[7];
        t[10] += q;
        t[13] += q;
        t[14] -= q;
        t[15] += q;
        finish(&t)
    }

    /// The reduced product's upper words, carried into range, below p.
    fn finish(t: &[i64; 16]) -> [u32; 8] {
        let mut s = [0u64; 8];
        let mut c = 0i64;
        let v = t[8] + c;
        s[0] = v as u64 & M32;
        c = v >> 32;
        let v = t[9] + c;
        s[1] = v as u64 & M32;
        c = v >> 32;
        let v = t[10] + c;
        s[2] = v as u64 & M32;
        c = v >> 32;
        let v = t[11] + c;
        s[3] = v as u64 & M32;
        c = v >> 32;
        let v = t[12] + c;
        s[4] = v as u64 & M32;
        c = v >> 32;
        let v = t[13] + c;
        s[5] = v as u64 & M32;
        c = v >> 32;
        let v = t[14] + c;
        s[6] = v as u64 & M32;
        c = v >> 32;
        let v = t[15] + c;
        s[7] = v as u64 & M32;
        c = v >> 32;
        reduce_once(&s, c as u64)
    }

    /// `s` (words in u64s, `carry` above them; below 2p) minus p when not below it.
    fn reduce_once(s: &[u64; 8], carry: u64) -> [u32; 8] {
        let mut d = [0u32; 8];
        let mut borrow = 0u64;
        let v = s[0].wrapping_sub(u64::from(P[0])).wrapping_sub(borrow);
        d[0] = v as u32;
        borrow = v >> 63;
        let v = s[1].wrapping_sub(u64::from(P[1])).wrapping_sub(borrow);
        d[1] = v as u32;
        borrow = v >> 63;
        let v = s[2].wrapping_sub(u64::from(P[2])).wrapping_sub(borrow);
        d[2] = v as u32;
        borrow = v >> 63;
        let v = s[3].wrapping_sub(u64::from(P[3])).wrapping_sub(borrow);
        d[3] = v as u32;
        borrow = v >> 63;
        let v = s[4].wrapping_sub(u64::from(P[4])).wrapping_sub(borrow);
        d[4] = v as u32;
        borrow = v >> 63;
        let v = s[5].wrapping_sub(u64::from(P[5])).wrapping_sub(borrow);
        d[5] = v as u32;
        borrow = v >> 63;
        let v = s[6].wrapping_sub(u64::from(P[6])).wrapping_sub(borrow);
        d[6] = v as u32;
        borrow = v >> 63;
        let v = s[7].wrapping_sub(u64::from(P[7])).wrapping_sub(borrow);
        d[7] = v as u32;
        borrow = v >> 63;
        // Keep the difference unless it borrowed past the carry (the number was below p).
        if carry < borrow {
            [
                s[0] as u32,
                s[1] as u32,
                s[2] as u32,
                s[3] as u32,
                s[4] as u32,
                s[5] as u32,
                s[6] as u32,
                s[7] as u32,
            ]
        } else {
            d
        }
    }

    /// `a + b mod p`, for `a` and `b` below p.
    pub fn add(a: &[u32; 8], b: &[u32; 8]) -> [u32; 8] {
        let (a, b) = (widen(a), widen(b));
        let mut s = [0u64; 8];
        let mut c = 0u64;
        let v = a[0] + b[0] + c;
        s[0] = v & M32;
        c = v >> 32;
        let v = a[1] + b[1] + c;
        s[1] = v & M32;
        c = v >> 32;
        let v = a[2] + b[2] + c;
        s[2] = v & M32;
        c = v >> 32;
        let v = a[3] + b[3] + c;
        s[3] = v & M32;
        c = v >> 32;
        let v = a[4] + b[4] + c;
        s[4] = v & M32;
        c = v >> 32;
        let v = a[5] + b[5] + c;
        s[5] = v & M32;
        c = v >> 32;
        let v = a[6] + b[6] + c;
        s[6] = v & M32;
        c = v >> 32;
        let v = a[7] + b[7] + c;
        s[7] = v & M32;
        c = v >> 32;
        reduce_once(&s, c)
    }

    /// `a - b mod p`, for `a` and `b` below p: a + (p - b), so that the whole never borrows.
    pub fn sub(a: &[u32; 8], b: &[u32; 8]) -> [u32; 8] {
        let (a, b) = (widen(a), widen(b));
        let mut s = [0u64; 8];
        let mut c = 0i64;
        let v = a[0] as i64 + P[0] as i64 - b[0] as i64 + c;
        s[0] = v as u64 & M32;
        c = v >> 32;
        let v = a[1] as i64 + P[1] as i64 - b[1] as i64 + c;
        s[1] = v as u64 & M32;
        c = v >> 32;
        let v = a[2] as i64 + P[2] as i64 - b[2] as i64 + c;
        s[2] = v as u64 & M32;
        c = v >> 32;
        let v = a[3] as i64 + P[3] as i64 - b[3] as i64 + c;
        s[3] = v as u64 & M32;
        c = v >> 32;
        let v = a[4] as i64 + P[4] as i64 - b[4] as i64 + c;
        s[4] = v as u64 & M32;
        c = v >> 32;
        let v = a[5] as i64 + P[5] as i64 - b[5] as i64 + c;
        s[5] = v as u64 & M32;
        c = v >> 32;
        let v = a[6] as i64 + P[6] as i64 - b[6] as i64 + c;
        s[6] = v as u64 & M32;
        c = v >> 32;
        let v = a[7] as i64 + P[7] as i64 - b[7] as i64 + c;
        s[7] = v as u64 & M32;
        c = v >> 32;
        reduce_once(&s, c as u64)
    }

    /// Each word as a u64, written out (`array::map` and loops stay calls at opt-level "z").
    #[inline(always)]
    fn widen(x: &[u32; 8]) -> [u64; 8] {
        [
            u64::from(x[0]),
            u64::from(x[1]),
            u64::from(x[2]),
            u64::from(x[3]),
            u64::from(x[4]),
            u64::from(x[5]),
            u64::from(x[6]),
            u64::from(x[7]),
        ]
    }
}

mod p384 {
    use super::{split_add, split_add2, M32};

    /// p, little-endian 32-bit words.
    pub const P: [u32; 12] = [
        0xffff_ffff,
        0,
        0,
        0xffff_ffff,
        0xffff_fffe,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ];

    pub fn mont_mul(a: &[u32; 12], b: &[u32; 12]) -> [u32; 12] {
        let (a, b) = (widen(a), widen(b));
        let mut t = [0i64; 24];
        let (mut lo, mut hi) = (0u64, 0u64);
        split_add(&mut lo, &mut hi, a[0] * b[0]);
        t[0] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[1]);
        split_add(&mut lo, &mut hi, a[1] * b[0]);
        t[1] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[2]);
        split_add(&mut lo, &mut hi, a[1] * b[1]);
        split_add(&mut lo, &mut hi, a[2] * b[0]);
        t[2] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[3]);
        split_add(&mut lo, &mut hi, a[1] * b[2]);
        split_add(&mut lo, &mut hi, a[2] * b[1]);
        split_add(&mut lo, &mut hi, a[3] * b[0]);
        t[3] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[4]);
        split_add(&mut lo, &mut hi, a[1] * b[3]);
        split_add(&mut lo, &mut hi, a[2] * b[2]);
        split_add(&mut lo, &mut hi, a[3] * b[1]);
        split_add(&mut lo, &mut hi, a[4] * b[0]);
        t[4] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[5]);
        split_add(&mut lo, &mut hi, a[1] * b[4]);
        split_add(&mut lo, &mut hi, a[2] * b[3]);
        split_add(&mut lo, &mut hi, a[3] * b[2]);
        split_add(&mut lo, &mut hi, a[4] * b[1]);
        split_add(&mut lo, &mut hi, a[5] * b[0]);
        t[5] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[6]);
        split_add(&mut lo, &mut hi, a[1] * b[5]);
        split_add(&mut lo, &mut hi, a[2] * b[4]);
        split_add(&mut lo, &mut hi, a[3] * b[3]);
        split_add(&mut lo, &mut hi, a[4] * b[2]);
        split_add(&mut lo, &mut hi, a[5] * b[1]);
        split_add(&mut lo, &mut hi, a[6] * b[0]);
        t[6] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[7]);
        split_add(&mut lo, &mut hi, a[1] * b[6]);
        split_add(&mut lo, &mut hi, a[2] * b[5]);
        split_add(&mut lo, &mut hi, a[3] * b[4]);
        split_add(&mut lo, &mut hi, a[4] * b[3]);
        split_add(&mut lo, &mut hi, a[5] * b[2]);
        split_add(&mut lo, &mut hi, a[6] * b[1]);
        split_add(&mut lo, &mut hi, a[7] * b[0]);
        t[7] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[8]);
        split_add(&mut lo, &mut hi, a[1] * b[7]);
        split_add(&mut lo, &mut hi, a[2] * b[6]);
        split_add(&mut lo, &mut hi, a[3] * b[5]);
        split_add(&mut lo, &mut hi, a[4] * b[4]);
        split_add(&mut lo, &mut hi, a[5] * b[3]);
        split_add(&mut lo, &mut hi, a[6] * b[2]);
        split_add(&mut lo, &mut hi, a[7] * b[1]);
        split_add(&mut lo, &mut hi, a[8] * b[0]);
        t[8] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[9]);
        split_add(&mut lo, &mut hi, a[1] * b[8]);
        split_add(&mut lo, &mut hi, a[2] * b[7]);
        split_add(&mut lo, &mut hi, a[3] * b[6]);
        split_add(&mut lo, &mut hi, a[4] * b[5]);
        split_add(&mut lo, &mut hi, a[5] * b[4]);
        split_add(&mut lo, &mut hi, a[6] * b[3]);
        split_add(&mut lo, &mut hi, a[7] * b[2]);
        split_add(&mut lo, &mut hi, a[8] * b[1]);
        split_add(&mut lo, &mut hi, a[9] * b[0]);
        t[9] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[10]);
        split_add(&mut lo, &mut hi, a[1] * b[9]);
        split_add(&mut lo, &mut hi, a[2] * b[8]);
        split_add(&mut lo, &mut hi, a[3] * b[7]);
        split_add(&mut lo, &mut hi, a[4] * b[6]);
        split_add(&mut lo, &mut hi, a[5] * b[5]);
        split_add(&mut lo, &mut hi, a[6] * b[4]);
        split_add(&mut lo, &mut hi, a[7] * b[3]);
        split_add(&mut lo, &mut hi, a[8] * b[2]);
        split_add(&mut lo, &mut hi, a[9] * b[1]);
        split_add(&mut lo, &mut hi, a[10] * b[0]);
        t[10] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[0] * b[11]);
        split_add(&mut lo, &mut hi, a[1] * b[10]);
        split_add(&mut lo, &mut hi, a[2] * b[9]);
        split_add(&mut lo, &mut hi, a[3] * b[8]);
        split_add(&mut lo, &mut hi, a[4] * b[7]);
        split_add(&mut lo, &mut hi, a[5] * b[6]);
        split_add(&mut lo, &mut hi, a[6] * b[5]);
        split_add(&mut lo, &mut hi, a[7] * b[4]);
        split_add(&mut lo, &mut hi, a[8] * b[3]);
        split_add(&mut lo, &mut hi, a[9] * b[2]);
        split_add(&mut lo, &mut hi, a[10] * b[1]);
        split_add(&mut lo, &mut hi, a[11] * b[0]);
        t[11] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[1] * b[11]);
        split_add(&mut lo, &mut hi, a[2] * b[10]);
        split_add(&mut lo, &mut hi, a[3] * b[9]);
        split_add(&mut lo, &mut hi, a[4] * b[8]);
        split_add(&mut lo, &mut hi, a[5] * b[7]);
        split_add(&mut lo, &mut hi, a[6] * b[6]);
        split_add(&mut lo, &mut hi, a[7] * b[5]);
        split_add(&mut lo, &mut hi, a[8] * b[4]);
        split_add(&mut lo, &mut hi, a[9] * b[3]);
        split_add(&mut lo, &mut hi, a[10] * b[2]);
        split_add(&mut lo, &mut hi, a[11] * b[1]);
        t[12] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[2] * b[11]);
        split_add(&mut lo, &mut hi, a[3] * b[10]);
        split_add(&mut lo, &mut hi, a[4] * b[9]);
        split_add(&mut lo, &mut hi, a[5] * b[8]);
        split_add(&mut lo, &mut hi, a[6] * b[7]);
        split_add(&mut lo, &mut hi, a[7] * b[6]);
        split_add(&mut lo, &mut hi, a[8] * b[5]);
        split_add(&mut lo, &mut hi, a[9] * b[4]);
        split_add(&mut lo, &mut hi, a[10] * b[3]);
        split_add(&mut lo, &mut hi, a[11] * b[2]);
        t[13] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[3] * b[11]);
        split_add(&mut lo, &mut hi, a[4] * b[10]);
        split_add(&mut lo, &mut hi, a[5] * b[9]);
        split_add(&mut lo, &mut hi, a[6] * b[8]);
        split_add(&mut lo, &mut hi, a[7] * b[7]);
        split_add(&mut lo, &mut hi, a[8] * b[6]);
        split_add(&mut lo, &mut hi, a[9] * b[5]);
        split_add(&mut lo, &mut hi, a[10] * b[4]);
        split_add(&mut lo, &mut hi, a[11] * b[3]);
        t[14] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[4] * b[11]);
        split_add(&mut lo, &mut hi, a[5] * b[10]);
        split_add(&mut lo, &mut hi, a[6] * b[9]);
        split_add(&mut lo, &mut hi, a[7] * b[8]);
        split_add(&mut lo, &mut hi, a[8] * b[7]);
        split_add(&mut lo, &mut hi, a[9] * b[6]);
        split_add(&mut lo, &mut hi, a[10] * b[5]);
        split_add(&mut lo, &mut hi, a[11] * b[4]);
        t[15] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[5] * b[11]);
        split_add(&mut lo, &mut hi, a[6] * b[10]);
        split_add(&mut lo, &mut hi, a[7] * b[9]);
        split_add(&mut lo, &mut hi, a[8] * b[8]);
        split_add(&mut lo, &mut hi, a[9] * b[7]);
        split_add(&mut lo, &mut hi, a[10] * b[6]);
        split_add(&mut lo, &mut hi, a[11] * b[5]);
        t[16] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[6] * b[11]);
        split_add(&mut lo, &mut hi, a[7] * b[10]);
        split_add(&mut lo, &mut hi, a[8] * b[9]);
        split_add(&mut lo, &mut hi, a[9] * b[8]);
        split_add(&mut lo, &mut hi, a[10] * b[7]);
        split_add(&mut lo, &mut hi, a[11] * b[6]);
        t[17] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[7] * b[11]);
        split_add(&mut lo, &mut hi, a[8] * b[10]);
        split_add(&mut lo, &mut hi, a[9] * b[9]);
        split_add(&mut lo, &mut hi, a[10] * b[8]);
        split_add(&mut lo, &mut hi, a[11] * b[7]);
        t[18] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[8] * b[11]);
        split_add(&mut lo, &mut hi, a[9] * b[10]);
        split_add(&mut lo, &mut hi, a[10] * b[9]);
        split_add(&mut lo, &mut hi, a[11] * b[8]);
        t[19] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[9] * b[11]);
        split_add(&mut lo, &mut hi, a[10] * b[10]);
        split_add(&mut lo, &mut hi, a[11] * b[9]);
        t[20] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[10] * b[11]);
        split_add(&mut lo, &mut hi, a[11] * b[10]);
        t[21] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[11] * b[11]);
        t[22] = (lo & M32) as i64;
        lo = (lo >> 32) + hi;
        t[23] = lo as i64;
        reduce(t)
    }

    /// Each cross product once, doubled.
    pub fn mont_sqr(a: &[u32; 12]) -> [u32; 12] {
        let a = widen(a);
        let mut t = [0i64; 24];
        let (mut lo, mut hi) = (0u64, 0u64);
        split_add(&mut lo, &mut hi, a[0] * a[0]);
        t[0] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[1]);
        t[1] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[2]);
        split_add(&mut lo, &mut hi, a[1] * a[1]);
        t[2] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[3]);
        split_add2(&mut lo, &mut hi, a[1] * a[2]);
        t[3] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[4]);
        split_add2(&mut lo, &mut hi, a[1] * a[3]);
        split_add(&mut lo, &mut hi, a[2] * a[2]);
        t[4] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[5]);
        split_add2(&mut lo, &mut hi, a[1] * a[4]);
        split_add2(&mut lo, &mut hi, a[2] * a[3]);
        t[5] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[6]);
        split_add2(&mut lo, &mut hi, a[1] * a[5]);
        split_add2(&mut lo, &mut hi, a[2] * a[4]);
        split_add(&mut lo, &mut hi, a[3] * a[3]);
        t[6] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[7]);
        split_add2(&mut lo, &mut hi, a[1] * a[6]);
        split_add2(&mut lo, &mut hi, a[2] * a[5]);
        split_add2(&mut lo, &mut hi, a[3] * a[4]);
        t[7] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[8]);
        split_add2(&mut lo, &mut hi, a[1] * a[7]);
        split_add2(&mut lo, &mut hi, a[2] * a[6]);
        split_add2(&mut lo, &mut hi, a[3] * a[5]);
        split_add(&mut lo, &mut hi, a[4] * a[4]);
        t[8] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[9]);
        split_add2(&mut lo, &mut hi, a[1] * a[8]);
        split_add2(&mut lo, &mut hi, a[2] * a[7]);
        split_add2(&mut lo, &mut hi, a[3] * a[6]);
        split_add2(&mut lo, &mut hi, a[4] * a[5]);
        t[9] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[10]);
        split_add2(&mut lo, &mut hi, a[1] * a[9]);
        split_add2(&mut lo, &mut hi, a[2] * a[8]);
        split_add2(&mut lo, &mut hi, a[3] * a[7]);
        split_add2(&mut lo, &mut hi, a[4] * a[6]);
        split_add(&mut lo, &mut hi, a[5] * a[5]);
        t[10] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[0] * a[11]);
        split_add2(&mut lo, &mut hi, a[1] * a[10]);
        split_add2(&mut lo, &mut hi, a[2] * a[9]);
        split_add2(&mut lo, &mut hi, a[3] * a[8]);
        split_add2(&mut lo, &mut hi, a[4] * a[7]);
        split_add2(&mut lo, &mut hi, a[5] * a[6]);
        t[11] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[1] * a[11]);
        split_add2(&mut lo, &mut hi, a[2] * a[10]);
        split_add2(&mut lo, &mut hi, a[3] * a[9]);
        split_add2(&mut lo, &mut hi, a[4] * a[8]);
        split_add2(&mut lo, &mut hi, a[5] * a[7]);
        split_add(&mut lo, &mut hi, a[6] * a[6]);
        t[12] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[2] * a[11]);
        split_add2(&mut lo, &mut hi, a[3] * a[10]);
        split_add2(&mut lo, &mut hi, a[4] * a[9]);
        split_add2(&mut lo, &mut hi, a[5] * a[8]);
        split_add2(&mut lo, &mut hi, a[6] * a[7]);
        t[13] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[3] * a[11]);
        split_add2(&mut lo, &mut hi, a[4] * a[10]);
        split_add2(&mut lo, &mut hi, a[5] * a[9]);
        split_add2(&mut lo, &mut hi, a[6] * a[8]);
        split_add(&mut lo, &mut hi, a[7] * a[7]);
        t[14] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[4] * a[11]);
        split_add2(&mut lo, &mut hi, a[5] * a[10]);
        split_add2(&mut lo, &mut hi, a[6] * a[9]);
        split_add2(&mut lo, &mut hi, a[7] * a[8]);
        t[15] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[5] * a[11]);
        split_add2(&mut lo, &mut hi, a[6] * a[10]);
        split_add2(&mut lo, &mut hi, a[7] * a[9]);
        split_add(&mut lo, &mut hi, a[8] * a[8]);
        t[16] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[6] * a[11]);
        split_add2(&mut lo, &mut hi, a[7] * a[10]);
        split_add2(&mut lo, &mut hi, a[8] * a[9]);
        t[17] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[7] * a[11]);
        split_add2(&mut lo, &mut hi, a[8] * a[10]);
        split_add(&mut lo, &mut hi, a[9] * a[9]);
        t[18] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[8] * a[11]);
        split_add2(&mut lo, &mut hi, a[9] * a[10]);
        t[19] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[9] * a[11]);
        split_add(&mut lo, &mut hi, a[10] * a[10]);
        t[20] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add2(&mut lo, &mut hi, a[10] * a[11]);
        t[21] = (lo & M32) as i64;
        (lo, hi) = ((lo >> 32) + hi, 0);
        split_add(&mut lo, &mut hi, a[11] * a[11]);
        t[22] = (lo & M32) as i64;
        lo = (lo >> 32) + hi;
        t[23] = lo as i64;
        reduce(t)
    }

    /// Row i adds t[i] * p * 2^(32 i): +t[i] at words i+1 and i+12, -t[i] at i+3 and i+4
    /// (and at i, which clears it); the next row's word is then carried into range.
    fn reduce(mut t: [i64; 24]) -> [u32; 12] {
        let q = t[0];
        t[1] += q;
        t[3] -= q;
        t[4] -= q;
        t[12] += q;
        t[2] += t[1] >> 32;
        t[1] &= M32 as i64;
        let q = t[1];
        t[2] += q;
        t[4] -= q;
        t[5] -= q;
        t[13] += q;
        t[3] += t[2] >> 32;
        t[2] &= M32 as i64;
        let q = t[2];
        t[3] += q;
        t[5] -= q;
        t[6] -= q;
        t[14] += q;
        t[4] += t[3] >> 32;
        t[3] &= M32 as i64;
        let q = t[3];
        t[4] += q;
        t[6] -= q;
        t[7] -= q;
        t[15] += q;
        t[5] += t[4] >> 32;
        t[4] &= M32 as i64;
        let q = t[4];
        t[5] += q;
        t[7] -= q;
        t[8] -= q;
        t[16] += q;
        t[6] += t[5] >> 32;
        t[5] &= M32 as i64;
        let q = t[5];
        t[6] += q;
        t[8] -= q;
        t[9] -= q;
        t[17] += q;
        t[7] += t[6] >> 32;
        t[6] &= M32 as i64;
        let q = t[6];
        t[7] += q;
        t[9] -= q;
        t[10] -= q;
        t[18] += q;
        t[8] += t[7] >> 32;
        t[7] &= M32 as i64;
        let q = t[7];
        t[8] += q;
        t[10] -= q;
        t[11] -= q;
        t[19] += q;
        t[9] += t[8] >> 32;
        t[8] &= M32 as i64;
        let q = t[8];
        t[9] += q;
        t[11] -= q;
        t[12] -= q;
        t[20] += q;
        t[10] += t[9] >> 32;
        t[9] &= M32 as i64;
        let q = t[9];
        t[10] += q;
        t[12] -= q;
        t[13] -= q;
        t[21] += q;
        t[11] += t[10] >> 32;
        t[10] &= M32 as i64;
        let q = t[10];
        t[11] += q;
        t[13] -= q;
        t[14] -= q;
        t[22] += q;
        t[12] += t[11] >> 32;
        t[11] &= M32 as i64;
        let q = t[11];
        t[12] += q;
        t[14] -= q;
        t[15] -= q;
        t[23] += q;
        finish(&t)
    }

    /// The reduced product's upper words, carried into range, below p.
    fn finish(t: &[i64; 24]) -> [u32; 12] {
        let mut s = [0u64; 12];
        let mut c = 0i64;
        let v = t[12] + c;
        s[0] = v as u64 & M32;
        c = v >> 32;
        let v = t[13] + c;
        s[1] = v as u64 & M32;
        c = v >> 32;
        let v = t[14] + c;
        s[2] = v as u64 & M32;
        c = v >> 32;
        let v = t[15] + c;
        s[3] = v as u64 & M32;
        c = v >> 32;
        let v = t[16] + c;
        s[4] = v as u64 & M32;
        c = v >> 32;
        let v = t[17] + c;
        s[5] = v as u64 & M32;
        c = v >> 32;
        let v = t[18] + c;
        s[6] = v as u64 & M32;
        c = v >> 32;
        let v = t[19] + c;
        s[7] = v as u64 & M32;
        c = v >> 32;
        let v = t[20] + c;
        s[8] = v as u64 & M32;
        c = v >> 32;
        let v = t[21] + c;
        s[9] = v as u64 & M32;
        c = v >> 32;
        let v = t[22] + c;
        s[10] = v as u64 & M32;
        c = v >> 32;
        let v = t[23] + c;
        s[11] = v as u64 & M32;
        c = v >> 32;
        reduce_once(&s, c as u64)
    }

    /// `s` (words in u64s, `carry` above them; below 2p) minus p when not below it.
    fn reduce_once(s: &[u64; 12], carry: u64) -> [u32; 12] {
        let mut d = [0u32; 12];
        let mut borrow = 0u64;
        let v = s[0].wrapping_sub(u64::from(P[0])).wrapping_sub(borrow);
        d[0] = v as u32;
        borrow = v >> 63;
        let v = s[1].wrapping_sub(u64::from(P[1])).wrapping_sub(borrow);
        d[1] = v as u32;
        borrow = v >> 63;
        let v = s[2].wrapping_sub(u64::from(P[2])).wrapping_sub(borrow);
        d[2] = v as u32;
        borrow = v >> 63;
        let v = s[3].wrapping_sub(u64::from(P[3])).wrapping_sub(borrow);
        d[3] = v as u32;
        borrow = v >> 63;
        let v = s[4].wrapping_sub(u64::from(P[4])).wrapping_sub(borrow);
        d[4] = v as u32;
        borrow = v >> 63;
        let v = s[5].wrapping_sub(u64::from(P[5])).wrapping_sub(borrow);
        d[5] = v as u32;
        borrow = v >> 63;
        let v = s[6].wrapping_sub(u64::from(P[6])).wrapping_sub(borrow);
        d[6] = v as u32;
        borrow = v >> 63;
        let v = s[7].wrapping_sub(u64::from(P[7])).wrapping_sub(borrow);
        d[7] = v as u32;
        borrow = v >> 63;
        let v = s[8].wrapping_sub(u64::from(P[8])).wrapping_sub(borrow);
        d[8] = v as u32;
        borrow = v >> 63;
        let v = s[9].wrapping_sub(u64::from(P[9])).wrapping_sub(borrow);
        d[9] = v as u32;
        borrow = v >> 63;
        let v = s[10].wrapping_sub(u64::from(P[10])).wrapping_sub(borrow);
        d[10] = v as u32;
        borrow = v >> 63;
        let v = s[11].wrapping_sub(u64::from(P[11])).wrapping_sub(borrow);
        d[11] = v as u32;
        borrow = v >> 63;
        // Keep the difference unless it borrowed past the carry (the number was below p).
        if carry < borrow {
            [
                s[0] as u32,
                s[1] as u32,
                s[2] as u32,
                s[3] as u32,
                s[4] as u32,
                s[5] as u32,
                s[6] as u32,
                s[7] as u32,
                s[8] as u32,
                s[9] as u32,
                s[10] as u32,
                s[11] as u32,
            ]
        } else {
            d
        }
    }

    /// `a + b mod p`, for `a` and `b` below p.
    pub fn add(a: &[u32; 12], b: &[u32; 12]) -> [u32; 12] {
        let (a, b) = (widen(a), widen(b));
        let mut s = [0u64; 12];
        let mut c = 0u64;
        let v = a[0] + b[0] + c;
        s[0] = v & M32;
        c = v >> 32;
        let v = a[1] + b[1] + c;
        s[1] = v & M32;
        c = v >> 32;
        let v = a[2] + b[2] + c;
        s[2] = v & M32;
        c = v >> 32;
        let v = a[3] + b[3] + c;
        s[3] = v & M32;
        c = v >> 32;
        let v = a[4] + b[4] + c;
        s[4] = v & M32;
        c = v >> 32;
        let v = a[5] + b[5] + c;
        s[5] = v & M32;
        c = v >> 32;
        let v = a[6] + b[6] + c;
        s[6] = v & M32;
        c = v >> 32;
        let v = a[7] + b[7] + c;
        s[7] = v & M32;
        c = v >> 32;
        let v = a[8] + b[8] + c;
        s[8] = v & M32;
        c = v >> 32;
        let v = a[9] + b[9] + c;
        s[9] = v & M32;
        c = v >> 32;
        let v = a[10] + b[10] + c;
        s[10] = v & M32;
        c = v >> 32;
        let v = a[11] + b[11] + c;
        s[11] = v & M32;
        c = v >> 32;
        reduce_once(&s, c)
    }

    /// `a - b mod p`, for `a` and `b` below p: a + (p - b), so that the whole never borrows.
    pub fn sub(a: &[u32; 12], b: &[u32; 12]) -> [u32; 12] {
        let (a, b) = (widen(a), widen(b));
        let mut s = [0u64; 12];
        let mut c = 0i64;
        let v = a[0] as i64 + P[0] as i64 - b[0] as i64 + c;
        s[0] = v as u64 & M32;
        c = v >> 32;
        let v = a[1] as i64 + P[1] as i64 - b[1] as i64 + c;
        s[1] = v as u64 & M32;
        c = v >> 32;
        let v = a[2] as i64 + P[2] as i64 - b[2] as i64 + c;
        s[2] = v as u64 & M32;
        c = v >> 32;
        let v = a[3] as i64 + P[3] as i64 - b[3] as i64 + c;
        s[3] = v as u64 & M32;
        c = v >> 32;
        let v = a[4] as i64 + P[4] as i64 - b[4] as i64 + c;
        s[4] = v as u64 & M32;
        c = v >> 32;
        let v = a[5] as i64 + P[5] as i64 - b[5] as i64 + c;
        s[5] = v as u64 & M32;
        c = v >> 32;
        let v = a[6] as i64 + P[6] as i64 - b[6] as i64 + c;
        s[6] = v as u64 & M32;
        c = v >> 32;
        let v = a[7] as i64 + P[7] as i64 - b[7] as i64 + c;
        s[7] = v as u64 & M32;
        c = v >> 32;
        let v = a[8] as i64 + P[8] as i64 - b[8] as i64 + c;
        s[8] = v as u64 & M32;
        c = v >> 32;
        let v = a[9] as i64 + P[9] as i64 - b[9] as i64 + c;
        s[9] = v as u64 & M32;
        c = v >> 32;
        let v = a[10] as i64 + P[10] as i64 - b[10] as i64 + c;
        s[10] = v as u64 & M32;
        c = v >> 32;
        let v = a[11] as i64 + P[11] as i64 - b[11] as i64 + c;
        s[11] = v as u64 & M32;
        c = v >> 32;
        reduce_once(&s, c as u64)
    }

    /// Each word as a u64, written out (`array::map` and loops stay calls at opt-level "z").
    #[inline(always)]
    fn widen(x: &[u32; 12]) -> [u64; 12] {
        [
            u64::from(x[0]),
            u64::from(x[1]),
            u64::from(x[2]),
            u64::from(x[3]),
            u64::from(x[4]),
            u64::from(x[5]),
            u64::from(x[6]),
            u64::from(x[7]),
            u64::from(x[8]),
            u64::from(x[9]),
            u64::from(x[10]),
            u64::from(x[11]),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::jwt::modular::{less, Modulus};
    use crate::authn::jwt::tests::xorshift as rng;

    /// The same Montgomery product and square, sum and difference as the generic code, on
    /// random values below p and at the edges (0, 1, p - 1, p - 2^32).
    fn agrees<const N: usize>(prime: Prime, p: [u32; N]) {
        let be: Vec<u8> = p.iter().rev().flat_map(|w| w.to_be_bytes()).collect();
        let m = Modulus::from_be_bytes(&be).unwrap();
        let mut next = rng(0x5eed);
        let mut one = [0u32; N];
        one[0] = 1;
        let mut p_minus_one = p;
        p_minus_one[0] -= 1;
        // p - 2^32: a borrow through the words that are zero.
        let mut p_minus_word = p;
        for w in p_minus_word.iter_mut().skip(1) {
            let (v, borrowed) = w.overflowing_sub(1);
            *w = v;
            if !borrowed {
                break;
            }
        }
        let edges = [[0u32; N], one, p_minus_one, p_minus_word];
        let mut below_p = || loop {
            let v: [u32; N] = std::array::from_fn(|_| next() as u32);
            if less(&v, &p) {
                return v;
            }
        };
        for round in 0..2000 {
            let (a, b) = match (edges.get(round % 4), edges.get(round / 4)) {
                (Some(x), Some(y)) if round < 16 => (*x, *y),
                (Some(x), _) if round < 100 => (*x, below_p()),
                _ => (below_p(), below_p()),
            };
            let (mut want, mut got) = ([0u32; N], [0u32; N]);
            let mut w = [0u32; 25];
            m.mul(&a, &b, &mut want, &mut w);
            assert!(prime.mul(&a, &b, &mut got));
            assert_eq!(got, want, "{prime:?} round {round}: {a:x?} * {b:x?}");
            m.sqr(&a, &mut want, &mut w);
            assert!(prime.sqr(&a, &mut got));
            assert_eq!(got, want, "{prime:?} round {round}: {a:x?} squared");
            m.add(&a, &b, &mut want);
            assert!(prime.add(&a, &b, &mut got));
            assert_eq!(got, want, "{prime:?} round {round}: {a:x?} + {b:x?}");
            m.sub(&a, &b, &mut want);
            assert!(prime.sub(&a, &b, &mut got));
            assert_eq!(got, want, "{prime:?} round {round}: {a:x?} - {b:x?}");
        }
        // Another length is not this prime's.
        assert!(!prime.mul(&a_of(N + 1), &a_of(N + 1), &mut vec![0u32; N + 1]));
    }

    fn a_of(n: usize) -> Vec<u32> {
        vec![1; n]
    }

    #[test]
    fn p256_agrees_with_the_generic_code() {
        agrees(Prime::P256, p256::P);
    }

    #[test]
    fn p384_agrees_with_the_generic_code() {
        agrees(Prime::P384, p384::P);
    }
}
