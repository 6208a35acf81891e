//! Who a request comes from, for the sign-in rate limit: the connecting peer's address, or
//! — only when that peer is a trusted reverse proxy — the nearest untrusted address in
//! `X-Forwarded-For`. IPv6 clients are grouped by their /64 (one host usually holds a
//! whole /64, so counting single addresses would let it rotate without limit).

use ipnet::IpNet;
use std::net::IpAddr;

/// The rate-limit key of a request from `peer` carrying `forwarded_for` (the
/// `X-Forwarded-For` values, in order), given the trusted proxies.
pub fn client_key(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> String {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = canonical(peer);
    if is_trusted(&client) {
        // Right to left: each trusted proxy appended the address it received from.
        let hops = forwarded_for
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            match hop.parse::<IpAddr>().map(canonical) {
                Ok(ip) if is_trusted(&ip) => client = ip,
                Ok(ip) => {
                    client = ip;
                    break;
                }
                Err(_) => break, // garbage: stop at the last address a trusted proxy vouched for
            }
        }
    }
    key(client)
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

/// Reads `--trusted-proxies`: addresses or CIDR networks.
pub fn parse_trusted(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not an address or a network such as 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let trusted = vec![
            parse_trusted("10.0.0.0/8").unwrap(),
            parse_trusted("::1").unwrap(),
        ];
        let cases: [(&str, &[&str], &str); 9] = [
            // An untrusted peer's header is ignored.
            ("203.0.113.9", &["1.2.3.4"], "203.0.113.9"),
            // A trusted proxy: the client it saw.
            ("10.0.0.2", &["198.51.100.7"], "198.51.100.7"),
            // Several proxies: the nearest untrusted hop, not what the client claimed.
            (
                "10.0.0.2",
                &["6.6.6.6, 198.51.100.7, 10.0.0.3"],
                "198.51.100.7",
            ),
            ("10.0.0.2", &["6.6.6.6", "198.51.100.7"], "198.51.100.7"),
            // Garbage stops the walk at the last trusted hop.
            ("10.0.0.2", &["nonsense"], "10.0.0.2"),
            ("10.0.0.2", &[], "10.0.0.2"),
            // IPv6 by /64; IPv4-mapped as IPv4.
            ("2001:db8:1:2:3:4:5:6", &[], "2001:db8:1:2::/64"),
            ("::ffff:192.0.2.1", &[], "192.0.2.1"),
            ("::1", &["2001:db8:9:9::1"], "2001:db8:9:9::/64"),
        ];
        for (peer, xff, want) in cases {
            assert_eq!(
                client_key(peer.parse().unwrap(), xff, &trusted),
                want,
                "{peer} {xff:?}"
            );
        }
        assert!(parse_trusted("not an address").is_err());
    }
}
