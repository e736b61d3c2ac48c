//! A message's `id`, kept as the client sent it, to be echoed in the reply.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// A message's `id`: a JSON string or number, echoed verbatim in its reply (MSG-3).
///
/// Ids are short (the CometD and Faye clients count up: `"1"`, `"2"`, …), so one is kept
/// inline, without an allocation, and copied into its reply as it is.
#[derive(Clone)]
pub struct MessageId(IdText);

/// The longest id kept inline.
const INLINE_ID: usize = 22;

#[derive(Clone)]
enum IdText {
    Inline { len: u8, text: [u8; INLINE_ID] },
    Shared(Arc<str>),
}

impl MessageId {
    pub(crate) fn new(json: &str) -> Self {
        if json.len() <= INLINE_ID {
            let mut text = [0; INLINE_ID];
            text[..json.len()].copy_from_slice(json.as_bytes());
            let len = u8::try_from(json.len()).expect("an inline id fits a byte");
            Self(IdText::Inline { len, text })
        } else {
            Self(IdText::Shared(json.into()))
        }
    }

    /// The id as JSON text (`"7"` or `7`).
    pub fn as_json(&self) -> &str {
        match &self.0 {
            IdText::Inline { len, text } => {
                std::str::from_utf8(&text[..usize::from(*len)]).expect("copied from UTF-8 text")
            }
            IdText::Shared(text) => text,
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
        // Valid JSON when it was read, so this only re-reads a few bytes.
        let raw: &RawValue =
            serde_json::from_str(self.as_json()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}
