//! A fixed workload for `valgrind --tool=callgrind`, which counts instructions: the same
//! count for the same binary and input whatever else the machine is doing, where timings
//! on a shared two-core machine vary by a third from run to run.
//!
//! One subscriber; each cycle is a long-polling publish to its channel and the connect
//! that delivers it, both through the router (everything herald does between hyper and
//! the socket). Run it for two cycle counts and divide the difference:
//!
//! ```sh
//! cargo bench --bench instructions --no-run      # builds target/release/deps/instructions-*
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/instructions-<hash> 200
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/instructions-<hash> 1200
//! ```
//!
//! (instructions at 1200 − instructions at 200) / 1000 = instructions per cycle.
//!
//! A configuration file as the second argument builds the server from it, as `herald
//! --config` does, to measure what its sign-in and channel rules cost per cycle (the
//! client handshakes without a token, so the file should allow anonymous clients on
//! `/bench/x`).

use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn call(router: &Router, body: String) -> serde_json::Value {
    let request = Request::post("/cometd")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("a valid request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("a JSON response")
}

fn main() {
    let cycles: usize = std::env::args()
        .nth(1)
        .map_or(1000, |n| n.parse().expect("a number of cycles"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let router = match std::env::args().nth(2) {
            None => herald::Herald::new(herald::Config::default()).router(),
            Some(path) => {
                let (file, source) = herald::config::file::load(path.as_ref()).expect("a file");
                let app = herald::app::App::from_file(&file, &source).expect("a valid file");
                let config = herald::Config::from_file(&file);
                app.build(herald::Herald::builder().config(config)).router
            }
        };
        let handshake = r#"[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]"#;
        let reply = call(&router, handshake.into()).await;
        let id = reply[0]["clientId"].as_str().expect("a client id").to_owned();
        let subscribe = format!(r#"[{{"channel":"/meta/subscribe","clientId":"{id}","subscription":"/bench/x"}}]"#);
        call(&router, subscribe).await;
        let publish = format!(
            r#"[{{"channel":"/bench/x","clientId":"{id}","id":"5","data":{{"t":1,"pad":"{}"}}}}]"#,
            "x".repeat(50)
        );
        let connect = format!(
            r#"[{{"channel":"/meta/connect","clientId":"{id}","connectionType":"long-polling","advice":{{"timeout":0}},"id":"6"}}]"#
        );
        for _ in 0..cycles {
            call(&router, publish.clone()).await;
            let delivered = call(&router, connect.clone()).await;
            assert_eq!(delivered.as_array().map(Vec::len), Some(2), "{delivered}");
        }
    });
}
