//! The demo chat page served at `/`, so a newcomer sees herald work in a browser. Its
//! client code is a few lines of the project's own JavaScript, not a Bayeux library.

use axum::response::Html;

const PAGE: &str = include_str!("index.html");

/// The page, pointed at the endpoint mounted at `path`.
pub fn page(path: &str) -> Html<String> {
    Html(PAGE.replace("{{ENDPOINT}}", path))
}
