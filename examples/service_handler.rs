//! A `/service/add` handler: a client publishes `{"a":1,"b":2}` to `/service/add` and the
//! reply to that publish carries `{"sum":3}` as its `data` (CometD's remote call).
//!
//! Run with `cargo run --example service_handler`; the endpoint is
//! `http://127.0.0.1:8082/cometd`.

use herald::protocol::ChannelName;
use herald::{Herald, ServiceRequest};
use serde::Deserialize;
use serde_json::value::to_raw_value;

#[derive(Deserialize)]
struct Operands {
    a: f64,
    b: f64,
}

fn add(request: &ServiceRequest<'_>) -> Option<Box<serde_json::value::RawValue>> {
    let operands: Operands = serde_json::from_str(request.data.get()).ok()?;
    to_raw_value(&serde_json::json!({ "sum": operands.a + operands.b })).ok()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let channel = ChannelName::parse("/service/add").expect("a valid channel name");
    let herald = Herald::builder().service(channel, add).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8082").await?;
    axum::serve(listener, herald.router()).await
}
