//! Transports: they turn requests into batches of Bayeux messages and responses back into
//! bytes, and nothing else. The protocol lives in [`crate::bayeux`].

pub mod long_polling;

use serde_json::value::RawValue;

use crate::error::TransportError;
use crate::protocol::Message;

/// Reads a request's JSON text as a batch (MSG-1): one message or an array of them.
/// Anything else is not a Bayeux request at all (HTTP-4).
pub fn parse_batch(json: &[u8]) -> Result<Vec<Message<'_>>, TransportError> {
    const MALFORMED: TransportError = TransportError::BadRequest("malformed JSON messages");
    let text = std::str::from_utf8(json).map_err(|_| MALFORMED)?;
    let raw: &RawValue = serde_json::from_str(text).map_err(|_| MALFORMED)?;
    match raw.get().as_bytes().first() {
        Some(b'[') => serde_json::from_str(raw.get()).map_err(|_| MALFORMED),
        Some(b'{') => Ok(vec![serde_json::from_str(raw.get()).map_err(|_| MALFORMED)?]),
        _ => Err(TransportError::BadRequest(
            "expected a JSON object or array of objects",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches() {
        assert_eq!(parse_batch(b"[]").unwrap().len(), 0);
        assert_eq!(parse_batch(b" {\"channel\":\"/a\"} ").unwrap().len(), 1);
        assert_eq!(parse_batch(b"[{},{}]").unwrap().len(), 2);
        for bad in [&b"42"[..], b"\"x\"", b"null", b"[1]", b"[{}", b"", b"\xff"] {
            assert!(parse_batch(bad).is_err(), "{bad:?}");
        }
    }
}
