//! A message's `id`, kept as the client sent it, to be echoed in the reply.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// A message's `id`: a JSON string or number, echoed verbatim in its reply (MSG-3).
///
/// Ids are short (the CometD and Faye clients count up: `"1"`, `"2"`, …): a string without
/// escapes or an integer is kept inline, without an allocation, and written back as a
/// string or a number, which gives the same text without reading it again.
#[derive(Clone)]
pub struct MessageId(IdText);

/// The longest id kept inline, quotes included.
const INLINE_ID: usize = 22;

#[derive(Clone)]
enum IdText {
    /// A string with no escape in it, with its quotes.
    Text { len: u8, text: [u8; INLINE_ID] },
    /// An integer, as sent (no sign but `-`, no leading zero).
    Integer { len: u8, text: [u8; INLINE_ID] },
    /// Anything else (long, escaped, a fraction, an exponent): the JSON text.
    Raw(Arc<str>),
}

/// Whether `json` is an integer that reads back as the same text.
fn is_integer(json: &str) -> bool {
    let digits = json.strip_prefix('-').unwrap_or(json);
    let canonical = json == "0" || !(digits.is_empty() || digits.starts_with('0'));
    canonical && digits.bytes().all(|b| b.is_ascii_digit())
}

impl MessageId {
    /// An id from its JSON text, a string or a number (the caller checked which).
    pub(crate) fn new(json: &str) -> Self {
        let inline = |json: &str| {
            let mut text = [0; INLINE_ID];
            text[..json.len()].copy_from_slice(json.as_bytes());
            (
                u8::try_from(json.len()).expect("an inline id fits a byte"),
                text,
            )
        };
        if json.len() <= INLINE_ID && json.starts_with('"') && !json.contains('\\') {
            let (len, text) = inline(json);
            Self(IdText::Text { len, text })
        } else if json.len() <= 18 && is_integer(json) {
            let (len, text) = inline(json);
            Self(IdText::Integer { len, text })
        } else {
            Self(IdText::Raw(json.into()))
        }
    }

    /// The id as JSON text (`"7"` or `7`).
    pub fn as_json(&self) -> &str {
        match &self.0 {
            IdText::Text { len, text } | IdText::Integer { len, text } => {
                std::str::from_utf8(&text[..usize::from(*len)]).expect("copied from UTF-8 text")
            }
            IdText::Raw(text) => text,
        }
    }

    /// An id from a counter, for messages the server makes itself.
    pub fn number(n: u64) -> Self {
        Self::new(&n.to_string())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_json())
    }
}

impl PartialEq for MessageId {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

impl Serialize for MessageId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let json = self.as_json();
        match &self.0 {
            IdText::Text { .. } => serializer.serialize_str(&json[1..json.len() - 1]),
            IdText::Integer { .. } => {
                serializer.serialize_i64(json.parse().map_err(serde::ser::Error::custom)?)
            }
            IdText::Raw(_) => {
                // Valid JSON when it was read; only unusual ids are read again.
                let raw: &RawValue =
                    serde_json::from_str(json).map_err(serde::ser::Error::custom)?;
                raw.serialize(serializer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_is_written_back_as_it_came() {
        for json in [
            r#""7""#,
            "7",
            "0",
            "-12",
            r#""a/b é""#,
            r#""with \"quote\"""#,
            "1.0",
            "1e3",
            "-0",
            "123456789012345678901",
            r#""a string longer than twenty-two bytes""#,
        ] {
            let id = MessageId::new(json);
            assert_eq!(serde_json::to_string(&id).unwrap(), json, "{json}");
            assert_eq!(id.as_json(), json);
        }
    }
}
