//! The core tested without a network: JSON in, JSON out, with Tokio's clock paused so held
//! connects, timeouts and expiry run in no real time.

mod ack;
mod apps;
mod hooks;
mod limits;
mod meta;

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::{Bayeux, Connection, Inbound, Processed};
use crate::protocol::parse_batch;
use crate::request::RequestInfo;
use crate::{Builder, Herald};

/// A core and the requests a client would make to it.
struct Harness {
    core: Arc<Bayeux>,
}

/// The response to a request, as JSON.
fn json_of(processed: &Processed) -> Value {
    serde_json::from_slice(&processed.response.to_json()).unwrap()
}

impl Harness {
    fn new(builder: Builder) -> Self {
        let herald: Herald = builder.build();
        Self { core: herald.core }
    }

    fn plain() -> Self {
        Self::new(Herald::builder())
    }

    /// Processes `messages` as one request on `connection`; the connect is left pending.
    async fn process_on(&self, messages: Value, connection: Connection) -> Processed {
        let text = messages.to_string();
        let batch = parse_batch(text.as_bytes()).unwrap();
        let request = RequestInfo::default();
        let inbound = Inbound {
            request: &request,
            connection,
        };
        self.core.process(batch, inbound).await
    }

    /// One HTTP request, held connect included: the whole response.
    async fn request(&self, messages: Value) -> Value {
        let processed = self.process_on(messages, Connection::Http).await;
        let mut response = processed.response;
        if let Some(connect) = processed.connect {
            let (events, reply) = self.core.complete(connect).await;
            response.set_connect(events, reply);
        }
        serde_json::from_slice(&response.to_json()).unwrap()
    }

    /// The reply to one message sent alone.
    async fn one(&self, message: Value) -> Value {
        let mut response = self.request(message).await;
        assert_eq!(
            response.as_array().unwrap().len(),
            1,
            "one reply: {response}"
        );
        response[0].take()
    }

    async fn handshake_with(&self, ext: Value) -> Value {
        self.one(json!({"channel":"/meta/handshake","version":"1.0",
            "supportedConnectionTypes":["long-polling","websocket"],"id":"h","ext":ext}))
            .await
    }

    /// A new session, connected once (CN-3), so its next connect is held.
    async fn client(&self) -> String {
        let reply = self.handshake_with(json!({})).await;
        let id = reply["clientId"].as_str().unwrap().to_owned();
        self.connect(&id).await;
        id
    }

    async fn connect(&self, id: &str) -> Value {
        self.connect_with(id, json!({})).await
    }

    async fn connect_with(&self, id: &str, ext: Value) -> Value {
        self.request(json!({"channel":"/meta/connect","clientId":id,
            "connectionType":"long-polling","id":"c","ext":ext}))
            .await
    }

    /// A connect left to wait in a task of its own.
    fn spawn_connect(self: &Arc<Self>, id: &str) -> JoinHandle<Value> {
        let (harness, id) = (Arc::clone(self), id.to_owned());
        tokio::spawn(async move { harness.connect(&id).await })
    }

    async fn subscribe(&self, id: &str, subscription: Value) -> Value {
        self.one(
            json!({"channel":"/meta/subscribe","clientId":id,"subscription":subscription,"id":"s"}),
        )
        .await
    }

    async fn publish(&self, id: &str, channel: &str, data: Value) -> Value {
        self.one(json!({"channel":channel,"clientId":id,"data":data,"id":"p"}))
            .await
    }
}

/// The `data` of the events in a response, in order.
fn data_of(response: &Value) -> Vec<Value> {
    response
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m.get("data").is_some() && m.get("successful").is_none())
        .map(|m| m["data"].clone())
        .collect()
}
