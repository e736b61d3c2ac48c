//! Channel rules from the configuration file (RUL-1 to RUL-5): per channel pattern, who
//! may subscribe and who may publish, as a [`SecurityPolicy`].
//!
//! The first rule whose pattern covers a channel decides for it; a channel no rule covers
//! is open to anyone. A wildcard subscription reaches every channel it covers, so it must
//! also pass every earlier rule that decides some of those channels: `/users/**` is refused
//! when `/users/{user}/**` is personal, even though no rule covers `/users/**` itself.

use std::sync::Arc;

use crate::config::file::{ChannelRuleSection, ConfigError, Source, Who};
use crate::protocol::{ChannelName, ChannelPattern, Message, Wildcard};
use crate::request::RequestInfo;
use crate::security::SecurityPolicy;
use crate::session::ServerSession;
use crate::BoxFuture;

/// What a signed-in user's credential says they may use; `None` leaves the rules alone,
/// a list narrows them to the channels it covers (RUL-4). Kept on the session as an
/// `Arc<Grants>`, read on every subscribe and publish without copying the lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Patterns the user may subscribe to.
    pub subscribe: Option<Vec<ChannelPattern>>,
    /// Channels the user may publish to.
    pub publish: Option<Vec<ChannelPattern>>,
}

/// One segment of a rule's pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    /// `{user}`: any one segment; for `owner`, the session's user.
    User,
}

/// A rule's pattern: a channel pattern whose segments may be `{user}`.
#[derive(Debug, Clone)]
struct RulePattern {
    base: Vec<Segment>,
    wildcard: Wildcard,
}

impl RulePattern {
    fn parse(text: &str) -> Option<Self> {
        // Checked as a channel pattern with each `{user}` read as a plain segment; the
        // segments are then the same, one for one.
        let checked = ChannelPattern::parse(&text.replace("/{user}", "/user"))?;
        let base = text[1..]
            .split('/')
            .take(checked.base_segments().count())
            .map(|segment| match segment {
                "{user}" => Segment::User,
                other => Segment::Literal(other.into()),
            })
            .collect();
        Some(Self {
            base,
            wildcard: checked.wildcard(),
        })
    }

    fn has_user(&self) -> bool {
        self.base.contains(&Segment::User)
    }

    /// Whether `segments` start with this pattern's base.
    fn prefix_of(&self, segments: &[&str]) -> bool {
        self.base.len() <= segments.len()
            && self
                .base
                .iter()
                .zip(segments)
                .all(|(mine, theirs)| match mine {
                    Segment::Literal(literal) => **literal == **theirs,
                    Segment::User => true,
                })
    }

    /// Whether every channel `target` reaches is one this rule covers.
    fn covers(&self, target: &Target<'_>) -> bool {
        let (mine, theirs) = (self.base.len(), target.base.len());
        self.prefix_of(&target.base)
            && match (self.wildcard, target.wildcard) {
                (Wildcard::None, Wildcard::None) => mine == theirs,
                (Wildcard::One, Wildcard::None) => mine + 1 == theirs,
                (Wildcard::One, Wildcard::One) => mine == theirs,
                (Wildcard::Deep, Wildcard::None) => mine < theirs,
                (Wildcard::Deep, _) => mine <= theirs,
                _ => false,
            }
    }

    /// Whether some channel is both this rule's and `target`'s.
    fn overlaps(&self, target: &Target<'_>) -> bool {
        let shared = self.base.len().min(target.base.len());
        let prefix_agrees = self.base[..shared].iter().zip(&target.base[..shared]).all(
            |(mine, theirs)| match mine {
                Segment::Literal(literal) => **literal == **theirs,
                Segment::User => true,
            },
        );
        // The channel depths each side reaches: [low, high].
        let depths = |len: usize, wildcard| match wildcard {
            Wildcard::None => (len, len),
            Wildcard::One => (len + 1, len + 1),
            Wildcard::Deep => (len + 1, usize::MAX),
        };
        let (low_a, high_a) = depths(self.base.len(), self.wildcard);
        let (low_b, high_b) = depths(target.base.len(), target.wildcard);
        prefix_agrees && low_a.max(low_b) <= high_a.min(high_b)
    }

    /// Whether every channel `target` reaches carries `user` where this rule has `{user}`.
    fn owned_by(&self, target: &Target<'_>, user: &str) -> bool {
        self.base.iter().enumerate().all(|(i, segment)| {
            *segment != Segment::User || target.base.get(i).is_some_and(|theirs| *theirs == user)
        })
    }
}

/// The channel or pattern being checked, split into segments once for every rule.
struct Target<'a> {
    base: Vec<&'a str>,
    wildcard: Wildcard,
}

impl<'a> Target<'a> {
    fn of(pattern: &'a ChannelPattern) -> Self {
        Self {
            base: pattern.base_segments().collect(),
            wildcard: pattern.wildcard(),
        }
    }
}

#[derive(Debug)]
struct Rule {
    pattern: RulePattern,
    subscribe: Who,
    publish: Who,
    presence: bool,
}

/// The rules, and the presence prefix no client may publish to.
#[derive(Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
    /// Channels only the server publishes on (presence events).
    reserved: Option<ChannelPattern>,
}

impl Rules {
    /// The rules of the file's `[[channels]]`, in order; `reserved` (the presence prefix)
    /// is closed to clients' publishes.
    pub fn from_file(
        sections: &[ChannelRuleSection],
        reserved: Option<ChannelPattern>,
        source: &Source,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for section in sections {
            let Some(pattern) = RulePattern::parse(section.pattern.get_ref()) else {
                errors.push(source.at(&section.pattern, "not a channel pattern"));
                continue;
            };
            let (subscribe, publish) = (
                section.subscribe.unwrap_or(Who::Anyone),
                section.publish.unwrap_or(Who::Anyone),
            );
            if (subscribe == Who::Owner || publish == Who::Owner) && !pattern.has_user() {
                errors.push(source.at(&section.pattern, "`owner` needs `{user}` in the pattern"));
            }
            rules.push(Rule {
                pattern,
                subscribe,
                publish,
                presence: section.presence,
            });
        }
        match errors.is_empty() {
            true => Ok(Self { rules, reserved }),
            false => Err(errors),
        }
    }

    /// Whether the rule deciding `channel` announces who joins and leaves it.
    pub fn has_presence(&self, channel: &ChannelPattern) -> bool {
        let target = Target::of(channel);
        self.rules
            .iter()
            .find(|rule| rule.pattern.covers(&target))
            .is_some_and(|rule| rule.presence)
    }

    /// Whether `session` may subscribe to `channel`.
    pub fn may_subscribe(&self, session: &ServerSession, channel: &ChannelPattern) -> bool {
        let grants = session.attribute::<Arc<Grants>>();
        let granted = grants.as_ref().and_then(|g| g.subscribe.as_deref());
        self.allows(channel, Some(session), granted, |rule| rule.subscribe)
    }

    /// Whether `session` (none: anonymous) may publish to `channel`.
    pub fn may_publish(&self, session: Option<&ServerSession>, channel: &ChannelName) -> bool {
        let pattern = ChannelPattern::from(channel.clone());
        if self.reserved.as_ref().is_some_and(|r| r.covers(&pattern)) {
            return false;
        }
        let grants = session.and_then(|s| s.attribute::<Arc<Grants>>());
        let granted = grants.as_ref().and_then(|g| g.publish.as_deref());
        self.allows(&pattern, session, granted, |rule| rule.publish)
    }

    fn allows(
        &self,
        channel: &ChannelPattern,
        session: Option<&ServerSession>,
        granted: Option<&[ChannelPattern]>,
        who: impl Fn(&Rule) -> Who,
    ) -> bool {
        let user = session.and_then(ServerSession::user);
        let in_grants = granted.map(|list| list.iter().any(|g| g.covers(channel)));
        if in_grants == Some(false) {
            return false;
        }
        let target = Target::of(channel);
        let deciding = self.rules.iter().position(|r| r.pattern.covers(&target));
        let end = deciding.map_or(self.rules.len(), |i| i + 1);
        self.rules[..end]
            .iter()
            .filter(|rule| rule.pattern.overlaps(&target))
            .all(|rule| match who(rule) {
                Who::Anyone => true,
                Who::Users => user.is_some(),
                Who::Token => in_grants == Some(true),
                Who::Owner => user.is_some_and(|user| rule.pattern.owned_by(&target, user)),
                Who::Backend => false,
            })
    }
}

/// The rules as the server's security policy.
#[derive(Debug, Clone)]
pub struct RulesPolicy(pub Arc<Rules>);

impl SecurityPolicy for RulesPolicy {
    fn can_subscribe<'a>(
        &'a self,
        session: &'a ServerSession,
        channel: &'a ChannelPattern,
        _: &'a Message,
        _: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        let allowed = self.0.may_subscribe(session, channel);
        Box::pin(async move { allowed })
    }

    fn can_publish<'a>(
        &'a self,
        session: Option<&'a ServerSession>,
        channel: &'a ChannelPattern,
        _: &'a Message,
        _: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        let allowed = match channel.clone().into_name() {
            Ok(name) => self.0.may_publish(session, &name),
            Err(_) => false,
        };
        Box::pin(async move { allowed })
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
