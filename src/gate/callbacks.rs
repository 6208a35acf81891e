//! Where webhooks may go. An agent names its callback URL, so without a check it could make
//! the server POST — with retries — to loopback, the private network or a cloud metadata
//! address. Internal addresses are refused unless an admin allowed the callback's origin
//! for that agent; the check runs on the addresses a name actually resolves to, in the
//! resolver the delivery client connects with, so a name that changes its answer between a
//! check and the connection (DNS rebinding) cannot get round it.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is inside: loopback, private, link-local, CGNAT, unique-local, multicast,
/// unspecified, broadcast or reserved (IPv4-mapped and -compatible IPv6 addresses are
/// judged as the IPv4 address they carry). For IPv4 this is exactly what the API document's
/// callback URL pattern refuses (`PUBLIC_CALLBACK_URL_PATTERN`).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    a == 0 // "this network", including 0.0.0.0
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 168) // private
        || a >= 224 // multicast, reserved, broadcast
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique-local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 (carries IPv4)
        || ip.segments()[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible ::a.b.c.d
}

/// Whether the callback's origin (`scheme://host[:port]`) is one an admin allowed for
/// the agent.
pub fn origin_allowed(url: &reqwest::Url, allowed: &[String]) -> bool {
    let origin = url.origin().ascii_serialization();
    allowed.contains(&origin)
}

/// Why a callback URL whose host is a literal address may not be called, if it may not.
pub fn literal_refusal(url: &reqwest::Url, allowed: &[String]) -> Option<String> {
    let host = url.host_str()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    (is_internal(ip) && !origin_allowed(url, allowed)).then(|| {
        format!(
            "`callback_url` points inside the network ({ip}); an admin must allow its origin \
             for this agent (askfirst agent set-callbacks)"
        )
    })
}

/// The delivery client's resolver refused a name: every address it resolves to is inside.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to addresses inside the network ({addrs})")]
pub struct InternalAddress {
    pub host: String,
    pub addrs: String,
}

/// A resolver that drops internal addresses (and fails when nothing else is left).
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if public.is_empty() {
                let addrs: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(InternalAddress {
                    host,
                    addrs: addrs.join(", "),
                }) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The refusal inside a delivery error, if the guard refused the address.
pub fn refusal_in(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<InternalAddress>() {
            return Some(refused.to_string());
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_and_outside() {
        let cases = [
            ("127.0.0.1", true),
            ("127.1.2.3", true),
            ("10.0.0.1", true),
            ("172.16.5.4", true),
            ("172.32.0.1", false),
            ("192.168.1.1", true),
            ("169.254.169.254", true),
            ("100.64.0.1", true),
            ("100.128.0.1", false),
            ("0.0.0.0", true),
            ("255.255.255.255", true),
            ("224.0.0.1", true),
            ("198.18.0.1", false),
            ("192.0.2.1", false),
            ("93.184.216.34", false),
            ("8.8.8.8", false),
            ("::1", true),
            ("::", true),
            ("fd00::1", true),
            ("fe80::1", true),
            ("ff02::1", true),
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.1.2.3", true),
            ("::ffff:8.8.8.8", false),
            ("::127.0.0.1", true),
            ("64:ff9b::a00:1", true),
            ("2606:4700::1111", false),
        ];
        for (ip, want) in cases {
            assert_eq!(is_internal(ip.parse().unwrap()), want, "{ip}");
        }
    }

    /// The API document's pattern and the server agree on every IPv4 /16 (and a few
    /// addresses in each).
    #[test]
    fn the_documented_pattern_agrees() {
        let pattern = regex::Regex::new(crate::domain::call::PUBLIC_CALLBACK_URL_PATTERN).unwrap();
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for (c, d) in [(0, 0), (1, 2), (255, 255)] {
                    let ip = Ipv4Addr::new(a, b, c, d);
                    let url = format!("http://{ip}:8080/hook");
                    assert_eq!(pattern.is_match(&url), !is_internal(IpAddr::V4(ip)), "{ip}");
                }
            }
        }
        for url in ["https://hooks.example.com/x?y=1", "http://localhost/h"] {
            assert!(pattern.is_match(url), "{url}");
        }
    }

    #[test]
    fn literal_hosts_need_an_allowed_origin() {
        let allowed = vec!["http://127.0.0.1:9000".to_string()];
        let cases = [
            ("http://127.0.0.1:9000/hook", None),
            ("http://127.0.0.1:9001/hook", Some("inside")),
            ("http://10.0.0.1/h", Some("inside")),
            ("http://169.254.169.254/latest/meta-data", Some("inside")),
            ("http://[::1]:9000/h", Some("inside")),
            ("http://8.8.8.8/h", None),
            ("http://example.com/h", None),
        ];
        for (url, want) in cases {
            let got = literal_refusal(&url.parse().unwrap(), &allowed);
            assert_eq!(got.is_some(), want.is_some(), "{url}: {got:?}");
        }
    }
}
