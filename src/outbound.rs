//! The guard on calls to ATS-supplied URLs (`results_update_url`): only http(s), and only public
//! addresses unless `OUTBOUND_ALLOW_PRIVATE` — checked at order time and again, after DNS
//! resolution, by the resolver of every delivery attempt (so a name cannot be re-pointed at an
//! internal address between the two).

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Whether `ip` is an address on the public internet: not in any block of IANA's IPv4 and IPv6
/// special-purpose address registries that is not globally reachable, nor a multicast, reserved
/// or translation address that leads to one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network" 0.0.0.0/8
        || a == 10
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64.0.0/10
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224) // multicast 224.0.0.0/4, reserved 240.0.0.0/4, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // NAT64's well-known prefix 64:ff9b::/96 leads to the IPv4 address in its last 32 bits.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = s;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    // Only 2000::/3 is global unicast: everything else (::/8 with loopback, unspecified and
    // IPv4-compatible ::a.b.c.d, 64:ff9b:1::/48, 100::/64, 5f00::/16, fc00::/7, fe80::/10,
    // fec0::/10, ff00::/8) is not.
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let special = match s[0] {
        // IETF protocol assignments 2001::/23 (Teredo…) and documentation 2001:db8::/32.
        0x2001 => s[1] < 0x0200 || s[1] == 0x0db8,
        // 6to4, which embeds any IPv4 address.
        0x2002 => true,
        // Documentation 3fff::/20.
        first => (first & 0xfff0) == 0x3ff0,
    };
    global_unicast && !special
}

fn refuse_private(ip: IpAddr, allow_private: bool) -> Result<(), Refused> {
    if allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(Refused(format!(
            "{ip} is not a public address (set OUTBOUND_ALLOW_PRIVATE=true to allow it)"
        )))
    }
}

/// Checks a `results_update_url`: an absolute http(s) URL whose host is, or resolves only to,
/// public addresses. A name that does not resolve now is accepted: every attempt checks again.
pub async fn check_url(url: &str, allow_private: bool) -> Result<(), Refused> {
    let parsed = url::Url::parse(url).map_err(|_| Refused("not an absolute URL".into()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Refused("only http and https URLs are allowed".into()));
    }
    let host = parsed
        .host()
        .ok_or_else(|| Refused("the URL has no host".into()))?;
    if allow_private {
        return Ok(());
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    match host {
        url::Host::Ipv4(ip) => refuse_private(IpAddr::V4(ip), false),
        url::Host::Ipv6(ip) => refuse_private(IpAddr::V6(ip), false),
        url::Host::Domain(name) => match tokio::net::lookup_host((name, port)).await {
            Ok(addrs) => addrs
                .into_iter()
                .try_for_each(|a| refuse_private(a.ip(), false)),
            Err(_) => Ok(()),
        },
    }
}

/// A DNS resolver for delivery requests that drops non-public addresses (unless allowed) and
/// fails when none is left.
#[derive(Debug, Clone)]
pub struct PublicResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let lookup = async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = Box::new(Refused(format!(
                    "{} resolves to no public address",
                    name.as_str()
                )));
                return Err(refused);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        };
        Box::pin(lookup) as Pin<Box<dyn Future<Output = _> + Send>>
    }
}

/// Whether a request failed because `PublicResolver` refused its host (somewhere in the chain of
/// causes reqwest and hyper wrap around the resolver's error).
pub fn refused_by_guard(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = cause {
        if current.downcast_ref::<Refused>().is_some() {
            return true;
        }
        cause = current.source();
    }
    false
}

/// Why a request to `url` failed, in words an operator can act on: the name did not resolve, the
/// connection was refused (and where), TLS failed, it timed out; otherwise the innermost cause
/// reqwest, hyper and the OS report. Never the URL's path or query (they may hold tokens).
pub fn failure_cause(error: &reqwest::Error, url: &str) -> String {
    let parsed = url::Url::parse(url).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "the host".into());
    let target = parsed
        .as_ref()
        .and_then(|u| u.port_or_known_default())
        .map_or_else(|| host.clone(), |port| format!("{host}:{port}"));
    let mut causes: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut cause = std::error::Error::source(error);
    while let Some(current) = cause {
        causes.push(current);
        cause = current.source();
    }
    let innermost = causes
        .last()
        .map_or_else(|| "no cause reported".to_string(), |c| c.to_string());
    let text = causes
        .iter()
        .map(|c| c.to_string().to_lowercase())
        .collect::<Vec<_>>()
        .join(" / ");
    let refused = causes.iter().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    });
    if error.is_timeout() {
        format!("timed out waiting for {target}")
    } else if let Some(guard) = causes.iter().find_map(|c| c.downcast_ref::<Refused>()) {
        format!("refused: {}", guard.0)
    } else if text.contains("dns error") || text.contains("failed to lookup address") {
        format!("the name {host} did not resolve ({innermost})")
    } else if refused {
        format!("connection refused at {target}")
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        format!("TLS failure with {target}: {innermost}")
    } else {
        format!("the request to {target} failed: {innermost}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_ranges_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            // IANA's special-purpose blocks beyond the obvious ones.
            "::127.0.0.1",
            "::10.0.0.1",
            "::",
            "2002:a00:1::1",
            "2002:5db8:d822::1",
            "fec0::1",
            "64:ff9b:1::a00:1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "100::1",
            "ff02::1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "192.88.99.1",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "100.128.0.1",
            "64:ff9b::808:808",
            "2a00:1450:4001::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(PublicResolver {
                allow_private: false,
            }))
            .build()
            .unwrap();
        let error = client.get("http://localhost:9/r").send().await.unwrap_err();
        assert!(refused_by_guard(&error), "{error:?}");
        let allowed = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(PublicResolver {
                allow_private: true,
            }))
            .build()
            .unwrap();
        let error = allowed
            .get("http://localhost:9/r")
            .send()
            .await
            .unwrap_err();
        assert!(
            !refused_by_guard(&error),
            "a closed port is not a refusal: {error:?}"
        );
    }

    #[tokio::test]
    async fn urls_are_checked_before_any_call() {
        assert!(check_url("http://127.0.0.1:9/r", false).await.is_err());
        assert!(
            check_url("http://localhost:9/r", false).await.is_err(),
            "names are resolved"
        );
        assert!(check_url("http://[::1]/r", false).await.is_err());
        assert!(check_url("http://169.254.169.254/latest/meta-data", false)
            .await
            .is_err());
        assert!(check_url("ftp://ats.example.com/r", false).await.is_err());
        assert!(check_url("https://93.184.216.34/r", false).await.is_ok());
        assert!(check_url("http://127.0.0.1:9/r", true).await.is_ok());
        assert!(check_url("file:///etc/passwd", true).await.is_err());
    }
}
