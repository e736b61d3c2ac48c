//! The application's backend as herald calls it: a JSON POST with a deadline, shared by
//! sign-in and webhooks (BKD-1). Whatever goes wrong comes back as a [`BackendError`] in a
//! few kinds, each turned into a Bayeux error by its caller, for the one client concerned.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::file::{ConfigError, Secret, Source};

/// How long herald waits for the backend unless the file says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2_000);

/// Why a call to the backend gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Not reachable, or an answer that is not the JSON expected.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A 4xx answer: the backend refuses, with its `error` text if it gave one.
    #[error("refused with status {status}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The `error` field of the answer's JSON, if any.
        reason: Option<String>,
    },
}

/// One backend URL.
#[derive(Debug, Clone)]
pub struct Backend {
    client: reqwest::Client,
    url: reqwest::Url,
    timeout: Duration,
    secret: Option<Secret>,
}

#[derive(serde::Deserialize)]
struct Refusal {
    error: Option<String>,
}

impl Backend {
    /// A backend at `url` (checked here, reported at its place in the file).
    pub fn new(
        url: &toml::Spanned<String>,
        timeout: Option<u64>,
        secret: Option<Secret>,
        source: &Source,
    ) -> Result<Self, ConfigError> {
        let parsed = reqwest::Url::parse(url.get_ref())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| source.at(url, "not an http:// or https:// URL"))?;
        let client = reqwest::Client::builder()
            .build()
            .map_err(|error| source.at(url, format!("cannot make an HTTP client: {error}")))?;
        Ok(Self {
            client,
            url: parsed,
            timeout: timeout.map_or(DEFAULT_TIMEOUT, Duration::from_millis),
            secret,
        })
    }

    /// POSTs `body` and reads the answer: `Ok(None)` for a 2xx with an empty body.
    pub async fn post<T: DeserializeOwned>(
        &self,
        body: &impl Serialize,
    ) -> Result<Option<T>, BackendError> {
        let call = async {
            let mut request = self.client.post(self.url.clone()).json(body);
            if let Some(secret) = &self.secret {
                request = request.bearer_auth(secret.expose());
            }
            let response = request.send().await.map_err(unavailable)?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(unavailable)?;
            if status.is_client_error() {
                let reason = serde_json::from_slice::<Refusal>(&bytes)
                    .ok()
                    .and_then(|refusal| refusal.error);
                return Err(BackendError::Refused {
                    status: status.as_u16(),
                    reason,
                });
            }
            if !status.is_success() {
                return Err(BackendError::Unavailable(format!("status {status}")));
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(None);
            }
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| BackendError::Unavailable(format!("unreadable answer: {error}")))
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(answer) => answer,
            Err(_) => Err(BackendError::Timeout(self.timeout)),
        }
    }

    /// The URL for logs: scheme, host and path, without a password or query that may
    /// carry a credential.
    pub fn url(&self) -> String {
        let url = &self.url;
        let port = url
            .port()
            .map(|port| format!(":{port}"))
            .unwrap_or_default();
        let host = url.host_str().unwrap_or_default();
        format!("{}://{host}{port}{}", url.scheme(), url.path())
    }
}

/// A transport failure, without the URL's query (reqwest's message names the URL).
fn unavailable(error: reqwest::Error) -> BackendError {
    BackendError::Unavailable(error.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(url: &str) -> Result<Backend, ConfigError> {
        let url = toml::Spanned::new(0..0, url.to_owned());
        Backend::new(&url, None, None, &Source::default())
    }

    #[test]
    fn logged_urls_keep_no_credentials_and_odd_urls_are_refused() {
        let shown = backend("http://user:pw@127.0.0.1:9000/hook?key=k")
            .unwrap()
            .url();
        assert_eq!(shown, "http://127.0.0.1:9000/hook");
        assert!(backend("ftp://127.0.0.1/").is_err());
        assert!(backend("not a url").is_err());
    }

    #[tokio::test]
    async fn a_backend_that_is_not_there_is_unavailable() {
        let closed = backend("http://127.0.0.1:9/").unwrap();
        let answer = closed
            .post::<serde_json::Value>(&serde_json::json!({}))
            .await;
        assert!(
            matches!(answer, Err(BackendError::Unavailable(_))),
            "{answer:?}"
        );
    }
}
