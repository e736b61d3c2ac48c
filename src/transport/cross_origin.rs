//! Cross-origin access to the HTTP transports (TR-5): which origins may call the endpoint,
//! with credentials, and the answer to a preflight.
//!
//! tower-http's CORS layer does the work. This module keeps it off requests without an
//! `Origin` header (Node, Java and Python clients): they need no CORS headers, and the
//! layer builds its headers on every request it sees, 3.4 of the 8 µs a long-polling
//! publish costs at the router (`cargo bench --bench hot_paths -- exchange`). Replies are
//! never cached (HTTP-3), so leaving `Vary: Origin` off them cannot let a cache hand one
//! origin's reply to another.

use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{header, HeaderValue, Method, Request, Response};
use futures_util::future::Either;
use tower::{Layer, Service};
use tower_http::cors::{AllowHeaders, AllowOrigin, Cors, CorsLayer};

/// The CORS policy: the allowed origins, or any origin reflected, with credentials (the
/// CometD client always sends them) and a day-long preflight cache.
pub fn layer(allowed_origins: Option<&[String]>) -> CrossOriginLayer {
    let origins = match allowed_origins {
        Some(origins) => AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
        None => AllowOrigin::mirror_request(),
    };
    CrossOriginLayer(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(AllowHeaders::mirror_request())
            .max_age(Duration::from_secs(86_400)),
    )
}

/// Applies the CORS policy to the requests that carry an `Origin` header.
#[derive(Clone)]
pub struct CrossOriginLayer(CorsLayer);

impl<S: Clone> Layer<S> for CrossOriginLayer {
    type Service = CrossOrigin<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CrossOrigin {
            cors: self.0.layer(inner.clone()),
            same_origin: inner,
        }
    }
}

/// The endpoint twice: behind the CORS layer for requests with an `Origin`, bare for the
/// rest.
#[derive(Clone)]
pub struct CrossOrigin<S> {
    cors: Cors<S>,
    same_origin: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CrossOrigin<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Either<<Cors<S> as Service<Request<ReqBody>>>::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Either may take the next request, so both must be ready for it.
        if self.cors.poll_ready(cx)?.is_pending() {
            return Poll::Pending;
        }
        self.same_origin.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if request.headers().contains_key(header::ORIGIN) {
            Either::Left(self.cors.call(request))
        } else {
            Either::Right(self.same_origin.call(request))
        }
    }
}
