//! Sign-in at handshake (SIGN-1): who the client is, decided before the security policy
//! sees the handshake, with an error that tells the client what to do next.
//!
//! A security policy answers yes or no; a sign-in says why not, because the client's next
//! step depends on it: a missing or forged credential will not get better by retrying
//! (`advice.reconnect: none`), an expired one will once the client fetches a fresh one, and
//! a sign-in backend that is away may be back soon (both `reconnect: handshake`).

use crate::protocol::Message;
use crate::request::RequestInfo;
use crate::session::ServerSession;
use crate::BoxFuture;

pub use crate::protocol::SignInError;

/// Decides who a handshaking client is. On success it names the user on the session
/// ([`ServerSession::set_user`]) unless the client stays anonymous, and may keep what else
/// it learned (the channels the user may use) as session attributes for the policy.
///
/// ```
/// use herald::{BoxFuture, RequestInfo, ServerSession, SignIn, SignInError};
/// use herald::protocol::Message;
///
/// /// Signs in whoever presents a `user` in the handshake's `ext`.
/// struct Trusting;
///
/// impl SignIn for Trusting {
///     fn sign_in<'a>(
///         &'a self,
///         session: &'a ServerSession,
///         message: &'a Message,
///         _: &'a RequestInfo,
///     ) -> BoxFuture<'a, Result<(), SignInError>> {
///         let user = message.ext().and_then(|ext| ext.get("user")).and_then(|u| u.as_str());
///         let result = match user {
///             Some(user) => Ok(drop(session.set_user(user))),
///             None => Err(SignInError::Missing),
///         };
///         Box::pin(async move { result })
///     }
/// }
/// ```
pub trait SignIn: Send + Sync + 'static {
    /// Signs in the client making `session` with `message`, its handshake.
    fn sign_in<'a>(
        &'a self,
        session: &'a ServerSession,
        message: &'a Message,
        request: &'a RequestInfo,
    ) -> BoxFuture<'a, Result<(), SignInError>>;
}
