//! RS256/384/512 (RSASSA-PKCS1-v1_5) and PS256/384/512 (RSASSA-PSS) verification with a
//! Montgomery exponentiation prepared when the JWKS is read.
//!
//! Why not the `rsa` crate's: its `sig^e mod n` runs on general-purpose big integers that
//! allocate at every step; inside V8 that made a first RS256 verification cost ~1 ms, and the
//! crate with its big integers was ~30 KB of the module. Here the Montgomery constants are
//! computed once per key, so a verification is `e`'s 17 (or 2) multiplications on fixed-size
//! buffers. Only public values are involved (key, signature, message): no constant-time
//! concern. The arithmetic is `modexp.rs`'s.
//!
//! The checks are BoringSSL's, as jwt_verify_lib calls it: the signature has exactly the
//! modulus' length and is below it; for PKCS1-v1_5 (`RSA_verify`) `sig^e mod n` equals, byte
//! for byte, `00 01 FF..FF 00 || DigestInfo(hash) || hash(message)` (at least eight `FF`); for
//! PSS (`RSA_verify_pss_mgf1`) the encoding verifies as RFC 8017 section 9.1.2 says, with
//! MGF1 over the same hash and a salt exactly as long as the hash (what JWA fixes for PS*).

use super::modexp::PublicModulus;
use super::sha::Hash;

/// An RSA public key ready for `sig^e mod n`.
#[derive(Clone, PartialEq, Eq)]
pub struct Montgomery {
    /// The modulus, ready for Montgomery exponentiation.
    m: PublicModulus,
    /// The public exponent's bits, most significant first (the leading 1 included).
    e_bits: Vec<bool>,
    /// The modulus' length in bytes: the signature's.
    k: usize,
}

/// DER of DigestInfo up to the digest (RFC 8017 section 9.2, note 1).
fn digest_info_prefix(hash: Hash) -> &'static [u8] {
    match hash {
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

impl std::fmt::Debug for Montgomery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Montgomery({} bits)", self.m.bits())
    }
}

impl Montgomery {
    /// From the modulus' big-endian bytes and the exponent. `None` for an even modulus (no
    /// Montgomery form; the JWKS reader refuses those anyway) or a zero exponent.
    pub fn new(n: &[u8], e: u32) -> Option<Self> {
        let m = PublicModulus::from_be_bytes(n)?;
        let e_bits: Vec<bool> = (0..32)
            .rev()
            .map(|i| e >> i & 1 == 1)
            .skip_while(|b| !b)
            .collect();
        if e_bits.is_empty() {
            return None;
        }
        Some(Montgomery {
            k: m.len_bytes(),
            m,
            e_bits,
        })
    }

    /// The modulus' length in bits.
    pub fn bits(&self) -> usize {
        self.m.bits()
    }

    /// `sig^e mod n` as `k` big-endian bytes; `None` when `sig` is not `k` bytes or not below n.
    pub fn public_op(&self, sig: &[u8]) -> Option<Vec<u8>> {
        self.m.pow(sig, &self.e_bits)
    }

    /// RSASSA-PKCS1-v1_5 verification of `signature` over `message`.
    pub fn verify(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let Some(em) = self.public_op(signature) else {
            return false;
        };
        let prefix = digest_info_prefix(hash);
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

    /// RSASSA-PSS verification of `signature` over `message` (EMSA-PSS-VERIFY, RFC 8017
    /// section 9.1.2), MGF1 with `hash`, salt length = hash length.
    pub fn verify_pss(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        self.public_op(signature)
            .is_some_and(|out| self.pss_encoding_holds(hash, message, &out))
    }

    fn pss_encoding_holds(&self, hash: Hash, message: &[u8], out: &[u8]) -> bool {
        // EM has emBits = modBits - 1 bits: one byte fewer than the modulus when modBits is
        // 1 mod 8, and that leading byte of `sig^e mod n` is then zero.
        let em_bits = self.bits().saturating_sub(1);
        let em_len = em_bits.div_ceil(8);
        let Some((lead, em)) = out.split_at_checked(self.k.saturating_sub(em_len)) else {
            return false;
        };
        let m_hash = hash.digest(message);
        let h_len = m_hash.len();
        let s_len = h_len;
        if lead.iter().any(|b| *b != 0) || em_len < h_len + s_len + 2 || em.last() != Some(&0xbc) {
            return false;
        }
        let Some((masked_db, rest)) = em.split_at_checked(em_len - h_len - 1) else {
            return false;
        };
        let Some(h) = rest.get(..h_len) else {
            return false;
        };
        // The bits of EM's first byte beyond emBits must be zero.
        let top = 0xffu8 >> (8 * em_len - em_bits);
        if masked_db.first().is_none_or(|b| b & !top != 0) {
            return false;
        }
        let mut db = masked_db.to_vec();
        mgf1_xor(hash, h, &mut db);
        if let Some(first) = db.first_mut() {
            *first &= top;
        }
        // DB = PS (zeros) || 0x01 || salt.
        let Some((ps, rest)) = db.split_at_checked(em_len - h_len - s_len - 2) else {
            return false;
        };
        let Some((&0x01, salt)) = rest.split_first() else {
            return false;
        };
        ps.iter().all(|b| *b == 0) && hash.digest_parts(&[&[0u8; 8], &m_hash, salt]) == h
    }
}

/// `out ^= MGF1(seed)` (RFC 8017 appendix B.2.1): hash(seed || counter) for counter 0, 1, ...
fn mgf1_xor(hash: Hash, seed: &[u8], out: &mut [u8]) {
    let mut counter = 0u32;
    let mut rest = out;
    while !rest.is_empty() {
        let block = hash.digest_parts(&[seed, &counter.to_be_bytes()]);
        let n = block.len().min(rest.len());
        let Some((now, later)) = rest.split_at_mut_checked(n) else {
            return;
        };
        for (o, m) in now.iter_mut().zip(&block) {
            *o ^= m;
        }
        rest = later;
        counter = counter.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::BigUint;

    /// Agrees with the general big-integer `modpow` on many inputs and moduli, 3 and 65537.
    #[test]
    fn public_op_is_modpow() {
        let mut next = crate::authn::jwt::tests::xorshift(0x9e37_79b9_7f4a_7c15);
        for bits in [512usize, 1024, 2048, 2056, 3072, 4096] {
            for e in [3u32, 65537] {
                let mut n_bytes: Vec<u8> = (0..bits / 8).map(|_| next() as u8).collect();
                n_bytes[0] |= 0x80;
                *n_bytes.last_mut().unwrap() |= 1;
                let n = BigUint::from_bytes_be(&n_bytes);
                let m = Montgomery::new(&n_bytes, e).unwrap();
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
        assert!(Montgomery::new(&[0xf0; 8], 65537).is_none());
        assert!(Montgomery::new(&[0xf1; 8], 0).is_none());
    }
}
