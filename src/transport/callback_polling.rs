//! Callback-polling (JSONP): `GET <path>?message=<JSON>&jsonp=<callback>`, answered with a
//! script that calls the callback with the response array (TR-3).

use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};

use std::sync::Arc;

use super::TransportError;
use crate::bayeux::Bayeux;
use crate::request::RequestInfo;

/// The callback name when the request gives none (Bayeux's default).
const DEFAULT_CALLBACK: &str = "jsonpcallback";
const MAX_CALLBACK_LEN: usize = 64;

/// Answers a JSONP GET with this query string.
pub async fn handle(
    bayeux: &Arc<Bayeux>,
    query: &str,
    request: RequestInfo,
) -> Result<Response, TransportError> {
    let mut message = None;
    let mut callback = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "message" => message = Some(value.into_owned()),
            "jsonp" => callback = Some(value.into_owned()),
            _ => {}
        }
    }
    let message = message.ok_or(TransportError::BadRequest("no message parameter"))?;
    let callback = callback.unwrap_or_else(|| DEFAULT_CALLBACK.to_owned());
    if !is_valid_callback(&callback) {
        return Err(TransportError::BadRequest("invalid jsonp callback name"));
    }
    let (json, cookie) = super::exchange(bayeux, Bytes::from(message), request).await?;
    Ok(super::reply(
        "text/javascript;charset=UTF-8",
        cookie,
        script(&callback, &json),
    ))
}

/// A dotted JavaScript identifier path, e.g. `_cometd_jsonp_3` or `a.b`: nothing that could
/// inject script.
fn is_valid_callback(name: &str) -> bool {
    name.len() <= MAX_CALLBACK_LEN
        && name.split('.').all(|part| {
            let mut bytes = part.bytes();
            bytes
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'$')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        })
}

/// `/**/callback(json);`, with U+2028 and U+2029 escaped: valid in JSON strings, they end
/// a line in older JavaScript engines.
fn script(callback: &str, json: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(json.len() + callback.len() + 8);
    buf.put_slice(b"/**/");
    buf.put_slice(callback.as_bytes());
    buf.put_u8(b'(');
    let mut rest = json;
    while let Some(at) = rest
        .windows(3)
        .position(|w| w == "\u{2028}".as_bytes() || w == "\u{2029}".as_bytes())
    {
        buf.put_slice(&rest[..at]);
        let escape: &[u8] = if rest[at + 2] == 0xA8 {
            b"\\u2028"
        } else {
            b"\\u2029"
        };
        buf.put_slice(escape);
        rest = &rest[at + 3..];
    }
    buf.put_slice(rest);
    buf.put_slice(b");");
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_names() {
        for ok in ["jsonpcallback", "_cometd_jsonp_12", "__jsonp3__", "a.b.$c"] {
            assert!(is_valid_callback(ok), "{ok}");
        }
        for bad in ["", "42", "a-b", "alert(1)", "a..b", "a.", &"x".repeat(65)] {
            assert!(!is_valid_callback(bad), "{bad}");
        }
    }

    #[test]
    fn script_escapes_line_separators() {
        let json = "[{\"data\":\"a\u{2028}b\u{2029}c\"}]";
        let out = script("cb", json.as_bytes());
        assert_eq!(&out[..], b"/**/cb([{\"data\":\"a\\u2028b\\u2029c\"}]);");
    }
}
