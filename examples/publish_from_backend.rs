//! A server that publishes the time to `/clock/tick` every second, beside herald's routes.
//!
//! Run with `cargo run --example publish_from_backend`, then subscribe to `/clock/*` with any
//! Bayeux client at `http://127.0.0.1:8081/cometd`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use herald::{Config, Herald};
use serde_json::value::to_raw_value;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let herald = Herald::new(Config::default());
    let clock = herald.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            ticks.tick().await;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let data = to_raw_value(&serde_json::json!({ "unix": now }))
                .expect("a JSON object always serializes");
            match clock.publish("/clock/tick", &data) {
                Ok(reached) => println!("tick {now} reached {reached} clients"),
                Err(error) => eprintln!("publish failed: {error}"),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    axum::serve(listener, herald.router()).await
}
