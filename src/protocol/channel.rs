//! Channel names and subscription patterns (spec/channels.md).
//!
//! Names are validated once, where they enter the server, and carried afterwards as
//! [`ChannelName`] or [`ChannelPattern`], so the broker never re-checks a string and never
//! sees a name it could route wrongly.

use std::fmt;
use std::sync::Arc;

/// The longest channel name accepted (CH-1): bounds the work one subscribe can cause.
pub const MAX_CHANNEL_LEN: usize = 1024;

/// What a channel is for, by its first segment (CH-4, CH-5, CH-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// `/meta/**`: the protocol's own channels.
    Meta,
    /// `/service/**`: private request/response with the server.
    Service,
    /// Everything else: fan-out to subscribers.
    Broadcast,
}

/// A concrete channel name, such as `/chat/room1`: something a message can be published to.
/// Shared text: a publish hands its channel to its reply and its event without copying it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelName(Arc<str>);

/// The last segment of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wildcard {
    /// No wildcard: the pattern is a plain name.
    None,
    /// `*`: exactly one more segment.
    One,
    /// `**`: one or more segments.
    Deep,
}

/// What a client may subscribe to: a name, or a name ending in `/*` or `/**` (CH-2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelPattern {
    /// The whole pattern as the client sent it, kept for echoing and for unsubscribing.
    text: Arc<str>,
    wildcard: Wildcard,
}

fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_!~()$@.".contains(&b)
}

fn valid_segment(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(is_segment_byte)
}

fn kind_of(text: &str) -> ChannelKind {
    let first = text[1..].split('/').next().unwrap_or("");
    match first {
        "meta" => ChannelKind::Meta,
        "service" => ChannelKind::Service,
        _ => ChannelKind::Broadcast,
    }
}

impl ChannelPattern {
    /// Parses a name or pattern; `None` when it breaks CH-1 or CH-2.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() < 2 || text.len() > MAX_CHANNEL_LEN || !text.starts_with('/') {
            return None;
        }
        let segments = text[1..].split('/');
        let count = text[1..].split('/').count();
        let mut wildcard = Wildcard::None;
        for (i, segment) in segments.enumerate() {
            let last = i + 1 == count;
            match segment {
                "*" if last => wildcard = Wildcard::One,
                "**" if last => wildcard = Wildcard::Deep,
                s if valid_segment(s) => {}
                _ => return None,
            }
        }
        Some(Self {
            text: text.into(),
            wildcard,
        })
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The wildcard in the last segment, if any.
    pub fn wildcard(&self) -> Wildcard {
        self.wildcard
    }

    /// The segments before the wildcard (all of them when there is none).
    pub fn base_segments(&self) -> impl Iterator<Item = &str> {
        let base = match self.wildcard {
            Wildcard::None => &self.text[..],
            Wildcard::One => &self.text[..self.text.len() - 2],
            Wildcard::Deep => &self.text[..self.text.len() - 3],
        };
        base.split('/').skip(1).filter(|s| !s.is_empty())
    }

    /// Which kind of channel the pattern falls in: `/meta/*` is meta, `/**` is broadcast.
    pub fn kind(&self) -> ChannelKind {
        if self.base_segments().next().is_none() {
            return ChannelKind::Broadcast;
        }
        kind_of(&self.text)
    }

    /// The pattern as a concrete name, when it has no wildcard.
    pub fn into_name(self) -> Result<ChannelName, Self> {
        match self.wildcard {
            Wildcard::None => Ok(ChannelName(self.text)),
            _ => Err(self),
        }
    }

    /// Whether every channel `other` matches is also matched by this pattern: `/a/**` covers
    /// `/a/b`, `/a/*` and `/a/b/**`; `/a/*` covers `/a/b` and itself. Channel authorizers
    /// registered on this pattern apply to a subscription to `other`.
    pub fn covers(&self, other: &ChannelPattern) -> bool {
        if self == other {
            return true;
        }
        let mut base = self.base_segments();
        let mut theirs = other.base_segments();
        loop {
            match (base.next(), theirs.next()) {
                (Some(b), Some(t)) if b == t => continue,
                (Some(_), _) => return false,
                (None, next) => {
                    let deeper = next.map_or(0, |_| 1 + theirs.count());
                    return match (self.wildcard, other.wildcard) {
                        (Wildcard::Deep, Wildcard::None) => deeper >= 1,
                        (Wildcard::Deep, _) => true,
                        (Wildcard::One, Wildcard::None) => deeper == 1,
                        _ => false,
                    };
                }
            }
        }
    }

    /// Whether `name` is matched by this pattern (CH-2). The broker's index does the same
    /// walk for all patterns at once; this one is the reference it is tested against.
    pub fn matches(&self, name: &ChannelName) -> bool {
        let mut base = self.base_segments();
        let mut segments = name.segments();
        loop {
            match (base.next(), segments.next()) {
                (Some(b), Some(s)) if b == s => continue,
                (Some(_), _) => return false,
                (None, rest) => {
                    let remaining = rest.map_or(0, |_| 1 + segments.count());
                    return match self.wildcard {
                        Wildcard::None => remaining == 0,
                        Wildcard::One => remaining == 1,
                        Wildcard::Deep => remaining >= 1,
                    };
                }
            }
        }
    }
}

impl ChannelName {
    /// Parses a concrete name; `None` for an invalid name or a pattern.
    pub fn parse(text: &str) -> Option<Self> {
        ChannelPattern::parse(text)?.into_name().ok()
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments, without the leading empty one.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0[1..].split('/')
    }

    /// Which kind of channel this is.
    pub fn kind(&self) -> ChannelKind {
        kind_of(&self.0)
    }
}

impl From<ChannelName> for ChannelPattern {
    fn from(name: ChannelName) -> Self {
        ChannelPattern {
            text: name.0,
            wildcard: Wildcard::None,
        }
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ChannelPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_names() {
        for ok in [
            "/a",
            "/a/b",
            "/chat/room.1",
            "/a-b_c!~()$@",
            "/service/echo",
        ] {
            assert!(ChannelName::parse(ok).is_some(), "{ok} should be valid");
        }
        for bad in [
            "", "/", "a", "//a", "/a/", "/a b", "/a/*", "/a/**", "/é", "/a\"b", "/a*",
        ] {
            assert!(
                ChannelName::parse(bad).is_none(),
                "{bad:?} should be invalid"
            );
        }
        assert!(ChannelName::parse(&format!("/{}", "a".repeat(MAX_CHANNEL_LEN))).is_none());
    }

    #[test]
    fn wildcards_only_last() {
        for ok in ["/*", "/**", "/a/*", "/a/**", "/a/b/**"] {
            assert!(ChannelPattern::parse(ok).is_some(), "{ok} should be valid");
        }
        for bad in ["/a/*/b", "/**/a", "/a/***", "/a/b*", "/*/*"] {
            assert!(
                ChannelPattern::parse(bad).is_none(),
                "{bad} should be invalid"
            );
        }
    }

    #[test]
    fn matching_follows_ch2() {
        let name = |s| ChannelName::parse(s).unwrap();
        let pat = |s| ChannelPattern::parse(s).unwrap();
        assert!(pat("/a/*").matches(&name("/a/b")));
        assert!(!pat("/a/*").matches(&name("/a")));
        assert!(!pat("/a/*").matches(&name("/a/b/c")));
        assert!(pat("/a/**").matches(&name("/a/b")));
        assert!(pat("/a/**").matches(&name("/a/b/c")));
        assert!(!pat("/a/**").matches(&name("/a")));
        assert!(pat("/**").matches(&name("/x/y")));
        assert!(pat("/*").matches(&name("/x")));
        assert!(!pat("/*").matches(&name("/x/y")));
        assert!(pat("/a/b").matches(&name("/a/b")));
        assert!(!pat("/a/b").matches(&name("/a/bc")));
    }

    #[test]
    fn covering_patterns() {
        let pat = |s| ChannelPattern::parse(s).unwrap();
        for (outer, inner) in [
            ("/a/**", "/a/b"),
            ("/a/**", "/a/*"),
            ("/a/**", "/a/**"),
            ("/a/**", "/a/b/**"),
            ("/a/*", "/a/b"),
            ("/a/*", "/a/*"),
            ("/**", "/x/y/*"),
            ("/a/b", "/a/b"),
        ] {
            assert!(pat(outer).covers(&pat(inner)), "{outer} covers {inner}");
        }
        for (outer, inner) in [
            ("/a/**", "/a"),
            ("/a/*", "/a/**"),
            ("/a/*", "/a/b/c"),
            ("/a/*", "/a"),
            ("/a/b", "/a/*"),
            ("/a/b/**", "/a/*"),
        ] {
            assert!(
                !pat(outer).covers(&pat(inner)),
                "{outer} does not cover {inner}"
            );
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(
            ChannelName::parse("/meta/connect").unwrap().kind(),
            ChannelKind::Meta
        );
        assert_eq!(
            ChannelPattern::parse("/meta/**").unwrap().kind(),
            ChannelKind::Meta
        );
        assert_eq!(
            ChannelPattern::parse("/service/*").unwrap().kind(),
            ChannelKind::Service
        );
        assert_eq!(
            ChannelPattern::parse("/**").unwrap().kind(),
            ChannelKind::Broadcast
        );
        assert_eq!(
            ChannelName::parse("/metadata").unwrap().kind(),
            ChannelKind::Broadcast
        );
    }
}
