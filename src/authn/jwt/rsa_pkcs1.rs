//! RS256/384/512 (RSASSA-PKCS1-v1_5) verification with a Montgomery exponentiation prepared
//! when the JWKS is read.
//!
//! Why not the `rsa` crate's: its `sig^e mod n` runs on general-purpose big integers that
//! allocate at every step; inside V8 that made a first RS256 verification cost ~1 ms. Here the
//! modulus is split into 32-bit limbs (wasm multiplies 32x32->64 natively) and the Montgomery
//! constants are computed once per key, so a verification is `e`'s 17 (or 2) multiplications
//! on fixed-size buffers. Only public values are involved (key, signature, message): no
//! constant-time concern. PS256/384/512 keep the `rsa` crate.
//!
//! The check is BoringSSL's `RSA_verify`, as jwt_verify_lib calls it: the signature has exactly
//! the modulus' length and is below it, and `sig^e mod n` equals, byte for byte,
//! `00 01 FF..FF 00 || DigestInfo(hash) || hash(message)` (at least eight `FF`).

use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// A modulus ready for Montgomery multiplication.
#[derive(Clone, PartialEq, Eq)]
pub struct Montgomery {
    /// The modulus, least significant limb first.
    n: Vec<u32>,
    /// `-n^-1 mod 2^32`.
    n0inv: u32,
    /// `R^2 mod n`, R = 2^(32 * limbs): brings a value into Montgomery form.
    r2: Vec<u32>,
    /// The public exponent's bits, most significant first (the leading 1 included).
    e_bits: Vec<bool>,
    /// The modulus' length in bytes: the signature's.
    k: usize,
}

/// The hash an RS algorithm signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// DER of DigestInfo up to the digest (RFC 8017 section 9.2, note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(message).to_vec(),
            Hash::Sha384 => Sha384::digest(message).to_vec(),
            Hash::Sha512 => Sha512::digest(message).to_vec(),
        }
    }
}

impl std::fmt::Debug for Montgomery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Montgomery({} limbs)", self.n.len())
    }
}

/// Little-endian 32-bit limbs of `v`, exactly `len` of them (`v` must fit).
fn limbs(v: &BigUint, len: usize) -> Vec<u32> {
    let mut out = vec![0u32; len];
    for (limb, chunk) in out.iter_mut().zip(v.to_bytes_le().chunks(4)) {
        let mut b = [0u8; 4];
        for (d, s) in b.iter_mut().zip(chunk) {
            *d = *s;
        }
        *limb = u32::from_le_bytes(b);
    }
    out
}

impl Montgomery {
    /// `None` for an even modulus (no Montgomery form; the JWKS reader refuses those anyway).
    pub fn new(key: &RsaPublicKey) -> Option<Self> {
        let n = key.n();
        let len = n.bits().div_ceil(32);
        let n_limbs = limbs(n, len);
        let n0 = *n_limbs.first()?;
        if n0 & 1 == 0 {
            return None;
        }
        // n0^-1 mod 2^32 by Newton's iteration (each step doubles the correct bits).
        let mut inv: u32 = 1;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(inv)));
        }
        let r2 = (BigUint::from(1u32) << (64 * len)) % n;
        let e = key.e().to_bytes_be();
        let e_bits: Vec<bool> = e
            .iter()
            .flat_map(|byte| (0..8).rev().map(move |i| byte >> i & 1 == 1))
            .skip_while(|b| !b)
            .collect();
        Some(Montgomery {
            r2: limbs(&r2, len),
            n: n_limbs,
            n0inv: inv.wrapping_neg(),
            e_bits,
            k: n.bits().div_ceil(8),
        })
    }

    /// `a * b / R mod n` (CIOS) into `out`; `a`, `b` < n. `t` is scratch of `limbs + 2`.
    fn mul(&self, a: &[u32], b: &[u32], out: &mut [u32], t: &mut [u32]) {
        let len = self.n.len();
        let n0 = u64::from(self.n.first().copied().unwrap_or(0));
        let n_rest = self.n.get(1..).unwrap_or_default();
        t.fill(0);
        for &bi in b {
            let bi = u64::from(bi);
            // t += a * bi
            let mut c: u64 = 0;
            for (tj, &aj) in t.iter_mut().zip(a) {
                let s = u64::from(*tj) + u64::from(aj) * bi + c;
                *tj = s as u32;
                c = s >> 32;
            }
            add_top(t, len, c);
            // t += q * n, which makes the low limb zero; then t /= 2^32.
            let t0 = u64::from(t.first().copied().unwrap_or(0));
            let q = u64::from((t0 as u32).wrapping_mul(self.n0inv));
            let mut c = (t0 + q * n0) >> 32;
            if let Some(mid) = t.get_mut(1..len) {
                for (tj, &nj) in mid.iter_mut().zip(n_rest) {
                    let s = u64::from(*tj) + q * u64::from(nj) + c;
                    *tj = s as u32;
                    c = s >> 32;
                }
            }
            add_top(t, len, c);
            t.copy_within(1.., 0);
            if let Some(last) = t.last_mut() {
                *last = 0;
            }
        }
        for (o, s) in out.iter_mut().zip(t.iter()) {
            *o = *s;
        }
        let overflow = t.get(len).copied().unwrap_or(0) != 0;
        self.reduce_once(out, overflow);
    }

    /// `a * a / R mod n` into `out`; `a` < n. `w` is scratch of `2 * limbs + 1`. Each cross
    /// product is computed once and doubled, then the square is reduced (separated operand
    /// scanning): about three quarters of `mul`'s multiplications, and RS verification is
    /// mostly squarings.
    fn sqr(&self, a: &[u32], out: &mut [u32], w: &mut [u32]) {
        let len = self.n.len();
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
        // Montgomery reduction: add q * n * 2^(32 i) so that limb i becomes zero, for each i.
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

    /// Subtracts n from `out` if it is not below n (or overflowed a limb): results of `mul`
    /// and `sqr` are below 2n.
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

    /// `sig^e mod n` as `k` big-endian bytes; `None` when `sig` is not `k` bytes or not below n.
    pub fn public_op(&self, sig: &[u8]) -> Option<Vec<u8>> {
        if sig.len() != self.k {
            return None;
        }
        let len = self.n.len();
        let mut x = vec![0u32; len];
        for (i, chunk) in sig.rchunks(4).enumerate() {
            let mut b = [0u8; 4];
            for (d, s) in b.iter_mut().rev().zip(chunk.iter().rev()) {
                *d = *s;
            }
            *x.get_mut(i)? = u32::from_be_bytes(b);
        }
        if !less(&x, &self.n) {
            return None;
        }
        let mut t = vec![0u32; len + 2];
        let mut xm = vec![0u32; len];
        self.mul(&x, &self.r2, &mut xm, &mut t);
        let mut acc = xm.clone();
        let mut tmp = vec![0u32; len];
        let mut w = vec![0u32; 2 * len + 1];
        for &bit in self.e_bits.iter().skip(1) {
            self.sqr(&acc, &mut tmp, &mut w);
            std::mem::swap(&mut acc, &mut tmp);
            if bit {
                self.mul(&acc, &xm, &mut tmp, &mut t);
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        let mut one = vec![0u32; len];
        *one.first_mut()? = 1;
        self.mul(&acc, &one, &mut tmp, &mut t);
        let mut out: Vec<u8> = tmp.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
        // Keep the k low-order bytes (the limbs may hold up to three more, all zero).
        let extra = out.len().checked_sub(self.k)?;
        if out.iter().take(extra).any(|b| *b != 0) {
            return None;
        }
        out.drain(..extra);
        Some(out)
    }

    /// RSASSA-PKCS1-v1_5 verification of `signature` over `message`.
    pub fn verify(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let Some(em) = self.public_op(signature) else {
            return false;
        };
        let prefix = hash.digest_info_prefix();
        let digest = hash.digest(message);
        let t_len = prefix.len() + digest.len();
        let Some(ps_len) = self.k.checked_sub(3 + t_len).filter(|n| *n >= 8) else {
            return false;
        };
        let mut expected = Vec::with_capacity(self.k);
        expected.extend_from_slice(&[0x00, 0x01]);
        expected.resize(2 + ps_len, 0xff);
        expected.push(0x00);
        expected.extend_from_slice(prefix);
        expected.extend_from_slice(&digest);
        em == expected
    }
}

/// Adds a carry into the two limbs above the low `len` of the scratch buffer.
fn add_top(t: &mut [u32], len: usize, carry: u64) {
    if let Some([lo, hi]) = t.get_mut(len..len + 2) {
        let s = u64::from(*lo) + carry;
        *lo = s as u32;
        *hi = hi.wrapping_add((s >> 32) as u32);
    }
}

/// `a < b`, both little-endian limbs of the same length.
fn less(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n_hex: &str, e: u32) -> RsaPublicKey {
        let n = BigUint::parse_bytes(n_hex.as_bytes(), 16).unwrap();
        RsaPublicKey::new_unchecked(n, BigUint::from(e))
    }

    /// Agrees with the general big-integer `modpow` on many inputs and moduli, 3 and 65537.
    #[test]
    fn public_op_is_modpow() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for bits in [512usize, 1024, 2048, 2056, 3072, 4096] {
            for e in [3u32, 65537] {
                let mut n_bytes: Vec<u8> = (0..bits / 8).map(|_| next() as u8).collect();
                n_bytes[0] |= 0x80;
                *n_bytes.last_mut().unwrap() |= 1;
                let n = BigUint::from_bytes_be(&n_bytes);
                let k = RsaPublicKey::new_unchecked(n.clone(), BigUint::from(e));
                let m = Montgomery::new(&k).unwrap();
                for _ in 0..8 {
                    let mut s: Vec<u8> = (0..bits / 8).map(|_| next() as u8).collect();
                    s[0] &= 0x7f;
                    let want = BigUint::from_bytes_be(&s).modpow(&BigUint::from(e), &n);
                    let mut want = want.to_bytes_be();
                    while want.len() < bits / 8 {
                        want.insert(0, 0);
                    }
                    assert_eq!(m.public_op(&s), Some(want), "{bits} bits, e {e}");
                }
                // n - 1 is -1: any odd power of it is n - 1 (carries through every limb).
                let mut minus_one = n_bytes.clone();
                *minus_one.last_mut().unwrap() -= 1;
                assert_eq!(m.public_op(&minus_one), Some(minus_one.clone()));
                let mut one = vec![0u8; bits / 8];
                *one.last_mut().unwrap() = 1;
                assert_eq!(m.public_op(&one), Some(one.clone()));
                // Too short, too long, equal to n: refused.
                assert_eq!(m.public_op(&n_bytes[1..]), None);
                assert_eq!(m.public_op(&[&[0u8][..], &n_bytes].concat()), None);
                assert_eq!(m.public_op(&n_bytes), None);
            }
        }
    }

    #[test]
    fn an_even_modulus_has_no_montgomery_form() {
        assert!(Montgomery::new(&key("f0f0f0f0f0f0f0f0", 65537)).is_none());
    }
}
