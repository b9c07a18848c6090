//! Where ilot may send a webhook: SSRF protection. A subscription's URL must be `https`
//! (plain `http` only when allowed), carry no credentials, and its host must not be, nor
//! resolve to, a loopback, private, link-local (cloud metadata: 169.254.169.254,
//! `fd00:ec2::254`), shared, multicast or otherwise non-public address, unless that address
//! is inside a network the configuration allows explicitly (`alerts.delivery.allowed_networks`).
//! The URL is checked when a subscription is created and the addresses again at every
//! connection ([`OutboundPolicy::resolve`]), so a name that later resolves elsewhere (DNS
//! rebinding) is refused too. Redirects are never followed (the delivery's HTTP client).

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Accept `http://` URLs (a receiver on the same host or network, tests).
    pub allow_http: bool,
    /// Networks allowed although not public (e.g. `127.0.0.0/8` for a local receiver,
    /// `10.20.0.0/16` for the city's own network).
    pub allowed_networks: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("{0}: not a URL")]
    Syntax(String),
    #[error("{0}: only https URLs are accepted (http only with alerts.delivery.allow_http)")]
    Scheme(String),
    #[error("{0}: credentials in a URL are refused; use the subscription's secret")]
    Credentials(String),
    #[error("{host}: {ip} is a {kind} address; webhooks go to public addresses unless alerts.delivery.allowed_networks lists it")]
    Address { host: String, ip: IpAddr, kind: &'static str },
    #[error("{host}: cannot be resolved: {reason}")]
    Resolve { host: String, reason: String },
}

/// The kind of a non-public address, or `None` for a public one.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            // An IPv4 address written as IPv6 (::ffff:127.0.0.1) is that IPv4 address.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_kind(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if first & 0xfe00 == 0xfc00 {
                // fd00:ec2::254, the AWS metadata endpoint over IPv6, is in here.
                Some("private (unique local)")
            } else if first == 0x2001 && v6.segments()[1] == 0x0db8 {
                Some("documentation")
            } else if v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || first == 0x2002 {
                // NAT64 and 6to4 embed an IPv4 address: judged by it.
                let [.., a, b] = v6.segments();
                v4_kind(Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8)).or(if first == 0x2002 { Some("6to4") } else { None })
            } else {
                None
            }
        }
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if ip.is_private() {
        Some("private")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) || (a == 192 && b == 0 && ip.octets()[2] == 0) {
        Some("reserved")
    } else {
        None
    }
}

impl OutboundPolicy {
    fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), UrlRefused> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match non_public_kind(ip) {
            Some(kind) if !self.allowed_networks.iter().any(|n| n.contains(&ip)) => Err(UrlRefused::Address { host: host.to_owned(), ip, kind }),
            _ => Ok(()),
        }
    }

    /// Check a subscription's URL as written (its host's addresses are checked at each connection).
    pub fn check_url(&self, text: &str) -> Result<Url, UrlRefused> {
        let url = Url::parse(text.trim()).map_err(|_| UrlRefused::Syntax(text.to_owned()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(UrlRefused::Scheme(url.to_string())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefused::Credentials(url.to_string()));
        }
        match url.host() {
            None => return Err(UrlRefused::Syntax(text.to_owned())),
            Some(Host::Ipv4(v4)) => self.check_ip(&v4.to_string(), IpAddr::V4(v4))?,
            Some(Host::Ipv6(v6)) => self.check_ip(&v6.to_string(), IpAddr::V6(v6))?,
            Some(Host::Domain(domain)) => {
                let lower = domain.to_ascii_lowercase();
                let lower = lower.trim_end_matches('.');
                if lower == "localhost" || lower.ends_with(".localhost") {
                    self.check_ip(lower, IpAddr::V6(Ipv6Addr::LOCALHOST))?;
                }
            }
        }
        Ok(url)
    }

    /// The addresses to connect to for `host` (a name: literal addresses are checked by
    /// [`Self::check_url`]): all of them allowed, or an error naming the first that is not (a
    /// name that resolves to a private address among public ones is refused whole). Port 0:
    /// the caller's URL gives the port.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, UrlRefused> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| UrlRefused::Resolve { host: host.to_owned(), reason: e.to_string() })?
            .collect();
        if addrs.is_empty() {
            return Err(UrlRefused::Resolve { host: host.to_owned(), reason: "no address".into() });
        }
        for addr in &addrs {
            self.check_ip(host, addr.ip())?;
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_metadata_and_loopback_addresses_are_refused_unless_allowed() {
        let policy = OutboundPolicy::default();
        for url in [
            "https://127.0.0.1/hook",
            "https://localhost:8080/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.10/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[64:ff9b::a9fe:a9fe]/",
        ] {
            assert!(matches!(policy.check_url(url), Err(UrlRefused::Address { .. })), "{url} must be refused");
        }
        assert!(policy.check_url("https://hooks.example.fr/ilot").is_ok());
        assert!(policy.check_url("https://93.184.215.14/").is_ok());
        assert!(matches!(policy.check_url("http://hooks.example.fr/"), Err(UrlRefused::Scheme(_))));
        assert!(matches!(policy.check_url("ftp://hooks.example.fr/"), Err(UrlRefused::Scheme(_))));
        assert!(matches!(policy.check_url("https://user:pw@hooks.example.fr/"), Err(UrlRefused::Credentials(_))));
        let loopback = OutboundPolicy { allow_http: true, allowed_networks: vec!["127.0.0.0/8".parse().unwrap()] };
        assert!(loopback.check_url("http://127.0.0.1:9999/hook").is_ok());
        assert!(loopback.check_url("http://169.254.169.254/").is_err(), "allowing loopback allows nothing else");
    }

    #[tokio::test]
    async fn names_are_checked_by_the_addresses_they_resolve_to() {
        let policy = OutboundPolicy { allow_http: true, allowed_networks: vec![] };
        assert!(matches!(policy.resolve("nowhere.invalid").await, Err(UrlRefused::Resolve { .. })));
        assert!(matches!(policy.resolve("localhost").await, Err(UrlRefused::Address { .. })));
        let allowed = OutboundPolicy { allow_http: true, allowed_networks: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()] };
        assert!(!allowed.resolve("localhost").await.unwrap().is_empty());
    }
}
