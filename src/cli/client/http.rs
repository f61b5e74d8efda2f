//! A thin HTTP client for the native `/v1` API: builds URLs from path segments (each one
//! percent-encoded, so names with spaces or slashes stay one segment), sends the bearer token,
//! and turns every non-2xx answer into a [`ClientError`] carrying the server's own message.

use std::error::Error as _;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tracing::debug;

use super::config::Endpoint;
use super::error::ClientError;

/// How long one request may take before the server counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An authenticated connection to one xenpool API.
pub struct Api {
    http: reqwest::Client,
    endpoint: Endpoint,
}

impl Api {
    /// Builds a client for `endpoint` (TLS verified against the platform's roots).
    pub fn new(endpoint: Endpoint) -> Result<Self, ClientError> {
        // reqwest is built without a bundled crypto provider; ring is the workspace's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("xenpool-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Usage(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self { http, endpoint })
    }

    /// The URL for `segments` below the base URL, e.g. `["v1", "aggregates", "agg 1"]`.
    pub fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.endpoint.url.clone();
        {
            let mut path = url
                .path_segments_mut()
                .expect("checked at resolve: the base URL is http(s)");
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// `GET` with query parameters; returns the decoded JSON body.
    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, ClientError> {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        self.send(Method::GET, url, None)
            .await?
            .ok_or_else(|| ClientError::BadResponse {
                url: self.url(segments).to_string(),
                reason: "empty body where JSON was expected".into(),
            })
    }

    /// Sends `method` with an optional JSON body; `Ok(None)` for an empty (e.g. 204) answer.
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Value>,
    ) -> Result<Option<Value>, ClientError> {
        self.send(method, self.url(segments), body).await
    }

    async fn send(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<Value>,
    ) -> Result<Option<Value>, ClientError> {
        debug!(%method, %url, "request");
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(self.endpoint.token.expose());
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: url.to_string(),
            reason: error_chain(&e),
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.to_string(),
                reason: error_chain(&e),
            })?;
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(None);
            }
            return serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                ClientError::BadResponse {
                    url: url.to_string(),
                    reason: format!("body is not JSON: {e}"),
                }
            });
        }
        let message = error_message(status, &bytes);
        if status.is_server_error() {
            Err(ClientError::Server {
                status: status.as_u16(),
                message,
            })
        } else {
            Err(ClientError::Refused {
                status: status.as_u16(),
                message,
            })
        }
    }
}

/// The server's message from `{"error": {"message"}}` (native) or `{"<fault>": {"message"}}`
/// (Nova), else the body text, else the status line.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        let inner = map.get("error").or_else(|| map.values().next());
        if let Some(message) = inner.and_then(|v| v.get("message")).and_then(Value::as_str) {
            return message.to_string();
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if text.is_empty() {
        format!("HTTP {status}")
    } else {
        text
    }
}

/// `e` and its sources joined with `: ` (reqwest's own Display omits the cause).
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
