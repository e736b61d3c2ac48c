//! What the core knows of where a message came from: the HTTP request's headers (cookies
//! among them) and the peer's address, for a WebSocket those of its upgrade request. A
//! security policy or an extension reads them; a session's attributes keep what outlives
//! the request.

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The details of the request that carried a message.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    headers: HeaderMap,
    peer: Option<SocketAddr>,
}

impl RequestInfo {
    /// A request with these headers from `peer`. The headers are kept as they are: fine for
    /// a request answered and dropped, while a long-lived connection should use
    /// [`RequestInfo::detached`].
    pub fn new(headers: HeaderMap, peer: Option<SocketAddr>) -> Self {
        Self { headers, peer }
    }

    /// A copy that owns its bytes. Header values read off a connection are slices of its
    /// read buffer; a WebSocket keeps its upgrade request's details for its whole life, and
    /// must not keep that buffer alive with them.
    pub fn detached(headers: &HeaderMap, peer: Option<SocketAddr>) -> Self {
        let mut copy = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            let value = HeaderValue::from_bytes(value.as_bytes())
                .expect("a header value read off the wire is a valid header value");
            copy.append(HeaderName::from(name), value);
        }
        Self::new(copy, peer)
    }

    /// Every header.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as text, when present and visible ASCII.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The value of the cookie `name`, from any `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|cookie| cookie.trim().split_once('='))
            .find(|(key, value)| *key == name && !value.is_empty())
            .map(|(_, value)| value)
    }

    /// The client's address, as the server saw the TCP connection (a proxy's, behind one).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; BAYEUX_BROWSER=xyz; b=2".parse().unwrap(),
        );
        headers.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        let info = RequestInfo::detached(&headers, None);
        assert_eq!(info.cookie("BAYEUX_BROWSER"), Some("xyz"));
        assert_eq!(info.cookie("c"), None);
        assert_eq!(info.header(header::AUTHORIZATION), Some("Bearer t"));
        assert_eq!(RequestInfo::default().cookie("a"), None);
    }
}
