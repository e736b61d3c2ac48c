//! The server under test: its endpoint URL, parsed once, and refused unless it is on the
//! loopback range (127.0.0.0/8 or `localhost`). Also the TCP connect that binds a chosen
//! loopback source address first, so that each worker process has a port range of its own.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::net::{TcpSocket, TcpStream};

/// Where the Bayeux endpoint is.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's address (always in 127.0.0.0/8).
    pub addr: SocketAddr,
    /// The `Host` header: the URL's authority as written.
    pub authority: String,
    /// The endpoint path, e.g. `/cometd`.
    pub path: String,
}

impl Target {
    /// Parses `http://host:port/path` (or `ws://…`, the same endpoint). The host must be
    /// `localhost` or an IPv4 address in 127.0.0.0/8: this tool sends load to this machine only.
    pub fn parse(url: &str) -> Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("ws://"))
            .with_context(|| format!("{url}: only http:// and ws:// URLs (loopback, no TLS)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            bail!("{url}: user info in the URL is not supported");
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .with_context(|| format!("{url}: bad port"))?,
            ),
            None => (authority, 80),
        };
        let ip = if host.eq_ignore_ascii_case("localhost") {
            Ipv4Addr::LOCALHOST
        } else {
            host.parse::<Ipv4Addr>()
                .with_context(|| format!("{url}: the host must be localhost or 127.x.x.x"))?
        };
        if !ip.is_loopback() {
            bail!("{url}: refusing a non-loopback target; load goes to 127.0.0.0/8 only");
        }
        Ok(Target {
            addr: SocketAddr::V4(SocketAddrV4::new(ip, port)),
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }

    /// The same endpoint as a WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}{}", self.authority, self.path)
    }
}

/// Opens a TCP connection to `dst` from `src` (any port), with Nagle off.
pub async fn tcp_connect(src: Ipv4Addr, dst: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::V4(SocketAddrV4::new(src, 0)))
        .with_context(|| format!("bind {src}"))?;
    let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(dst))
        .await
        .with_context(|| format!("connect to {dst} timed out"))?
        .with_context(|| format!("connect to {dst}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        let t = Target::parse("http://127.0.0.1:8080/cometd").unwrap();
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(t.path, "/cometd");
        assert_eq!(t.ws_url(), "ws://127.0.0.1:8080/cometd");
        assert!(Target::parse("http://localhost:1/x").is_ok());
        assert!(Target::parse("http://127.3.4.5:1/x").is_ok());
        assert!(Target::parse("http://10.0.0.1:8080/cometd").is_err());
        assert!(Target::parse("http://example.com/cometd").is_err());
        assert!(Target::parse("https://127.0.0.1/cometd").is_err());
    }
}
