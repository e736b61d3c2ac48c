//! [`ServerSession`]: what an application sees of a session, in a security policy, an
//! extension or a listener.

use std::fmt;
use std::sync::Arc;

use super::{Session, SessionState};

/// A session as the application sees it: its client id, where it came from, and the
/// attributes the application keeps on it (the signed-in user, say). Cheap to clone; every
/// clone is the same session.
///
/// ```
/// # fn example(session: &herald::ServerSession) {
/// #[derive(Clone)]
/// struct User(String);
/// session.set_attribute(User("ada".into()));
/// assert_eq!(session.attribute::<User>().map(|u| u.0), Some("ada".to_owned()));
/// # }
/// ```
#[derive(Clone)]
pub struct ServerSession(pub(crate) Arc<Session>);

impl ServerSession {
    /// The client id (HS-2).
    pub fn id(&self) -> &str {
        self.0.id()
    }

    /// The client id, shared, for a reply.
    pub(crate) fn client_id(&self) -> super::ClientId {
        self.0.client_id()
    }

    /// Whether it was made on the server ([`crate::LocalSession`]) rather than by a client.
    pub fn is_local(&self) -> bool {
        self.0.is_local()
    }

    /// Whether it is still live (not disconnected, expired or ended).
    pub fn is_live(&self) -> bool {
        self.0.state().is_live()
    }

    /// Its state.
    pub fn state(&self) -> SessionState {
        self.0.state()
    }

    /// Names the user who signed in, at handshake (a sign-in or security policy does it):
    /// messages addressed to the user reach this session. A user, once named, stays;
    /// `false` if one already was.
    pub fn set_user(&self, user: &str) -> bool {
        self.0.set_user(user.into())
    }

    /// The user who signed in, if any.
    pub fn user(&self) -> Option<&str> {
        self.0.user().map(|user| &**user)
    }

    /// Keeps `value` on the session, replacing an earlier value of the same type.
    pub fn set_attribute<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.0.attributes().lock().insert(value);
    }

    /// A copy of the attribute of type `T`, if set.
    pub fn attribute<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0.attributes().lock().get::<T>().cloned()
    }

    /// Removes and returns the attribute of type `T`.
    pub fn remove_attribute<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0.attributes().lock().remove::<T>()
    }

    /// Keeps messages until the client acknowledges them and delivers them only with
    /// connect replies. The `ack` extension turns it on at handshake (ACK-1).
    pub fn enable_acknowledged_delivery(&self) {
        self.0.enable_acknowledged_delivery();
    }

    /// Whether messages are kept until acknowledged.
    pub fn is_acknowledged_delivery(&self) -> bool {
        self.0.is_acknowledged_delivery()
    }

    /// The client has received every batch up to `batch` (ACK-2).
    pub fn acknowledge(&self, batch: u64) {
        self.0.acknowledge(batch);
    }

    /// How many messages wait for the client.
    pub fn queued(&self) -> usize {
        self.0.queued()
    }
}

impl fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSession")
            .field("id", &self.id())
            .field("local", &self.is_local())
            .finish()
    }
}

impl PartialEq for ServerSession {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ServerSession {}
