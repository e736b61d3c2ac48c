//! What the core knows of where a message came from: the HTTP request's headers (cookies
//! among them) and the peer's address, for a WebSocket those of its upgrade request. A
//! security policy or an extension reads them; a session's attributes keep what outlives
//! the request.

use std::net::{IpAddr, SocketAddr};

use http::header::{self, HeaderMap};

/// The details of the request that carried a message.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    headers: Headers,
    peer: Option<SocketAddr>,
}

/// The headers: as hyper parsed them, for a request answered and dropped; packed into one
/// string, for a WebSocket that keeps its upgrade request's for its whole life (a header
/// map costs about a kilobyte per idle socket, and its values would be slices of the
/// connection's read buffer, keeping that alive too).
#[derive(Debug, Clone)]
enum Headers {
    Map(HeaderMap),
    /// `name: value` lines, names in lower case as HTTP/1.1 headers are read.
    Packed(Box<str>),
}

impl Default for Headers {
    fn default() -> Self {
        Headers::Packed(Box::default())
    }
}

impl RequestInfo {
    /// A request with these headers from `peer`, kept as they are: for a request answered
    /// and dropped.
    pub fn new(headers: HeaderMap, peer: Option<SocketAddr>) -> Self {
        Self {
            headers: Headers::Map(headers),
            peer,
        }
    }

    /// A compact copy of a request's details that owns its bytes, for a connection that
    /// keeps them (a WebSocket). Values that are not visible ASCII are left out.
    pub fn detached(headers: &HeaderMap, peer: Option<SocketAddr>) -> Self {
        let mut packed = String::new();
        for (name, value) in headers {
            if let Ok(value) = value.to_str() {
                packed.push_str(name.as_str());
                packed.push_str(": ");
                packed.push_str(value);
                packed.push('\n');
            }
        }
        Self {
            headers: Headers::Packed(packed.into()),
            peer,
        }
    }

    /// Every header, as `(name, value)`, names in lower case, in the order received.
    pub fn headers(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        match &self.headers {
            Headers::Map(map) => Box::new(
                map.iter()
                    .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
            ),
            Headers::Packed(lines) => {
                Box::new(lines.lines().filter_map(|line| line.split_once(": ")))
            }
        }
    }

    /// Every value of the header `name` (any case): looked up, not searched for, in a
    /// request's own headers, as it is asked for every message that names a session.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let (map, packed) = match &self.headers {
            Headers::Map(map) => (Some(map.get_all(name).iter()), None),
            Headers::Packed(lines) => (None, Some(lines.lines())),
        };
        let mapped = map.into_iter().flatten();
        let mapped = mapped.filter_map(|value| value.to_str().ok());
        let packed = packed.into_iter().flatten();
        let packed = packed
            .filter_map(|line| line.split_once(": "))
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value);
        mapped.chain(packed)
    }

    /// The first value of the header `name` (any case).
    pub fn header<'a>(&'a self, name: &str) -> Option<&'a str> {
        match &self.headers {
            Headers::Map(map) => map.get(name)?.to_str().ok(),
            Headers::Packed(lines) => lines
                .lines()
                .filter_map(|line| line.split_once(": "))
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value),
        }
    }

    /// The value of the cookie `name`, from any `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        match &self.headers {
            // By its `HeaderName`: the map hashes a known header instead of parsing a name.
            Headers::Map(map) => map
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .find_map(|cookies| cookie_in(cookies, name)),
            Headers::Packed(_) => self
                .header_values(header::COOKIE.as_str())
                .find_map(|cookies| cookie_in(cookies, name)),
        }
    }

    /// The client's address, as the server saw the TCP connection (a proxy's, behind one).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The client's address as herald counts it: the peer's, or for a peer on this host (a
    /// reverse proxy, most likely) the last hop of its `X-Forwarded-For`, which only a local
    /// process could have written.
    pub fn client_address(&self) -> Option<IpAddr> {
        let peer = self.peer?.ip().to_canonical();
        if !peer.is_loopback() {
            return Some(peer);
        }
        let forwarded = self.header_values("x-forwarded-for").last();
        let last = forwarded
            .and_then(|hops| hops.rsplit(',').next())
            .map(str::trim);
        let hop = last.and_then(|hop| {
            hop.parse::<IpAddr>()
                .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
                .ok()
        });
        Some(hop.map_or(peer, |hop| hop.to_canonical()))
    }
}

/// The value of the cookie `name` in one `Cookie` header.
fn cookie_in<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies
        .split(';')
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_headers_whole_or_packed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; BAYEUX_BROWSER=xyz; b=2".parse().unwrap(),
        );
        headers.append(header::COOKIE, "c=3".parse().unwrap());
        headers.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        for info in [
            RequestInfo::new(headers.clone(), None),
            RequestInfo::detached(&headers, None),
        ] {
            assert_eq!(info.cookie("BAYEUX_BROWSER"), Some("xyz"));
            assert_eq!(info.cookie("c"), Some("3"));
            assert_eq!(info.cookie("d"), None);
            assert_eq!(info.header("Authorization"), Some("Bearer t"));
            assert_eq!(info.headers().count(), 3);
        }
        assert_eq!(RequestInfo::default().cookie("a"), None);
    }
}
