//! The `BAYEUX_BROWSER` cookie: one id per browser, so the core can count the long-polls a
//! browser holds and keep it under its connection limit (TR-8), as CometD does.

use axum::http::HeaderValue;

use crate::bayeux::BROWSER_COOKIE;

/// The `Set-Cookie` value naming a browser by the id the core gave it.
pub fn cookie(id: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{BROWSER_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"
    ))
    .expect("a cookie of ASCII letters and digits is a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_cookie_names_the_browser() {
        let cookie = cookie("0123abcd");
        assert!(cookie.to_str().unwrap().starts_with("BAYEUX_BROWSER="));
    }
}
