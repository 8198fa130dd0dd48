//! `x^e mod n` for RSA verification: Montgomery multiplication on 27-bit limbs with lazy
//! carries (product scanning, Koç's "FIPS" ordering).
//!
//! Why not `modular.rs`'s 32-bit limbs, which ES* still run on: wasm has no 64x64->128
//! multiply, so a 32-bit limb product has to be split into a 32-bit digit and a carry at every
//! step. A 27-bit product is below 2^54, so a whole column of them adds up in one u64 with
//! nothing to propagate until the column ends: one multiply and one add per product, for 76
//! limbs instead of 64 at 2048 bits. Inside V8 (bench/v8) a first RS256 verification went
//! from 113 to 94 µs.
//!
//! The limbs are stored in 32 bits so that, in wasm, a column's products are taken four at a
//! time with SIMD (`dot`): the RS256 signature check in V8 went from 129 to 81 µs.
//!
//! Only public values pass through here (keys and signatures): nothing is constant-time.

/// Bits per limb.
const BITS: u32 = 27;
const MASK: u64 = (1 << BITS) - 1;
/// A limb is stored in 32 bits (wasm SIMD multiplies four of those into two 64-bit lanes at a
/// time); products and column sums are u64.
type Limb = u32;
/// The longest modulus, in limbs, whose columns cannot overflow the accumulator: a column
/// adds at most `2 * limbs` products below 2^54 and a carry below `2 * limbs * 2^27`, so 511
/// limbs (13,797 bits; RSA keys are read up to 8,192) keep it below 2^64.
const MAX_LIMBS: usize = 511;

/// An odd modulus ready for `x^e mod n`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicModulus {
    /// The modulus in 27-bit limbs, least significant first.
    n: Vec<Limb>,
    /// The same limbs, most significant first (see `dot`).
    n_rev: Vec<Limb>,
    /// `-n^-1 mod 2^27`.
    n0inv: u64,
    /// `R^2 mod n`, R = 2^(27 * limbs).
    r2: Vec<Limb>,
    /// The modulus' big-endian bytes without leading zeros: the signature's length, and what
    /// it must be below.
    n_be: Vec<u8>,
}

impl std::fmt::Debug for PublicModulus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicModulus({} bits)", self.bits())
    }
}

/// `sum x[t] * y[t]`: the products of one column, the second factors taken from an operand
/// stored most significant limb first (see `window`), so both run forwards.
///
/// Index loops over slices cut to one length on purpose: at opt-level "z" LLVM then drops
/// every bounds check and leaves loads, multiplies and adds, while iterator adapters
/// (`zip(y.iter().rev())`) stay a call per element and a reversed index `y[n - 1 - i]` keeps
/// its check: either made the exponentiation three to four times slower in V8.
#[cfg(not(target_arch = "wasm32"))]
fn dot(x: &[Limb], y: &[Limb]) -> u64 {
    let n = x.len();
    let mut s = 0u64;
    if let Some(y) = y.get(..n) {
        for i in 0..n {
            if let (Some(&a), Some(&b)) = (x.get(i), y.get(i)) {
                s += u64::from(a) * u64::from(b);
            }
        }
    }
    s
}

/// `dot` in wasm SIMD: four limbs a load, multiplied into two 64-bit lanes by
/// `u64x2_extmul_{low,high}_u32x4` (x86's `pmuludq`), the rest one by one. Each lane holds
/// part of the column's sum, so `MAX_LIMBS`'s bound holds for each lane too. In V8 the RS256
/// signature check takes ~0.6 of the scalar loop's time (bench/v8, `signature/RS256`). The
/// module needs a runtime with wasm SIMD (V8, which Envoy and Istio's proxies run, has it on
/// by default); `make unit` runs these tests in V8 too.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn dot(x: &[Limb], y: &[Limb]) -> u64 {
    use core::arch::wasm32::{i64x2_add, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4};
    let n = x.len();
    let Some(y) = y.get(..n) else {
        return 0;
    };
    let mut lanes = core::arch::wasm32::u64x2_splat(0);
    let mut i = 0;
    while i + 4 <= n {
        let (a, b) = (load4(x, i), load4(y, i));
        lanes = i64x2_add(lanes, u64x2_extmul_low_u32x4(a, b));
        lanes = i64x2_add(lanes, u64x2_extmul_high_u32x4(a, b));
        i += 4;
    }
    let mut s = core::arch::wasm32::u64x2_extract_lane::<0>(lanes)
        + core::arch::wasm32::u64x2_extract_lane::<1>(lanes);
    while let (Some(&a), Some(&b)) = (x.get(i), y.get(i)) {
        s += u64::from(a) * u64::from(b);
        i += 1;
    }
    s
}

/// `s[i..i + 4]` as one vector; zeros if the slice is shorter (the callers never ask).
#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn load4(s: &[Limb], i: usize) -> core::arch::wasm32::v128 {
    match s.get(i..i + 4) {
        // SAFETY: the four limbs at `i` are inside `s` (checked just above); `v128_load`
        // reads 16 bytes from any alignment.
        Some(four) => unsafe { core::arch::wasm32::v128_load(four.as_ptr().cast()) },
        None => core::arch::wasm32::u64x2_splat(0),
    }
}

/// `dot(x1, y1) + dot(x2, y2)`, for two pairs of the same length. (Both in one SIMD loop
/// measured the same in V8.)
#[inline(always)]
fn dot2(x1: &[Limb], y1: &[Limb], x2: &[Limb], y2: &[Limb]) -> u64 {
    dot(x1, y1) + dot(x2, y2)
}

/// The partners `y[k - i]` of `x[i]` for `i` in `from..to`, out of `rev` (y most significant
/// limb first: `rev[t] = y[limbs - 1 - t]`), in the order `dot` wants.
#[inline(always)]
fn window(rev: &[Limb], k: usize, from: usize, to: usize) -> &[Limb] {
    let base = rev.len() + from - 1 - k;
    slice(rev, base, base + to - from)
}

/// `rev = x` most significant limb first.
fn reverse_into(x: &[Limb], rev: &mut [Limb]) {
    for (r, v) in rev.iter_mut().zip(x.iter().rev()) {
        *r = *v;
    }
}

/// Scratch for one multiplication: the reduction's quotient digits and an operand reversed.
struct Scratch {
    q: Vec<Limb>,
    rev: Vec<Limb>,
}

impl PublicModulus {
    /// From big-endian bytes (leading zeros allowed). `None` for an even modulus, one below
    /// 3, or one over `MAX_LIMBS` limbs.
    pub fn from_be_bytes(bytes: &[u8]) -> Option<Self> {
        let first = bytes.iter().position(|&b| b != 0)?;
        let n_be = bytes.get(first..)?.to_vec();
        let bits = 8 * n_be.len() - n_be.first().map_or(8, |b| b.leading_zeros() as usize);
        let n = limbs_of(&n_be, bits.div_ceil(BITS as usize));
        let n0 = u64::from(*n.first()?);
        if n0 & 1 == 0 || (n.len() == 1 && n0 < 3) || n.len() > MAX_LIMBS {
            return None;
        }
        // n0^-1 mod 2^27 by Newton's iteration (each step doubles the correct bits).
        let mut inv: u64 = 1;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(inv)));
        }
        let len = n.len();
        let n_rev = n.iter().rev().copied().collect();
        let mut m = PublicModulus {
            n,
            n_rev,
            n0inv: inv.wrapping_neg() & MASK,
            r2: vec![0; len],
            n_be,
        };
        m.r2 = m.compute_r2();
        Some(m)
    }

    /// The modulus' length in bits.
    pub fn bits(&self) -> usize {
        8 * self.n_be.len() - self.n_be.first().map_or(8, |b| b.leading_zeros() as usize)
    }

    /// The modulus' length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.n_be.len()
    }

    /// `x^e mod n` as big-endian bytes of the modulus' length; `None` unless `x` has exactly
    /// that length and is below n. `e_bits`: the exponent, most significant bit first, from
    /// its leading 1.
    pub fn pow(&self, x: &[u8], e_bits: &[bool]) -> Option<Vec<u8>> {
        // Same length, so big-endian byte order is numeric order.
        if x.len() != self.n_be.len() || x >= self.n_be.as_slice() {
            return None;
        }
        let (&first, rest) = e_bits.split_first()?;
        if !first {
            return None;
        }
        let len = self.n.len();
        let x = limbs_of(x, len);
        let mut xm = vec![0; len];
        let mut scratch = self.scratch();
        self.mul(&x, &self.r2, &mut xm, &mut scratch);
        let mut acc = xm.clone();
        let mut tmp = vec![0; len];
        // An exponent ending in a 1 bit (every RSA one: e is odd) ends with a multiply by x:
        // by x itself rather than its Montgomery form, that multiply also leaves the form
        // (aR * x / R = ax), and the multiply by one below is not needed.
        let (odd, bits) = match rest.split_last() {
            Some((&true, init)) => (true, init),
            _ => (false, rest),
        };
        for &bit in bits {
            self.sqr(&acc, &mut tmp, &mut scratch);
            std::mem::swap(&mut acc, &mut tmp);
            if bit {
                self.mul(&acc, &xm, &mut tmp, &mut scratch);
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        if odd {
            self.sqr(&acc, &mut tmp, &mut scratch);
            self.mul(&tmp, &x, &mut acc, &mut scratch);
        } else {
            let mut one = vec![0; len];
            if let Some(lo) = one.first_mut() {
                *lo = 1;
            }
            self.mul(&acc, &one, &mut tmp, &mut scratch);
            acc = tmp;
        }
        Some(be_bytes_of(&acc, self.n_be.len()))
    }

    /// `R^2 mod n`: doubling 1 `27 * limbs + j` times gives the Montgomery form of 2^j, and
    /// `i` Montgomery squarings then the form of 2^(j * 2^i); with j * 2^i = 27 * limbs, that
    /// is the form of R, R^2 mod n. The doublings start at 2^(bits - 1), below n already.
    fn compute_r2(&self) -> Vec<Limb> {
        let len = self.n.len();
        let total = BITS as usize * len;
        let i = total.trailing_zeros() as usize;
        let j = total >> i;
        let top = self.bits() - 1;
        let mut x = vec![0; len];
        if let Some(limb) = x.get_mut(top / BITS as usize) {
            *limb = 1 << (top % BITS as usize);
        }
        for _ in top..total + j {
            for limb in x.iter_mut() {
                *limb <<= 1;
            }
            self.normalize_and_reduce(&mut x);
        }
        let mut out = vec![0; len];
        let mut scratch = self.scratch();
        for _ in 0..i {
            self.sqr(&x, &mut out, &mut scratch);
            std::mem::swap(&mut x, &mut out);
        }
        x
    }

    fn scratch(&self) -> Scratch {
        Scratch {
            q: vec![0; self.n.len()],
            rev: vec![0; self.n.len()],
        }
    }

    /// `a * b / R mod n` into `out` (`a`, `b` below n).
    fn mul(&self, a: &[Limb], b: &[Limb], out: &mut [Limb], w: &mut Scratch) {
        let len = self.n.len();
        reverse_into(b, &mut w.rev);
        let b_rev = w.rev.as_slice();
        let b0 = u64::from(b.first().copied().unwrap_or(0));
        self.product(out, &mut w.q, |k, lo, q, n| {
            if k < len {
                // a[k] * b[0] has no q * n partner: q[k] is chosen after this sum.
                let last = u64::from(a.get(k).copied().unwrap_or(0)) * b0;
                last + dot2(slice(a, 0, k), window(b_rev, k, 0, k), q, n)
            } else {
                dot2(slice(a, lo, len), window(b_rev, k, lo, len), q, n)
            }
        });
    }

    /// `a * a / R mod n` into `out` (`a` below n): each cross product once, doubled.
    fn sqr(&self, a: &[Limb], out: &mut [Limb], w: &mut Scratch) {
        reverse_into(a, &mut w.rev);
        let a_rev = w.rev.as_slice();
        self.product(out, &mut w.q, |k, lo, q, n| {
            // Pairs (i, k - i) with lo <= i < k - i (lo never exceeds half), then the square
            // of limb k / 2.
            let half = k.div_ceil(2);
            let cross = dot(slice(a, lo, half), window(a_rev, k, lo, half));
            let square = match a.get(k / 2) {
                Some(&m) if k % 2 == 0 => u64::from(m) * u64::from(m),
                _ => 0,
            };
            2 * cross + square + dot(q, n)
        });
    }

    /// The Montgomery product scanned column by column. `column(k, lo, q, n)` is the sum of
    /// the products whose limb indices add up to k: the operands' (the lower index from `lo`)
    /// and the reduction's `q[i] * n[k - i]`, whose factors come as the slices `q` and `n`
    /// (aligned by `window`). q's digit k is chosen to clear the column while k < limbs; the
    /// upper half is kept.
    #[inline(always)]
    fn product(
        &self,
        out: &mut [Limb],
        q: &mut [Limb],
        column: impl Fn(usize, usize, &[Limb], &[Limb]) -> u64,
    ) {
        let len = self.n.len();
        let n = self.n.as_slice();
        let n_rev = self.n_rev.as_slice();
        let n0 = u64::from(n.first().copied().unwrap_or(0));
        let mut acc = 0u64;
        for k in 0..len {
            acc += column(k, 0, slice(q, 0, k), window(n_rev, k, 0, k));
            let digit = acc.wrapping_mul(self.n0inv) & MASK;
            if let Some(d) = q.get_mut(k) {
                *d = digit as Limb;
            }
            // The column's digit is zero now: that is what dividing by R drops.
            acc = (acc + digit * n0) >> BITS;
        }
        for k in len..2 * len - 1 {
            let lo = k + 1 - len;
            acc += column(k, lo, slice(q, lo, len), window(n_rev, k, lo, len));
            if let Some(o) = out.get_mut(k - len) {
                *o = (acc & MASK) as Limb;
            }
            acc >>= BITS;
        }
        if let Some(o) = out.last_mut() {
            *o = (acc & MASK) as Limb;
        }
        // The product is below 2n: what is left over is at most one bit above the top limb.
        if acc >> BITS != 0 || !less(out, n) {
            sub_in_place(out, n);
        }
    }

    /// Carries every limb's excess into the next, then subtracts n once if not below it: `x`
    /// is 2y for some y below n.
    fn normalize_and_reduce(&self, x: &mut [Limb]) {
        let mut carry = 0u64;
        for limb in x.iter_mut() {
            let v = u64::from(*limb) + carry;
            *limb = (v & MASK) as Limb;
            carry = v >> BITS;
        }
        if carry != 0 || !less(x, &self.n) {
            sub_in_place(x, &self.n);
        }
    }
}

/// `s[from..to]`, empty when out of range (never, for the indices the columns use).
fn slice(s: &[Limb], from: usize, to: usize) -> &[Limb] {
    s.get(from..to).unwrap_or(&[])
}

/// `x -= n` modulo R (the borrow out is the overflow the caller saw).
fn sub_in_place(x: &mut [Limb], n: &[Limb]) {
    super::modular::sub_limbs_of_width(x, n, MASK);
}

/// `a < b`, both little-endian limbs of the same length.
fn less(a: &[Limb], b: &[Limb]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// Big-endian bytes as `len` 27-bit limbs (the bytes fit: the callers size `len` for them).
fn limbs_of(be: &[u8], len: usize) -> Vec<Limb> {
    let mut out: Vec<Limb> = vec![0; len];
    for (byte_i, &b) in be.iter().rev().enumerate() {
        let bit = 8 * byte_i;
        let (limb, shift) = (bit / BITS as usize, (bit % BITS as usize) as u32);
        if let Some(l) = out.get_mut(limb) {
            *l |= ((u64::from(b) << shift) & MASK) as Limb;
        }
        // A byte straddles two limbs when it starts in a limb's last 7 bits.
        if shift > BITS - 8 {
            if let Some(l) = out.get_mut(limb + 1) {
                *l |= Limb::from(b) >> (BITS - shift);
            }
        }
    }
    out
}

/// 27-bit limbs as exactly `k` big-endian bytes (the value fits: it is below n).
fn be_bytes_of(limbs: &[Limb], k: usize) -> Vec<u8> {
    let mut out = vec![0u8; k];
    for (byte_i, o) in out.iter_mut().rev().enumerate() {
        let bit = 8 * byte_i;
        let (limb, shift) = (bit / BITS as usize, (bit % BITS as usize) as u32);
        let mut v = limbs.get(limb).map_or(0, |&l| u64::from(l) >> shift);
        if shift > BITS - 8 {
            v |= limbs
                .get(limb + 1)
                .map_or(0, |&l| u64::from(l) << (BITS - shift));
        }
        *o = v as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::BigUint;

    use crate::authn::jwt::tests::xorshift as rng;

    fn bits_of(e: &BigUint) -> Vec<bool> {
        let bytes = e.to_bytes_be();
        let all = bytes
            .iter()
            .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 == 1));
        all.skip_while(|b| !b).collect()
    }

    /// Agrees with general big-integer `modpow` on moduli of every length class (a limb
    /// boundary, a byte boundary, sizes whose columns need more than one chunk, up to the
    /// largest RSA key read), for small, usual and long exponents, and at the edges 0, 1, n-1.
    #[test]
    fn pow_is_modpow() {
        let mut next = rng(0x2545_f491_4f6c_dd1d);
        for bits in [
            2usize, 26, 27, 28, 54, 255, 512, 1025, 1792, 2048, 3557, 4096, 8192, 13797,
        ] {
            let bytes = bits.div_ceil(8);
            let mut n_bytes: Vec<u8> = (0..bytes).map(|_| next() as u8).collect();
            let top_bits = bits - 8 * (bytes - 1);
            let top_mask = ((1u16 << top_bits) - 1) as u8;
            // Every limb at its largest for the long moduli: the accumulators' worst case
            // (a debug build's overflow checks would catch a sum that wraps).
            if bits >= 2048 {
                n_bytes.fill(0xff);
            }
            n_bytes[0] = (n_bytes[0] & top_mask) | (1 << (top_bits - 1));
            *n_bytes.last_mut().unwrap() |= 1;
            let n = BigUint::from_bytes_be(&n_bytes);
            let Some(m) = PublicModulus::from_be_bytes(&n_bytes) else {
                assert!(bits <= 2, "{bits}");
                continue;
            };
            assert_eq!(m.bits(), bits);
            let len = m.n.len();
            let r = BigUint::from(1u32) << (27 * len);
            let r2 = BigUint::from_bytes_be(&be_bytes_of(&m.r2, 4 * len));
            assert_eq!(r2, (&r * &r) % &n, "{bits}: R^2");
            let pad = |v: &BigUint| {
                let mut b = v.to_bytes_be();
                while b.len() < bytes {
                    b.insert(0, 0);
                }
                b
            };
            let rounds = if bits >= 4096 { 2 } else { 6 };
            let long_e = BigUint::from_bytes_be(&(0..40).map(|_| next() as u8).collect::<Vec<_>>());
            let minus_one = &n - 1u32;
            for i in 0..rounds {
                let x = match i {
                    0 => BigUint::from(0u32),
                    1 => minus_one.clone(),
                    _ => {
                        BigUint::from_bytes_be(
                            &(0..bytes).map(|_| next() as u8).collect::<Vec<_>>(),
                        ) % &n
                    }
                };
                for e in [
                    BigUint::from(1u32),
                    BigUint::from(3u32),
                    BigUint::from(65537u32),
                    long_e.clone(),
                ] {
                    let want = pad(&x.modpow(&e, &n));
                    assert_eq!(
                        m.pow(&pad(&x), &bits_of(&e)),
                        Some(want),
                        "{bits} bits, x #{i}, e {e}"
                    );
                }
            }
            // Too short, too long, n itself, above n: refused.
            let e = bits_of(&BigUint::from(65537u32));
            assert_eq!(m.pow(&n_bytes[1..], &e), None);
            assert_eq!(m.pow(&[&[0u8][..], &n_bytes].concat(), &e), None);
            assert_eq!(m.pow(&n_bytes, &e), None);
            assert_eq!(m.pow(&vec![0xff; bytes], &e), None);
            // An exponent must start at its leading 1.
            assert_eq!(m.pow(&pad(&minus_one), &[false, true]), None);
            assert_eq!(m.pow(&pad(&minus_one), &[]), None);
        }
    }

    #[test]
    fn no_form_for_even_or_tiny_moduli() {
        assert!(PublicModulus::from_be_bytes(&[0xf0, 0xf0]).is_none());
        assert!(PublicModulus::from_be_bytes(&[0, 1]).is_none());
        assert!(PublicModulus::from_be_bytes(&[0, 0]).is_none());
        assert!(PublicModulus::from_be_bytes(&[]).is_none());
        assert!(PublicModulus::from_be_bytes(&[3]).is_some());
        // Past MAX_LIMBS the columns could overflow: refused.
        let mut too_long = vec![0xffu8; (27 * MAX_LIMBS).div_ceil(8)];
        too_long[0] = 0x3f;
        assert!(PublicModulus::from_be_bytes(&too_long).is_none());
        too_long[0] = 0x1f;
        assert_eq!(
            PublicModulus::from_be_bytes(&too_long).map(|m| m.bits()),
            Some(27 * MAX_LIMBS)
        );
        assert_eq!(
            PublicModulus::from_be_bytes(&[0, 0, 1, 1]).map(|m| m.len_bytes()),
            Some(2)
        );
    }

    #[test]
    fn limb_conversions_round_trip() {
        let mut next = rng(11);
        for k in [1usize, 3, 7, 8, 26, 27, 28, 256] {
            let v: Vec<u8> = (0..k).map(|_| next() as u8).collect();
            let limbs = limbs_of(&v, (8 * k).div_ceil(27));
            assert!(limbs.iter().all(|&l| u64::from(l) <= MASK));
            assert_eq!(be_bytes_of(&limbs, k), v, "{k} bytes");
        }
    }
}
