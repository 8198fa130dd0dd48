//! Scalars as signed digits of a width-5 window, for the double scalar multiplications of
//! Ed25519 and ECDSA verification: with tables of P, 3P, ..., 15P, a 256-bit scalar costs
//! about 43 additions instead of the 128 one addition per set bit costs.

/// The odd multiples a table holds: P, 3P, ..., 15P.
pub const TABLE: usize = 8;

/// `k` (little-endian 32-bit limbs) as signed digits, each 0 or odd in -15..=15, a nonzero
/// digit followed by four zeros at least: sum d_i 2^i = k. One digit per bit of `k` and six
/// more, the room the last carry needs.
pub fn signed_digits(k: &[u32]) -> Vec<i8> {
    let total = 32 * k.len();
    let bits = |i: usize, n: usize| -> u32 {
        (0..n).fold(0, |acc, j| {
            let b = k.get((i + j) / 32).map_or(0, |l| l >> ((i + j) % 32) & 1);
            acc | b << j
        })
    };
    let mut out = vec![0i8; total + 6];
    let (mut i, mut carry) = (0usize, 0u32);
    while i < total {
        let low = bits(i, 1) + carry;
        if low % 2 == 0 {
            carry = low / 2;
            i += 1;
            continue;
        }
        // Odd here: the next five bits (and the carry) as one digit, -15..=15, and what a
        // negative digit borrowed carried into the next position.
        let v = bits(i, 5) + carry;
        let (d, next_carry) = if v > 16 {
            (v as i8 - 32, 1)
        } else {
            (v as i8, 0)
        };
        if let Some(o) = out.get_mut(i) {
            *o = d;
        }
        carry = next_carry;
        i += 5;
    }
    if let Some(o) = out.get_mut(i) {
        *o = carry as i8;
    }
    out
}

/// Digit `i` (0 past the end).
pub fn digit(digits: &[i8], i: usize) -> i8 {
    digits.get(i).copied().unwrap_or(0)
}

/// The highest position where either scalar has a nonzero digit (0 when neither has one).
pub fn top(a: &[i8], b: &[i8]) -> usize {
    a.iter()
        .zip(b)
        .rposition(|(x, y)| *x != 0 || *y != 0)
        .unwrap_or(0)
}

/// The table entry a nonzero digit adds (its magnitude's; the sign says add or subtract).
pub fn entry<T>(table: &[T; TABLE], d: i8) -> Option<&T> {
    table
        .get(usize::from(d.unsigned_abs() / 2))
        .filter(|_| d != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::jwt::tests::xorshift as rng;
    use rsa::BigUint;

    /// The signed digits add up to the scalar, each 0 or odd and within -15..=15, for the
    /// scalar sizes of Ed25519, P-256, P-384 and P-521, all ones included.
    #[test]
    fn digits_add_up_to_the_scalar() {
        let mut next = rng(7);
        for limbs in [8usize, 12, 17] {
            let mut cases: Vec<Vec<u32>> = vec![vec![0; limbs], vec![u32::MAX; limbs]];
            for _ in 0..200 {
                cases.push((0..limbs).map(|_| next() as u32).collect());
            }
            for k in cases {
                let digits = signed_digits(&k);
                let want: BigUint = k
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| BigUint::from(w) << (32 * i))
                    .sum();
                let (mut pos, mut neg) = (BigUint::from(0u32), BigUint::from(0u32));
                for (i, &d) in digits.iter().enumerate() {
                    assert!(d == 0 || (d % 2 != 0 && (-15..=15).contains(&d)), "{d}");
                    if d > 0 {
                        pos += BigUint::from(d as u32) << i;
                    } else if d < 0 {
                        neg += BigUint::from(d.unsigned_abs() as u32) << i;
                    }
                    // A nonzero digit is followed by four zeros.
                    if d != 0 {
                        assert!(digits.iter().skip(i + 1).take(4).all(|&z| z == 0));
                    }
                }
                assert_eq!(pos - neg, want);
            }
        }
    }
}
