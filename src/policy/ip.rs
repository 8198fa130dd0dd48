//! IP blocks: `10.0.0.0/8`, `2001:db8::/32`, or a single address (= /32 or /128), as Istio's
//! `ipBlocks`, `remoteIpBlocks`, `source.ip`, `remote.ip` and `destination.ip` accept them.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses like Go's `netip.ParsePrefix` / `ParseAddr` (what Istio's validation uses):
    /// non-canonical blocks such as `127.0.0.1/8` are accepted and mean `127.0.0.0/8`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (addr_text, prefix_text) = match value.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (value, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("bad IP address ({value})"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => {
                // Go accepts only plain decimal digits, no sign and no leading zeros.
                let ok = !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && !(p.len() > 1 && p.starts_with('0'));
                match p.parse::<u8>() {
                    Ok(n) if ok && n <= max => n,
                    _ => return Err(format!("bad CIDR range ({value})")),
                }
            }
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u32::from(net) as u128,
                u32::from(*ip) as u128,
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(*ip), self.prefix, 128)
            }
            // Envoy's CIDR match does not cross families (an IPv4-mapped IPv6 peer is not an
            // IPv4 address to it), so neither do we.
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8, bits: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(bits - prefix);
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_blocks() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains(&ip("10.1.200.3")));
        assert!(!c.contains(&ip("10.2.0.1")));
        let single = Cidr::parse("127.0.0.1").unwrap();
        assert!(single.contains(&ip("127.0.0.1")));
        assert!(!single.contains(&ip("127.0.0.2")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(&ip("8.8.8.8")));
        // Non-canonical: host bits set, still the /8 block.
        assert!(Cidr::parse("127.0.0.1/8")
            .unwrap()
            .contains(&ip("127.9.9.9")));
    }

    #[test]
    fn v6_blocks_and_families() {
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains(&ip("2001:db8::1")));
        assert!(!c.contains(&ip("2001:db9::1")));
        assert!(!c.contains(&ip("10.0.0.1")));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains(&ip("::1")));
        assert!(Cidr::parse("::/0")
            .unwrap()
            .contains(&ip("::ffff:10.0.0.1")));
    }

    #[test]
    fn refuses_bad_values() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "foo",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/08",
            "::/129",
            "10.0.0.0/8/8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
