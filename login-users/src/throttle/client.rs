//! The client address an attempt is counted under: the connection's peer, or the entry of
//! `X-Forwarded-For` that trusted proxies appended; IPv6 by /64.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::HeaderMap;

use super::Throttle;

/// The address a client is counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Client {
    /// An IPv4 address, or an IPv6 /64.
    Ip(IpAddr),
    /// No address known: one shared bucket.
    Unknown,
}

/// IPv4 as is (IPv4-mapped IPv6 too); IPv6 cut to its /64.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// The `hops`-th entry from the right of `X-Forwarded-For` (all its lines, in order).
fn forwarded_for(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let entry = entries.get(entries.len().checked_sub(hops)?)?;
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

impl Throttle {
    /// The client address of a request: the peer, or the trusted `X-Forwarded-For` entry.
    pub(crate) fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Client {
        if !self.config.enabled {
            return Client::Unknown;
        }
        let forwarded = match self.config.proxies {
            0 => None,
            hops => forwarded_for(headers, hops),
        };
        match forwarded.or(peer.map(|p| p.ip())) {
            Some(ip) => Client::Ip(bucket(ip)),
            None => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "login throttling cannot see client addresses (serve with \
                         `into_make_service_with_connect_info::<SocketAddr>()`): all clients share \
                         one backoff per account"
                    );
                }
                Client::Unknown
            }
        }
    }
}
