//! What a storm client reads from a reply, and the advice it keeps. The storm needs more of
//! the advice than the other scenarios (`interval`, `maxInterval`, `reconnect` as a word), and
//! none of the deliveries, so it reads replies with its own small shape.

use anyhow::{Context, Result};
use serde::Deserialize;

/// The advice a client acts on, kept as the CometD JavaScript client keeps it: every message
/// that carries advice replaces the whole of it, laid over the client's defaults
/// (`timeout` 60 s, `interval` 0, `maxInterval` 0, no `reconnect`), and a handshake starts
/// from the defaults again.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    pub timeout_ms: u64,
    /// May be negative in Bayeux ("do not come back"); the client then waits 0.
    pub interval_ms: i64,
    pub max_interval_ms: u64,
    pub reconnect: Option<String>,
}

impl Default for Advice {
    fn default() -> Advice {
        Advice {
            timeout_ms: 60_000,
            interval_ms: 0,
            max_interval_ms: 0,
            reconnect: None,
        }
    }
}

impl Advice {
    /// The pause before the next request, as the client's `setTimeout(interval + delay)`.
    pub fn interval(&self) -> u64 {
        self.interval_ms.max(0) as u64
    }

    /// What to do after an unsuccessful reply: the advised action, or `default`.
    pub fn action<'a>(&'a self, default: &'a str) -> &'a str {
        self.reconnect.as_deref().unwrap_or(default)
    }
}

#[derive(Debug, Deserialize)]
struct WireAdvice {
    timeout: Option<f64>,
    interval: Option<f64>,
    #[serde(rename = "maxInterval")]
    max_interval: Option<f64>,
    reconnect: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Wire {
    channel: Option<String>,
    successful: Option<bool>,
    #[serde(rename = "clientId")]
    client_id: Option<String>,
    advice: Option<WireAdvice>,
    error: Option<String>,
}

/// One meta reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub channel: String,
    pub successful: bool,
    pub client_id: Option<String>,
    /// The advice this reply carried, laid over the defaults.
    pub advice: Option<Advice>,
    pub error: Option<String>,
}

/// The replies on `channel` in a response (events and other replies are skipped).
pub fn replies(body: &[u8]) -> Result<Vec<Reply>> {
    let text = std::str::from_utf8(body).context("reply is not UTF-8")?;
    let wires: Vec<Wire> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text)
    } else {
        serde_json::from_str(text).map(|w| vec![w])
    }
    .with_context(|| format!("reply: {}", &text[..text.len().min(200)]))?;
    Ok(wires
        .into_iter()
        .filter(|w| w.successful.is_some())
        .map(|w| Reply {
            channel: w.channel.unwrap_or_default(),
            successful: w.successful.unwrap_or(false),
            client_id: w.client_id,
            advice: w.advice.map(|a| {
                let d = Advice::default();
                Advice {
                    timeout_ms: a.timeout.map_or(d.timeout_ms, |t| t.max(0.0) as u64),
                    interval_ms: a.interval.map_or(d.interval_ms, |i| i as i64),
                    max_interval_ms: a
                        .max_interval
                        .map_or(d.max_interval_ms, |m| m.max(0.0) as u64),
                    reconnect: a.reconnect,
                }
            }),
            error: w.error,
        })
        .collect())
}

/// The reply on `channel`, if the response has one.
pub fn find(replies: Vec<Reply>, channel: &str) -> Option<Reply> {
    replies.into_iter().find(|r| r.channel == channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_advice_over_the_defaults() {
        let body = br#"[{"channel":"/x","data":{}},{"channel":"/meta/handshake","successful":false,"error":"429::slow_down","advice":{"reconnect":"handshake","interval":2500}}]"#;
        let r = find(replies(body).unwrap(), "/meta/handshake").unwrap();
        assert!(!r.successful);
        let a = r.advice.unwrap();
        assert_eq!(a.interval(), 2500);
        assert_eq!(a.timeout_ms, 60_000);
        assert_eq!(a.action("retry"), "handshake");
        let r = &replies(br#"{"channel":"/meta/connect","successful":true}"#).unwrap()[0];
        assert!(r.successful && r.advice.is_none());
        let neg = Advice {
            interval_ms: -1,
            ..Advice::default()
        };
        assert_eq!(neg.interval(), 0);
    }
}
