//! Montgomery multiplication modulo P-256's p, written for that one prime: ES256 spends
//! nearly all its time here.
//!
//! p = 2^256 - 2^224 + 2^192 + 2^96 - 1 is -1 modulo 2^32, so a reduction row's digit is the
//! word itself, and adding digit * p is four additions and a subtraction of it at fixed words:
//! no multiplication. The product is written out column by column (as a loop at opt-level
//! "z" it ran at half the speed in V8). The result is exactly `Modulus::mul`'s for this
//! modulus, R = 2^256: the generic code is the reference the tests hold this to.

const M32: u64 = 0xffff_ffff;

/// p, little-endian 32-bit words.
const P: [u32; 8] = [
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0,
    0,
    1,
    0xffff_ffff,
];

/// Adds a 64-bit partial product to a column kept as two sums, of its low and high halves,
/// so that nothing carries until the column ends.
#[inline(always)]
fn split_add(lo: &mut u64, hi: &mut u64, p: u64) {
    *lo += p & M32;
    *hi += p >> 32;
}

/// `split_add` of twice the product (a cross product of a square), each half doubled apart.
#[inline(always)]
fn split_add2(lo: &mut u64, hi: &mut u64, p: u64) {
    *lo += (p & M32) << 1;
    *hi += (p >> 32) << 1;
}

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

/// `a * b / 2^256 mod p`, for `a` and `b` below p.
pub fn mont_mul(a: &[u32; 8], b: &[u32; 8]) -> [u32; 8] {
    // Widened one by one: `array::map` stays a call at opt-level "z".
    let a = widen(a);
    let b = widen(b);
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

/// `a * a / 2^256 mod p`, for `a` below p: each cross product once, doubled.
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

/// A 512-bit product (16 words, each in 0..2^32) divided by 2^256 modulo p: eight rows,
/// each adding the row's word times p so that the word becomes zero.
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
    // t[8..] with every word in 0..2^32 and what is left above: the result, below 2p.
    let mut out = [0u32; 8];
    let mut c = 0i64;
    for (o, &w) in out.iter_mut().zip(t.iter().skip(8)) {
        let v = w + c;
        *o = (v & M32 as i64) as u32;
        c = v >> 32;
    }
    if c != 0 || !super::modular::less(&out, &P) {
        let mut borrow = 0i64;
        for (o, &pj) in out.iter_mut().zip(&P) {
            let d = i64::from(*o) - i64::from(pj) - borrow;
            *o = (d & M32 as i64) as u32;
            borrow = i64::from(d < 0);
        }
    }
    out
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
    reduce_once(s, c)
}

/// `a - b mod p`, for `a` and `b` below p: a + (p - b), so that nothing borrows.
pub fn sub(a: &[u32; 8], b: &[u32; 8]) -> [u32; 8] {
    let (a, b) = (widen(a), widen(b));
    let p = widen(&P);
    let mut s = [0u64; 8];
    let mut c = 0u64;
    let v = (a[0] + p[0]).wrapping_sub(b[0]).wrapping_add(c);
    s[0] = v & M32;
    c = ((v as i64) >> 32) as u64;
    let v = (a[1] + p[1]).wrapping_sub(b[1]).wrapping_add(c);
    s[1] = v & M32;
    c = ((v as i64) >> 32) as u64;
    let v = (a[2] + p[2]).wrapping_sub(b[2]).wrapping_add(c);
    s[2] = v & M32;
    c = ((v as i64) >> 32) as u64;
    let v = (a[3] + p[3]).wrapping_sub(b[3]).wrapping_add(c);
    s[3] = v & M32;
    c = ((v as i64) >> 32) as u64;
    let v = (a[4] + p[4]).wrapping_sub(b[4]).wrapping_add(c);
    s[4] = v & M32;
    c = ((v as i64) >> 32) as u64;
    let v = (a[5] + p[5]).wrapping_sub(b[5]).wrapping_add(c);
    s[5] = v & M32;
    c = ((v as i64) >> 32) as u64;
    let v = (a[6] + p[6]).wrapping_sub(b[6]).wrapping_add(c);
    s[6] = v & M32;
    c = ((v as i64) >> 32) as u64;
    let v = (a[7] + p[7]).wrapping_sub(b[7]).wrapping_add(c);
    s[7] = v & M32;
    c = ((v as i64) >> 32) as u64;
    reduce_once(s, c)
}

/// `s` (eight 32-bit words in u64s, `carry` above them) minus p when not below it: sums of
/// two numbers below p are below 2p.
fn reduce_once(s: [u64; 8], carry: u64) -> [u32; 8] {
    let mut d = [0u32; 8];
    let mut borrow = 0u64;
    for ((o, &x), &pj) in d.iter_mut().zip(&s).zip(&P) {
        let v = x.wrapping_sub(u64::from(pj)).wrapping_sub(borrow);
        *o = v as u32;
        borrow = v >> 63;
    }
    // Keep the difference unless it borrowed past the carry (the sum was below p).
    if carry >= borrow {
        d
    } else {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::jwt::modular::Modulus;
    use crate::authn::jwt::tests::xorshift as rng;

    /// The same Montgomery product and square, sum and difference as the generic code, on random values below p and at the
    /// edges (0, 1, p - 1, words of all ones).
    #[test]
    fn agrees_with_the_generic_montgomery_product() {
        let be: Vec<u8> = P.iter().rev().flat_map(|w| w.to_be_bytes()).collect();
        let m = Modulus::from_be_bytes(&be).unwrap();
        let mut next = rng(0x5eed);
        let p_minus_one = {
            let mut v = P;
            v[0] -= 1;
            v
        };
        let edges = [
            [0u32; 8],
            [1, 0, 0, 0, 0, 0, 0, 0],
            p_minus_one,
            [
                0xffff_ffff,
                0xffff_ffff,
                0xffff_ffff,
                0xffff_ffff,
                0xffff_ffff,
                0xffff_ffff,
                0,
                0xffff_fffe,
            ],
        ];
        let mut below_p = || loop {
            let v: [u32; 8] = std::array::from_fn(|_| next() as u32);
            if crate::authn::jwt::modular::less(&v, &P) {
                return v;
            }
        };
        for round in 0..2000 {
            let (a, b) = match (edges.get(round % 4), edges.get(round / 4)) {
                (Some(x), Some(y)) if round < 16 => (*x, *y),
                (Some(x), _) if round < 100 => (*x, below_p()),
                _ => (below_p(), below_p()),
            };
            let mut want = [0u32; 8];
            let mut w = [0u32; 17];
            m.mul(&a, &b, &mut want, &mut w);
            assert_eq!(mont_mul(&a, &b), want, "round {round}: {a:x?} * {b:x?}");
            m.sqr(&a, &mut want, &mut w);
            assert_eq!(mont_sqr(&a), want, "round {round}: {a:x?} squared");
            m.add(&a, &b, &mut want);
            assert_eq!(add(&a, &b), want, "round {round}: {a:x?} + {b:x?}");
            m.sub(&a, &b, &mut want);
            assert_eq!(sub(&a, &b), want, "round {round}: {a:x?} - {b:x?}");
        }
    }
}
