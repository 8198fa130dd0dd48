//! SHA-256, SHA-384 and SHA-512 (FIPS 180-4), and HMAC over them (RFC 2104): the hashes RS*,
//! PS* and ES* sign and the MACs HS* are.
//!
//! Why not the `sha2` and `hmac` crates: with `jwt-compact`'s glue they were ~32 KB of the
//! .wasm, their rounds unrolled (and built at opt-level 3 to be fast); V8 compiles every byte of
//! the module before Envoy's listener is ready. Here each hash is one compression loop on a
//! 16-word schedule. The tests check every length up to three blocks against the crates.
//!
//! The round constants and initial values are FIPS 180-4's (section 4.2 and 5.3): the first
//! bits of the fractional parts of the cube roots (K) and square roots (H) of the first primes.

/// A hash of the SHA-2 family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// The digest's length in bytes.
    pub fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// The block's length in bytes.
    fn block_len(self) -> usize {
        match self {
            Hash::Sha256 => 64,
            Hash::Sha384 | Hash::Sha512 => 128,
        }
    }

    pub fn digest(self, message: &[u8]) -> Vec<u8> {
        self.digest_parts(&[message])
    }

    /// The hash of the parts, concatenated.
    pub fn digest_parts(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut h = H256;
                blocks(parts, 64, &mut |b| compress256(&mut h, b));
                h.iter().flat_map(|w| w.to_be_bytes()).collect()
            }
            Hash::Sha384 | Hash::Sha512 => {
                let mut h = if self == Hash::Sha384 { H384 } else { H512 };
                blocks(parts, 128, &mut |b| compress512(&mut h, b));
                let mut out: Vec<u8> = h.iter().flat_map(|w| w.to_be_bytes()).collect();
                out.truncate(self.len());
                out
            }
        }
    }
}

/// HMAC of `message` under `key`.
pub fn hmac(hash: Hash, key: &[u8], message: &[u8]) -> Vec<u8> {
    let block = hash.block_len();
    let mut k = if key.len() > block {
        hash.digest(key)
    } else {
        key.to_vec()
    };
    k.resize(block, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = hash.digest_parts(&[&ipad, message]);
    hash.digest_parts(&[&opad, &inner])
}

/// Whether `tag` is the HMAC of `message` under `key`, compared in time that does not depend
/// on where they differ: a comparison that stops early tells a forger how many leading bytes
/// of a guess are right.
pub fn hmac_matches(hash: Hash, key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let mac = hmac(hash, key, message);
    mac.len() == tag.len()
        && mac
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| std::hint::black_box(acc | (a ^ b)))
            == 0
}

/// Feeds the parts, then the padding (0x80, zeros, the message's length in bits as a big-endian
/// number filling the block's last eighth), to `compress` one `block`-byte block at a time.
fn blocks(parts: &[&[u8]], block: usize, compress: &mut dyn FnMut(&[u8])) {
    let mut buf = [0u8; 128];
    let mut fill = 0usize;
    let mut total: u128 = 0;
    for part in parts {
        total += part.len() as u128;
        let mut rest: &[u8] = part;
        while !rest.is_empty() {
            if fill == 0 && rest.len() >= block {
                // Whole blocks straight from the input.
                let (b, r) = rest.split_at(block);
                compress(b);
                rest = r;
                continue;
            }
            let take = (block - fill).min(rest.len());
            let (now, later) = rest.split_at(take);
            if let Some(slot) = buf.get_mut(fill..fill + take) {
                slot.copy_from_slice(now);
            }
            fill += take;
            rest = later;
            if fill == block {
                compress(buf.get(..block).unwrap_or_default());
                fill = 0;
            }
        }
    }
    let len_at = block - block / 8;
    if let Some(b) = buf.get_mut(fill) {
        *b = 0x80;
    }
    if fill + 1 > len_at {
        if let Some(tail) = buf.get_mut(fill + 1..block) {
            tail.fill(0);
        }
        compress(buf.get(..block).unwrap_or_default());
        fill = 0;
    } else {
        fill += 1;
    }
    if let Some(zeros) = buf.get_mut(fill..len_at) {
        zeros.fill(0);
    }
    let bits = (total * 8).to_be_bytes();
    if let (Some(slot), Some(len)) = (
        buf.get_mut(len_at..block),
        bits.get(bits.len() - block / 8..),
    ) {
        slot.copy_from_slice(len);
    }
    compress(buf.get(..block).unwrap_or_default());
}

/// The compression function, for one word size: SHA-256's and SHA-512's differ only in the word,
/// the number of rounds, the constants and the rotation amounts (FIPS 180-4, 6.2.2 and 6.4.2).
/// The message schedule is kept as a ring of 16 words.
macro_rules! compress {
    ($(#[$doc:meta])* $name:ident, $word:ty, $k:ident,
     sigma0: $a0:literal $a1:literal >> $a2:literal, sigma1: $b0:literal $b1:literal >> $b2:literal,
     big_sigma0: $c0:literal $c1:literal $c2:literal, big_sigma1: $d0:literal $d1:literal $d2:literal) => {
        $(#[$doc])*
        fn $name(h: &mut [$word; 8], block: &[u8]) {
            let mut w = [0 as $word; 16];
            for (slot, b) in w.iter_mut().zip(block.chunks_exact(std::mem::size_of::<$word>())) {
                *slot = <$word>::from_be_bytes(b.try_into().unwrap_or_default());
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
            for i in 0..$k.len() {
                let wi = if i < 16 {
                    w.get(i).copied().unwrap_or(0)
                } else {
                    let at = |back: usize| w.get((i - back) & 15).copied().unwrap_or(0);
                    let (w15, w2) = (at(15), at(2));
                    let s0 = w15.rotate_right($a0) ^ w15.rotate_right($a1) ^ (w15 >> $a2);
                    let s1 = w2.rotate_right($b0) ^ w2.rotate_right($b1) ^ (w2 >> $b2);
                    let v = at(16).wrapping_add(s0).wrapping_add(at(7)).wrapping_add(s1);
                    if let Some(slot) = w.get_mut(i & 15) {
                        *slot = v;
                    }
                    v
                };
                let s1 = e.rotate_right($d0) ^ e.rotate_right($d1) ^ e.rotate_right($d2);
                let ch = (e & f) ^ (!e & g);
                let t1 = hh
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add($k.get(i).copied().unwrap_or(0))
                    .wrapping_add(wi);
                let s0 = a.rotate_right($c0) ^ a.rotate_right($c1) ^ a.rotate_right($c2);
                let maj = (a & b) ^ (a & c) ^ (b & c);
                hh = g;
                g = f;
                f = e;
                e = d.wrapping_add(t1);
                d = c;
                c = b;
                b = a;
                a = t1.wrapping_add(s0.wrapping_add(maj));
            }
            for (s, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
                *s = s.wrapping_add(v);
            }
        }
    };
}

compress!(
    /// One SHA-256 block into the state.
    compress256, u32, K256,
    sigma0: 7 18 >> 3, sigma1: 17 19 >> 10, big_sigma0: 2 13 22, big_sigma1: 6 11 25
);
compress!(
    /// One SHA-512 block into the state (SHA-384 is the same with other initial values).
    compress512, u64, K512,
    sigma0: 1 8 >> 7, sigma1: 19 61 >> 6, big_sigma0: 28 34 39, big_sigma1: 14 18 41
);

const K256: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];
const K512: [u64; 80] = [
    0x428a2f98d728ae22,
    0x7137449123ef65cd,
    0xb5c0fbcfec4d3b2f,
    0xe9b5dba58189dbbc,
    0x3956c25bf348b538,
    0x59f111f1b605d019,
    0x923f82a4af194f9b,
    0xab1c5ed5da6d8118,
    0xd807aa98a3030242,
    0x12835b0145706fbe,
    0x243185be4ee4b28c,
    0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f,
    0x80deb1fe3b1696b1,
    0x9bdc06a725c71235,
    0xc19bf174cf692694,
    0xe49b69c19ef14ad2,
    0xefbe4786384f25e3,
    0x0fc19dc68b8cd5b5,
    0x240ca1cc77ac9c65,
    0x2de92c6f592b0275,
    0x4a7484aa6ea6e483,
    0x5cb0a9dcbd41fbd4,
    0x76f988da831153b5,
    0x983e5152ee66dfab,
    0xa831c66d2db43210,
    0xb00327c898fb213f,
    0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2,
    0xd5a79147930aa725,
    0x06ca6351e003826f,
    0x142929670a0e6e70,
    0x27b70a8546d22ffc,
    0x2e1b21385c26c926,
    0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df,
    0x650a73548baf63de,
    0x766a0abb3c77b2a8,
    0x81c2c92e47edaee6,
    0x92722c851482353b,
    0xa2bfe8a14cf10364,
    0xa81a664bbc423001,
    0xc24b8b70d0f89791,
    0xc76c51a30654be30,
    0xd192e819d6ef5218,
    0xd69906245565a910,
    0xf40e35855771202a,
    0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8,
    0x1e376c085141ab53,
    0x2748774cdf8eeb99,
    0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63,
    0x4ed8aa4ae3418acb,
    0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc,
    0x78a5636f43172f60,
    0x84c87814a1f0ab72,
    0x8cc702081a6439ec,
    0x90befffa23631e28,
    0xa4506cebde82bde9,
    0xbef9a3f7b2c67915,
    0xc67178f2e372532b,
    0xca273eceea26619c,
    0xd186b8c721c0c207,
    0xeada7dd6cde0eb1e,
    0xf57d4f7fee6ed178,
    0x06f067aa72176fba,
    0x0a637dc5a2c898a6,
    0x113f9804bef90dae,
    0x1b710b35131c471b,
    0x28db77f523047d84,
    0x32caab7b40c72493,
    0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6,
    0x597f299cfc657e2a,
    0x5fcb6fab3ad6faec,
    0x6c44198c4a475817,
];
const H256: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const H384: [u64; 8] = [
    0xcbbb9d5dc1059ed8,
    0x629a292a367cd507,
    0x9159015a3070dd17,
    0x152fecd8f70e5939,
    0x67332667ffc00b31,
    0x8eb44a8768581511,
    0xdb0c2e0d64f98fa7,
    0x47b5481dbefa4fa4,
];
const H512: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

#[cfg(test)]
mod tests {
    use super::{hmac, hmac_matches, Hash};
    use sha2::Digest;

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn digests_match_the_sha2_crate_at_every_length_up_to_three_blocks() {
        for n in 0..=3 * 128 + 1 {
            let m = bytes(n, n as u8);
            assert_eq!(
                Hash::Sha256.digest(&m),
                sha2::Sha256::digest(&m).to_vec(),
                "{n}"
            );
            assert_eq!(
                Hash::Sha384.digest(&m),
                sha2::Sha384::digest(&m).to_vec(),
                "{n}"
            );
            assert_eq!(
                Hash::Sha512.digest(&m),
                sha2::Sha512::digest(&m).to_vec(),
                "{n}"
            );
            // The same bytes in parts that cut blocks anywhere.
            let (x, rest) = m.split_at(n / 3);
            let (y, z) = rest.split_at(rest.len() / 2);
            for h in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
                assert_eq!(h.digest_parts(&[x, &[], y, z]), h.digest(&m), "{h:?} {n}");
            }
        }
    }

    #[test]
    fn fips_examples() {
        let hex = |v: Vec<u8>| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(Hash::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(Hash::Sha512.digest(b"abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(
            hex(Hash::Sha384.digest(b"abc")),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_and_jwt_compact() {
        // RFC 4231 test case 2.
        let mac = hmac(Hash::Sha256, b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        use jwt_compact::alg::{Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key};
        use jwt_compact::{Algorithm, AlgorithmSignature};
        // Keys shorter than, as long as and longer than a block (hashed first).
        for key_len in [0, 1, 32, 64, 65, 128, 129, 300] {
            let key = bytes(key_len, 7);
            let msg = bytes(200 + key_len, 3);
            let theirs = Hs256.sign(&Hs256Key::new(&key), &msg);
            assert_eq!(hmac(Hash::Sha256, &key, &msg), theirs.as_bytes().to_vec());
            let theirs = Hs384.sign(&Hs384Key::new(&key), &msg);
            assert_eq!(hmac(Hash::Sha384, &key, &msg), theirs.as_bytes().to_vec());
            let theirs = Hs512.sign(&Hs512Key::new(&key), &msg);
            assert_eq!(hmac(Hash::Sha512, &key, &msg), theirs.as_bytes().to_vec());
        }
    }

    #[test]
    fn a_tag_matches_only_whole() {
        let tag = hmac(Hash::Sha256, b"k", b"m");
        assert!(hmac_matches(Hash::Sha256, b"k", b"m", &tag));
        assert!(!hmac_matches(Hash::Sha256, b"k", b"m", &tag[..31]));
        assert!(!hmac_matches(Hash::Sha256, b"k", b"m", &[]));
        for i in 0..tag.len() {
            let mut bad = tag.clone();
            bad[i] ^= 1;
            assert!(!hmac_matches(Hash::Sha256, b"k", b"m", &bad), "{i}");
        }
        assert!(!hmac_matches(Hash::Sha384, b"k", b"m", &tag));
    }
}
