//! The URL policy for issuers and JWKS locations: https, or http only to a loopback host (a
//! local development issuer). Config validation and every fetch, redirects included, use it.

use std::net::IpAddr;

use marked_yaml::Node;
use reqwest::Url;

use super::yaml::Reader;

/// https, or http to a loopback host.
pub fn secure(url: &Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url))
}

/// https, or http only to a loopback host (a local development issuer).
pub(super) fn check(r: &mut Reader, text: &str, path: &str, node: &Node) {
    match Url::parse(text) {
        Ok(url) => match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => r.problem(
                path,
                Some(node),
                "http:// is refused except to a loopback host: use https://",
            ),
            other => r.problem(path, Some(node), format!("unsupported scheme `{other}`")),
        },
        Err(e) => r.problem(path, Some(node), format!("`{text}` is not a URL: {e}")),
    }
}

/// Whether a URL's host is `localhost` or a loopback address.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}
