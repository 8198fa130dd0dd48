//! base64url decoding as Envoy does it for JWTs and JWKs.
//!
//! jwt_verify_lib decodes every segment and key field with Abseil's `WebSafeBase64Unescape`,
//! which is more forgiving than RFC 4648: ASCII whitespace is skipped, padding is optional but
//! must be right when present, and the unused low bits of the last character are ignored.
//! A segment Envoy decodes differently from us would change which error text a client gets
//! (`... invalid Base64url encoded` against `Jwt verification fails`), so we decode the same
//! way. None of it weakens the signature check: the signature covers the segments as sent.
//! `+` and `/` (the standard alphabet) are refused, as Abseil's web-safe table refuses them.

/// Decodes `input`, or `None` where Abseil's decoder would fail.
pub fn decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut pending = 0u8;
    let mut rest = input.iter();
    let mut padding = 0usize;
    for &c in rest.by_ref() {
        if let Some(v) = value(c) {
            acc = (acc << 6) | u32::from(v);
            pending += 1;
            if pending == 4 {
                out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
                acc = 0;
                pending = 0;
            }
        } else if is_space(c) {
            continue;
        } else if c == b'=' || c == b'.' {
            padding = 1;
            break;
        } else {
            return None;
        }
    }
    // After the first pad character only pads and whitespace may follow.
    for &c in rest {
        if c == b'=' || c == b'.' {
            padding += 1;
        } else if !is_space(c) {
            return None;
        }
    }
    let expected = match pending {
        0 => 0,
        2 => {
            out.push((acc >> 4) as u8);
            2
        }
        3 => {
            out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]);
            1
        }
        // Six bits left over cannot make a byte.
        _ => return None,
    };
    (padding == 0 || padding == expected).then_some(out)
}

/// Encodes without padding, as JWS writes segments (tests build tokens with it; claims
/// headers use it for Envoy's base64 of list and object claims).
pub fn encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let symbol = |v: u32| char::from(ALPHABET.get((v & 63) as usize).copied().unwrap_or(b'A'));
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(symbol(n >> 18));
        out.push(symbol(n >> 12));
        if chunk.len() > 1 {
            out.push(symbol(n >> 6));
        }
        if chunk.len() > 2 {
            out.push(symbol(n));
        }
    }
    out
}

fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// `absl::ascii_isspace`: space, \t, \n, \v, \f, \r.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<Vec<u8>> {
        decode(s.as_bytes())
    }

    #[test]
    fn round_trip() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = encode(&data);
            assert!(!enc.contains('='));
            assert_eq!(d(&enc).as_deref(), Some(&data[..]), "{enc}");
        }
        assert_eq!(encode(b"\xfb\xff"), "-_8");
    }

    #[test]
    fn abseil_leniency() {
        // Optional but exact padding.
        assert_eq!(d("YQ").unwrap(), b"a");
        assert_eq!(d("YQ==").unwrap(), b"a");
        assert_eq!(d("YQ="), None);
        assert_eq!(d("YWI=").unwrap(), b"ab");
        assert_eq!(d("YWI=="), None);
        assert_eq!(d("YWJj").unwrap(), b"abc");
        // Whitespace anywhere is skipped.
        assert_eq!(d(" Y Q\n").unwrap(), b"a");
        // Unused trailing bits are ignored.
        assert_eq!(d("YR").unwrap(), b"a");
    }

    #[test]
    fn refuses_what_abseil_refuses() {
        assert_eq!(d("a+b/"), None);
        assert_eq!(d("Y"), None);
        assert_eq!(d("YQ==YQ"), None);
        assert_eq!(d("YQ\0"), None);
        assert_eq!(d("é"), None);
        assert_eq!(d("YWJj="), None);
    }
}
