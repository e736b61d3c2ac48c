//! The `BAYEUX_BROWSER` cookie: one id per browser, so the server can count the long-polls
//! a browser holds and keep it under its connection limit (TR-8), as CometD does.

use axum::http::{header, HeaderMap, HeaderValue};

const COOKIE: &str = "BAYEUX_BROWSER";

/// The browser id the request's cookies carry.
pub fn id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value with a new, unguessable browser id.
pub fn new_cookie() -> HeaderValue {
    let id = uuid::Uuid::new_v4().simple();
    HeaderValue::from_str(&format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"))
        .expect("a cookie of ASCII letters and digits is a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; BAYEUX_BROWSER=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(id(&headers).as_deref(), Some("xyz"));
        assert_eq!(id(&HeaderMap::new()), None);
        let cookie = new_cookie();
        assert!(cookie.to_str().unwrap().starts_with("BAYEUX_BROWSER="));
    }
}
