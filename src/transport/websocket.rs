//! WebSocket: JSON arrays in text frames both ways, on the endpoint's own URL (TR-2).
//!
//! A reader processes each frame as a batch; a writer owns the socket's sending half and
//! writes, in order, the replies and the messages of the push stream the core handed over
//! when a connect came on this socket. Pushed messages go out as soon as they are queued,
//! all that is queued coalesced into one frame; the connect itself is held as a heartbeat.
//! When the socket closes, the session stays and its queue waits for the client's next
//! connect, on a new socket or by long-polling (TR-7).

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::bayeux::{Bayeux, Connection, Inbound, PushStream};
use crate::protocol::{parse_batch, Response as BayeuxResponse};
use crate::request::RequestInfo;
use crate::traffic::{Limit, Traffic};

/// Close code for a frame that is not Bayeux messages (RFC 6455: invalid payload data).
const INVALID_PAYLOAD: u16 = 1007;
/// Close code for binary frames (RFC 6455: unsupported data).
const UNSUPPORTED_DATA: u16 = 1003;
/// Close code on server shutdown (RFC 6455: going away).
const GOING_AWAY: u16 = 1001;
/// Close code for a frame of more messages than herald takes (RFC 6455: message too big).
const MESSAGE_TOO_BIG: u16 = 1009;
/// Close code for a client breaking a limit (RFC 6455: policy violation).
const POLICY_VIOLATION: u16 = 1008;

/// Frames the reader may have waiting for the writer. When the client does not read, the
/// writer waits on the socket, this fills, and the reader stops reading the client's
/// frames: what the client sends is held back in its own buffers, not herald's (LIM-4).
const PENDING_FRAMES: usize = 32;

/// Pings a client may send per second (averaged over [`PING_WINDOW`]). The WebSocket
/// stack queues a pong for each; a client that floods pings without reading the pongs
/// would grow that queue without end (LIM-5).
const PINGS_PER_SECOND: u32 = 16;
const PING_WINDOW: std::time::Duration = std::time::Duration::from_secs(4);

/// What the reader and the connect tasks hand the writer, in the order it must be sent.
enum Outgoing {
    /// A frame to send.
    Frame(Bytes),
    /// From now on push this stream's messages on this socket.
    Push(PushStream),
    /// The reader is gone: stop pushing, so the session's messages wait for its next
    /// connect instead of going to a socket nobody reads.
    Detach,
    /// Close the socket: with this code and reason when the server ends it, or by
    /// answering the client's own close frame when `None`.
    Close(Option<(u16, &'static str)>),
}

/// How much the socket reads at a time. Bayeux frames are small, and an idle socket keeps
/// this buffer for its whole life: tungstenite's 128 KiB default would make every idle
/// client cost more than ten times what the rest of it does (a larger frame grows it as
/// needed).
const READ_BUFFER: usize = 1024;

/// Accepts the upgrade; frames are limited like HTTP bodies (HTTP-5). No sub-protocol is
/// required, and permessage-deflate is declined (the WebSocket stack has none), so clients
/// that offer it go on uncompressed. `request` is the upgrade request's, kept for every
/// message the socket carries.
pub fn upgrade(bayeux: Arc<Bayeux>, upgrade: WebSocketUpgrade, request: RequestInfo) -> Response {
    let limit = bayeux.config().max_body_bytes;
    upgrade
        .read_buffer_size(READ_BUFFER)
        // Frames are already coalesced by the writer: write each one out at once.
        .write_buffer_size(0)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve(bayeux, socket, request))
}

/// Whether a read failed on a text frame that is not UTF-8 (the WebSocket stack's own
/// error, under axum's).
fn is_invalid_utf8(error: axum::Error) -> bool {
    error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|error| matches!(error, tungstenite::Error::Utf8(_)))
}

async fn serve(bayeux: Arc<Bayeux>, socket: WebSocket, request: RequestInfo) {
    let (sink, mut frames) = socket.split();
    // Pushed messages do not pass here: the writer takes them from its stream.
    let (outgoing, pending) = mpsc::channel(PENDING_FRAMES);
    let writer = tokio::spawn(write(
        sink,
        pending,
        bayeux.config().write_timeout,
        Arc::clone(bayeux.traffic()),
    ));
    let mut pings = PingBudget::new();
    // The task finishing the latest connect held on this socket.
    let mut held: Option<JoinHandle<()>> = None;
    let inbound = Inbound {
        request: &request,
        connection: Connection::WebSocket,
    };
    loop {
        let frame = tokio::select! {
            frame = frames.next() => frame,
            _ = bayeux.shutting_down() => {
                let _ = outgoing.send(Outgoing::Close(Some((GOING_AWAY, "server shutting down")))).await;
                break;
            }
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                let close = Some((UNSUPPORTED_DATA, "text frames only"));
                let _ = outgoing.send(Outgoing::Close(close)).await;
                break;
            }
            Some(Ok(Message::Ping(_))) => {
                if pings.spend() {
                    continue;
                }
                bayeux.traffic().hit(Limit::Pings);
                let close = Some((POLICY_VIOLATION, "too many pings"));
                let _ = outgoing.send(Outgoing::Close(close)).await;
                break;
            }
            Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) => {
                let _ = outgoing.send(Outgoing::Close(None)).await;
                break;
            }
            // A text frame that is not UTF-8 gets the close the spec promises (TR-2), not
            // a dropped connection; other read errors leave nobody to tell.
            Some(Err(error)) => {
                if is_invalid_utf8(error) {
                    let close = Some((INVALID_PAYLOAD, "text frames must be UTF-8"));
                    let _ = outgoing.send(Outgoing::Close(close)).await;
                }
                break;
            }
            None => break,
        };
        let parsed = parse_batch(text.as_bytes());
        bayeux
            .traffic()
            .received(text.len(), parsed.as_ref().map_or(0, Vec::len));
        let Ok(batch) = parsed else {
            let close = Some((INVALID_PAYLOAD, "malformed JSON messages"));
            let _ = outgoing.send(Outgoing::Close(close)).await;
            break;
        };
        if batch.len() > bayeux.config().max_batch {
            bayeux.traffic().hit(Limit::Batch);
            let close = Some((MESSAGE_TOO_BIG, "too many messages in one frame"));
            let _ = outgoing.send(Outgoing::Close(close)).await;
            break;
        }
        let empty = batch.is_empty();
        let processed = bayeux.process(batch, inbound).await;
        // A batch that ended the session (a disconnect) woke its held connect: that reply,
        // `reconnect: none`, goes first. The CometD client closes its socket only when the
        // disconnect reply finds no connect outstanding.
        if processed.ended {
            if let Some(task) = held.take() {
                let _ = task.await;
            }
        }
        if !processed.response.is_empty() || empty {
            let frame = Outgoing::Frame(processed.response.to_json());
            if outgoing.send(frame).await.is_err() {
                break;
            }
        }
        if let Some(stream) = processed.stream {
            let _ = outgoing.send(Outgoing::Push(stream)).await;
        }
        if let Some(connect) = processed.connect {
            let bayeux = Arc::clone(&bayeux);
            let outgoing = outgoing.clone();
            held = Some(tokio::spawn(async move {
                let (events, reply) = bayeux.complete(connect).await;
                let mut response = BayeuxResponse::default();
                response.set_connect(events, reply);
                // The socket may be gone by now; the reply then has no one to reach.
                let _ = outgoing.send(Outgoing::Frame(response.to_json())).await;
            }));
        }
    }
    // The writer may be stuck on a client that does not read: it ends by its timeout.
    let _ = outgoing.try_send(Outgoing::Detach);
    drop(outgoing);
    let _ = writer.await;
}

/// Writes what the reader and the push stream hand over, in order. A frame the socket does
/// not take within `timeout` means the client stopped reading: the socket is dropped and
/// the session behind the push stream, if any, cut off (LIM-4).
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut pending: mpsc::Receiver<Outgoing>,
    timeout: std::time::Duration,
    traffic: Arc<Traffic>,
) {
    let mut push: Option<PushStream> = None;
    loop {
        let outgoing = tokio::select! {
            // Replies and new streams first: they were decided before any push that
            // follows them.
            biased;
            outgoing = pending.recv() => match outgoing {
                Some(outgoing) => outgoing,
                None => break,
            },
            frame = next_push(&mut push) => match frame {
                Some(frame) => Outgoing::Frame(frame),
                None => {
                    push = None;
                    continue;
                }
            },
        };
        let sent = match outgoing {
            Outgoing::Frame(bytes) => match Utf8Bytes::try_from(bytes) {
                Ok(text) => {
                    traffic.sent(text.len());
                    match tokio::time::timeout(timeout, sink.send(Message::Text(text))).await {
                        Ok(sent) => sent,
                        Err(_) => {
                            if let Some(stream) = push.take() {
                                stream.cut_off();
                            }
                            break;
                        }
                    }
                }
                Err(_) => continue,
            },
            Outgoing::Push(stream) => {
                push = Some(stream);
                continue;
            }
            Outgoing::Detach => {
                push = None;
                continue;
            }
            Outgoing::Close(close) => {
                if let Some((code, reason)) = close {
                    let frame = CloseFrame {
                        code,
                        reason: reason.into(),
                    };
                    let close = sink.send(Message::Close(Some(frame)));
                    let _ = tokio::time::timeout(timeout, close).await;
                }
                // Flushes the close handshake (tungstenite queues the answer to the
                // client's close frame itself) before the socket is dropped.
                let _ = tokio::time::timeout(timeout, sink.close()).await;
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
}

/// How many pings a client may still send: [`PINGS_PER_SECOND`] over each
/// [`PING_WINDOW`].
struct PingBudget {
    window_start: tokio::time::Instant,
    spent: u32,
}

impl PingBudget {
    fn new() -> Self {
        Self {
            window_start: tokio::time::Instant::now(),
            spent: 0,
        }
    }

    /// Counts one ping; `false` once the client has sent more than its share.
    fn spend(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.window_start) > PING_WINDOW {
            self.window_start = now;
            self.spent = 0;
        }
        self.spent += 1;
        self.spent <= PINGS_PER_SECOND * PING_WINDOW.as_secs() as u32
    }
}

/// The next frame of pushes; never resolves while nothing pushes on this socket.
async fn next_push(push: &mut Option<PushStream>) -> Option<Bytes> {
    match push {
        Some(push) => push.next_json().await,
        None => std::future::pending().await,
    }
}
