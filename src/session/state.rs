//! The session state machine (SES-1), as a pure transition function.

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The client sent `/meta/disconnect` (DISC-1).
    Disconnected,
    /// No connect for `interval + maxInterval` (SES-2).
    Expired,
    /// Its queue overflowed (SES-4).
    Overflowed,
    /// The application (or the backend API) removed it: the client is told to stop.
    Removed,
    /// It stopped reading what its push stream sent for longer than the write timeout
    /// (LIM-4): cut off, its client must handshake again.
    TooSlow,
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Handshake answered, no connect yet: the next connect is answered at once (CN-3).
    Handshaken,
    /// At least one connect seen.
    Connected,
    /// Gone: every later message with its id gets ERR-2.
    Ended(EndReason),
}

/// What happens to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// A `/meta/connect` arrived.
    Connect,
    /// The session ends.
    End(EndReason),
}

impl SessionState {
    /// The state after `event`; `None` when the event is not allowed in this state (a
    /// connect on an ended session: the caller answers ERR-2).
    pub fn on(self, event: SessionEvent) -> Option<SessionState> {
        match (self, event) {
            (SessionState::Ended(_), _) => None,
            (_, SessionEvent::Connect) => Some(SessionState::Connected),
            (_, SessionEvent::End(reason)) => Some(SessionState::Ended(reason)),
        }
    }

    /// Whether the session still exists for the client.
    pub fn is_live(self) -> bool {
        !matches!(self, SessionState::Ended(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        use SessionEvent::*;
        use SessionState::*;
        assert_eq!(Handshaken.on(Connect), Some(Connected));
        assert_eq!(Connected.on(Connect), Some(Connected));
        let ended = Ended(EndReason::Disconnected);
        assert_eq!(Connected.on(End(EndReason::Disconnected)), Some(ended));
        assert_eq!(ended.on(Connect), None);
        assert_eq!(ended.on(End(EndReason::Expired)), None);
        assert!(!ended.is_live());
        assert!(Handshaken.is_live());
    }
}
