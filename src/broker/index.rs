//! The subscription index: a tree keyed by channel segment.
//!
//! Each node holds the subscribers of exactly that channel, of `<node>/*` and of
//! `<node>/**`. A publish to `/a/b/c` walks root, `/a`, `/a/b`, `/a/b/c` once: `**` at every
//! node on the way, `*` at the parent of the last segment, exact at the leaf. The cost
//! depends on the name's depth, not on how many sessions or subscriptions there are.

use std::collections::HashMap;

use crate::protocol::{ChannelName, ChannelPattern, Wildcard};
use crate::session::SessionKey;

/// Subscribers of one pattern, by session key.
pub type Subscribers<S> = HashMap<SessionKey, S>;

#[derive(Debug)]
struct Node<S> {
    children: HashMap<Box<str>, Node<S>>,
    exact: Subscribers<S>,
    one: Subscribers<S>,
    deep: Subscribers<S>,
}

impl<S> Default for Node<S> {
    fn default() -> Self {
        Self {
            children: HashMap::new(),
            exact: HashMap::new(),
            one: HashMap::new(),
            deep: HashMap::new(),
        }
    }
}

impl<S> Node<S> {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.exact.is_empty()
            && self.one.is_empty()
            && self.deep.is_empty()
    }

    fn set(&mut self, wildcard: Wildcard) -> &mut Subscribers<S> {
        match wildcard {
            Wildcard::None => &mut self.exact,
            Wildcard::One => &mut self.one,
            Wildcard::Deep => &mut self.deep,
        }
    }
}

/// Which subscribers each pattern has. `S` is what a publish needs to reach a subscriber.
#[derive(Debug)]
pub struct SubscriptionIndex<S> {
    root: Node<S>,
}

impl<S> Default for SubscriptionIndex<S> {
    fn default() -> Self {
        Self {
            root: Node::default(),
        }
    }
}

impl<S> SubscriptionIndex<S> {
    /// Adds `subscriber` under `pattern`: `None` if it was already there (SUB-5), else
    /// whether it is the pattern's first subscriber.
    pub fn insert(
        &mut self,
        pattern: &ChannelPattern,
        key: SessionKey,
        subscriber: S,
    ) -> Option<bool> {
        let mut node = &mut self.root;
        for segment in pattern.base_segments() {
            node = node.children.entry(segment.into()).or_default();
        }
        let set = node.set(pattern.wildcard());
        let first = set.is_empty();
        set.insert(key, subscriber).is_none().then_some(first)
    }

    /// Removes `key` from `pattern`, pruning nodes left empty: `None` if it was not there,
    /// else whether it was the pattern's last subscriber.
    pub fn remove(&mut self, pattern: &ChannelPattern, key: SessionKey) -> Option<bool> {
        fn walk<'p, S>(
            node: &mut Node<S>,
            mut segments: impl Iterator<Item = &'p str>,
            wildcard: Wildcard,
            key: SessionKey,
        ) -> Option<bool> {
            match segments.next() {
                None => {
                    let set = node.set(wildcard);
                    set.remove(&key)?;
                    Some(set.is_empty())
                }
                Some(segment) => {
                    let child = node.children.get_mut(segment)?;
                    let removed = walk(child, segments, wildcard, key);
                    if child.is_empty() {
                        node.children.remove(segment);
                    }
                    removed
                }
            }
        }
        walk(
            &mut self.root,
            pattern.base_segments(),
            pattern.wildcard(),
            key,
        )
    }

    /// Every set of subscribers whose pattern matches `name` (CH-2), possibly with the same
    /// session in several sets.
    pub fn matching<'s>(&'s self, name: &ChannelName) -> Vec<&'s Subscribers<S>> {
        let segments: Vec<&str> = name.segments().collect();
        let mut found = Vec::new();
        let mut node = &self.root;
        for (depth, segment) in segments.iter().enumerate() {
            found.push(&node.deep);
            if depth + 1 == segments.len() {
                found.push(&node.one);
            }
            match node.children.get(*segment) {
                Some(child) => node = child,
                None => return found,
            }
        }
        found.push(&node.exact);
        found
    }

    /// Whether `pattern` itself has subscribers (not through another pattern).
    pub fn has_subscribers(&self, pattern: &ChannelPattern) -> bool {
        let mut node = &self.root;
        for segment in pattern.base_segments() {
            match node.children.get(segment) {
                Some(child) => node = child,
                None => return false,
            }
        }
        let set = match pattern.wildcard() {
            Wildcard::None => &node.exact,
            Wildcard::One => &node.one,
            Wildcard::Deep => &node.deep,
        };
        !set.is_empty()
    }

    /// Every pattern with subscribers and how many it has, in no particular order.
    pub fn counts(&self) -> Vec<(String, usize)> {
        fn walk<S>(node: &Node<S>, path: &mut String, out: &mut Vec<(String, usize)>) {
            let base = if path.is_empty() { "/" } else { path.as_str() };
            let joined = |suffix: &str| format!("{}{suffix}", base.trim_end_matches('/'));
            for (set, text) in [
                (&node.exact, path.clone()),
                (&node.one, joined("/*")),
                (&node.deep, joined("/**")),
            ] {
                if !set.is_empty() && !text.is_empty() {
                    out.push((text, set.len()));
                }
            }
            for (segment, child) in &node.children {
                let length = path.len();
                path.push('/');
                path.push_str(segment);
                walk(child, path, out);
                path.truncate(length);
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut String::new(), &mut out);
        out
    }

    /// Whether the index holds nothing (every subscription removed).
    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(index: &SubscriptionIndex<()>, name: &str) -> Vec<SessionKey> {
        let name = ChannelName::parse(name).unwrap();
        let mut keys: Vec<_> = index
            .matching(&name)
            .into_iter()
            .flat_map(|set| set.keys().copied())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    #[test]
    fn index_agrees_with_the_reference_matcher() {
        let patterns = [
            "/a", "/a/b", "/a/b/c", "/a/*", "/a/**", "/a/b/*", "/a/b/**", "/*", "/**", "/b/**",
        ];
        let names = [
            "/a", "/b", "/a/b", "/a/c", "/a/b/c", "/a/b/c/d", "/b/x/y", "/c",
        ];
        let mut index = SubscriptionIndex::default();
        for (key, pattern) in patterns.iter().enumerate() {
            index.insert(&ChannelPattern::parse(pattern).unwrap(), key as u64, ());
        }
        for name in names {
            let parsed = ChannelName::parse(name).unwrap();
            let expected: Vec<u64> = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| ChannelPattern::parse(p).unwrap().matches(&parsed))
                .map(|(k, _)| k as u64)
                .collect();
            assert_eq!(keys(&index, name), expected, "subscribers of {name}");
        }
    }

    #[test]
    fn insert_is_idempotent_and_remove_prunes() {
        let mut index = SubscriptionIndex::default();
        let pattern = ChannelPattern::parse("/x/y/**").unwrap();
        assert_eq!(index.insert(&pattern, 1, ()), Some(true));
        assert_eq!(index.insert(&pattern, 1, ()), None);
        assert_eq!(index.insert(&pattern, 2, ()), Some(false));
        assert!(index.has_subscribers(&pattern));
        assert!(!index.has_subscribers(&ChannelPattern::parse("/x/y").unwrap()));
        assert_eq!(keys(&index, "/x/y/z"), [1, 2]);
        assert_eq!(index.remove(&pattern, 1), Some(false));
        assert_eq!(index.remove(&pattern, 1), None);
        assert_eq!(index.remove(&pattern, 2), Some(true));
        assert!(index.is_empty());
        assert!(keys(&index, "/x/y/z").is_empty());
    }

    #[test]
    fn counts_name_every_pattern_with_subscribers() {
        let mut index = SubscriptionIndex::default();
        for (key, pattern) in [(1, "/**"), (2, "/a/*"), (3, "/a/*"), (4, "/a/b"), (5, "/*")] {
            index.insert(&ChannelPattern::parse(pattern).unwrap(), key, ());
        }
        let mut counts = index.counts();
        counts.sort();
        let expected = [("/*", 1), ("/**", 1), ("/a/*", 2), ("/a/b", 1)];
        let expected: Vec<_> = expected.iter().map(|(p, n)| (p.to_string(), *n)).collect();
        assert_eq!(counts, expected);
    }
}
