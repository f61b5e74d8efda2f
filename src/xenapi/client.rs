//! One XML-RPC call over HTTP(S): encode, POST, read the body under a size limit, decode the
//! XenAPI `{Status, Value | ErrorDescription}` envelope. No sessions here (see `session`).

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use tracing::debug;
use url::Url;
use xenpool_xapi_types::{ErrorCode, Ref};
use xenpool_xmlrpc::{self as xmlrpc, Limits, Response, Value};

use super::address::check_url;
use super::error::{Result, XenApiError};
use super::tls::{client_config, Fingerprint, TlsTrust};

/// How much of a non-200 body is kept in the error.
const HTTP_BODY_SNIPPET: usize = 512;

/// Request header asking a pool member that answers `HOST_IS_SLAVE` for the master's
/// certificate thumbprint (xen-api `api_server.ml` `create_thumbprint_header`).
const THUMBPRINT_REQUEST_HEADER: &str = "x-xenapi-request-host-certificate-thumbprint";
/// The value asking for the SHA-256 thumbprint.
const THUMBPRINT_REQUEST_SHA256: &str = "sha-256:master";
/// Response header carrying the master's certificate thumbprint.
const THUMBPRINT_RESPONSE_HEADER: &str = "x-xenapi-response-host-certificate-thumbprint";

/// A 2xx answer's body and, when asked for and sent, the master's certificate thumbprint.
struct Reply {
    body: Vec<u8>,
    master_thumbprint: Option<String>,
}

/// Connection settings shared by every call a [`Client`] makes.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How the server certificate is trusted (`https://` URLs only).
    pub trust: TlsTrust,
    /// Limit on establishing the TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Limit on one whole call (request sent, response read). `event.from` waits add their
    /// own timeout on top.
    pub call_timeout: Duration,
    /// Decoder limits; `max_document_bytes` also caps the HTTP body read.
    pub limits: Limits,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            trust: TlsTrust::default(),
            connect_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(120),
            limits: Limits::default(),
        }
    }
}

/// An HTTP(S) XML-RPC client for XenAPI endpoints; cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    http: reqwest::Client,
    options: ClientOptions,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// The method and URL of the call in progress, for error messages.
#[derive(Clone, Copy)]
pub(crate) struct CallSite<'a> {
    pub method: &'a str,
    pub url: &'a Url,
}

impl CallSite<'_> {
    fn host_url(&self) -> String {
        self.url.as_str().to_owned()
    }

    pub(crate) fn protocol(&self, message: impl Into<String>) -> XenApiError {
        XenApiError::Protocol {
            method: self.method.to_owned(),
            host_url: self.host_url(),
            message: message.into(),
        }
    }

    pub(crate) fn decode(&self, source: xmlrpc::Error) -> XenApiError {
        XenApiError::Decode {
            method: self.method.to_owned(),
            host_url: self.host_url(),
            offset: source.offset(),
            source,
        }
    }

    pub(crate) fn timeout(&self, after: Duration) -> XenApiError {
        XenApiError::Timeout {
            method: self.method.to_owned(),
            host_url: self.host_url(),
            after,
        }
    }

    /// A XAPI failure from an `ErrorDescription` (or a task's `error_info`).
    pub(crate) fn failure(&self, description: Vec<String>) -> XenApiError {
        let mut description = description.into_iter();
        match description.next() {
            Some(code) => XenApiError::Xapi {
                method: self.method.to_owned(),
                host_url: self.host_url(),
                code: ErrorCode::from_wire(&code),
                params: description.collect(),
            },
            None => self.protocol("Failure with an empty ErrorDescription"),
        }
    }
}

/// The XenAPI envelope, decoded straight into the expected result type.
#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(rename = "Status")]
    status: Option<String>,
    #[serde(rename = "Value")]
    value: Option<T>,
    #[serde(rename = "ErrorDescription")]
    error_description: Option<Vec<Value>>,
}

impl Client {
    /// Builds a client; fails if the TLS trust cannot be set up (e.g. unreadable CA file).
    pub fn new(options: ClientOptions) -> Result<Client> {
        let tls = client_config(&options.trust).map_err(|e| XenApiError::Config(e.to_string()))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("xenpool/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| XenApiError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(ClientInner { http, options }),
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// A client with the same options but another TLS trust.
    pub fn with_trust(&self, trust: TlsTrust) -> Result<Client> {
        Client::new(ClientOptions {
            trust,
            ..self.inner.options.clone()
        })
    }

    /// Calls `method` with exactly `params` (no session added) and returns the envelope's
    /// `Value` as a dynamic value.
    pub async fn call(&self, url: &Url, method: &str, params: &[Value]) -> Result<Value> {
        let site = CallSite { method, url };
        let started = std::time::Instant::now();
        let result = match self
            .post(site, params, self.inner.options.call_timeout, false)
            .await
        {
            Ok(reply) => decode_envelope(site, &reply.body, &self.inner.options.limits),
            Err(e) => Err(e),
        };
        record_call(method, started, &result);
        result
    }

    /// Calls `method` with exactly `params` and decodes `Value` straight into `T`.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        url: &Url,
        method: &str,
        params: &[Value],
    ) -> Result<T> {
        self.call_as_within(url, method, params, self.inner.options.call_timeout)
            .await
    }

    /// [`Client::call_as`] with an explicit whole-call timeout.
    pub(crate) async fn call_as_within<T: DeserializeOwned>(
        &self,
        url: &Url,
        method: &str,
        params: &[Value],
        timeout: Duration,
    ) -> Result<T> {
        let site = CallSite { method, url };
        let started = std::time::Instant::now();
        let result = match self.post(site, params, timeout, false).await {
            Ok(reply) => decode_envelope_as(site, &reply.body, &self.inner.options.limits),
            Err(e) => Err(e),
        };
        record_call(method, started, &result);
        result
    }

    /// A login call. With a pinned certificate it also asks for the master's certificate
    /// thumbprint, which a member answering `HOST_IS_SLAVE` sends in a response header; that
    /// thumbprint (if any, and parsable) comes back beside the result.
    pub(crate) async fn login_call(
        &self,
        url: &Url,
        method: &str,
        params: &[Value],
    ) -> (Result<Ref>, Option<Fingerprint>) {
        let site = CallSite { method, url };
        let ask = matches!(self.inner.options.trust, TlsTrust::Pinned(_));
        match self
            .post(site, params, self.inner.options.call_timeout, ask)
            .await
        {
            Ok(reply) => {
                let thumbprint = reply
                    .master_thumbprint
                    .and_then(|t| t.parse::<Fingerprint>().ok());
                let result = decode_envelope_as(site, &reply.body, &self.inner.options.limits);
                (result, thumbprint)
            }
            Err(e) => (Err(e), None),
        }
    }

    /// POSTs the encoded call and returns the body of a 2xx answer, read under the size limit;
    /// with `ask_thumbprint`, also the master-thumbprint response header.
    async fn post(
        &self,
        site: CallSite<'_>,
        params: &[Value],
        timeout: Duration,
        ask_thumbprint: bool,
    ) -> Result<Reply> {
        check_url(site.url)?;
        let limit = self.inner.options.limits.max_document_bytes;
        debug!(method = site.method, host = %site.url, "XenAPI call");
        let mut request = self
            .inner
            .http
            .post(site.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .timeout(timeout)
            .body(xmlrpc::encode_call(site.method, params));
        if ask_thumbprint {
            request = request.header(THUMBPRINT_REQUEST_HEADER, THUMBPRINT_REQUEST_SHA256);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| self.send_error(site, timeout, e))?;
        let status = response.status();
        let master_thumbprint = response
            .headers()
            .get(THUMBPRINT_RESPONSE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large(site, limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.send_error(site, timeout, e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large(site, limit));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let end = body.len().min(HTTP_BODY_SNIPPET);
            return Err(XenApiError::Http {
                method: site.method.to_owned(),
                host_url: site.host_url(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body[..end]).trim().to_owned(),
            });
        }
        Ok(Reply {
            body,
            master_thumbprint,
        })
    }

    /// Sorts a reqwest failure into TLS, timeout or transport.
    fn send_error(&self, site: CallSite<'_>, timeout: Duration, e: reqwest::Error) -> XenApiError {
        if let Some(tls) = find_rustls_error(&e) {
            return XenApiError::Tls {
                method: site.method.to_owned(),
                host_url: site.host_url(),
                message: describe_tls_error(tls),
            };
        }
        if e.is_timeout() {
            let after = if e.is_connect() {
                self.inner.options.connect_timeout
            } else {
                timeout
            };
            return site.timeout(after);
        }
        XenApiError::Transport {
            method: site.method.to_owned(),
            host_url: site.host_url(),
            message: root_cause(&e),
            source: e,
        }
    }
}

fn too_large(site: CallSite<'_>, limit: usize) -> XenApiError {
    XenApiError::ResponseTooLarge {
        method: site.method.to_owned(),
        host_url: site.host_url(),
        limit,
    }
}

/// The rustls error somewhere in the cause chain. tokio-rustls wraps it in `io::Error`s,
/// whose `source()` skips the wrapped error itself, so those are opened with `get_ref`.
fn find_rustls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = cause {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        cause = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

fn describe_tls_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            other.to_string()
        }
        rustls::Error::InvalidCertificate(_) => format!(
            "{e}; trust the server with a CA file or pin its SHA-256 certificate fingerprint"
        ),
        other => other.to_string(),
    }
}

/// The innermost cause's message ("Connection refused (os error 111)").
fn root_cause(e: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// An `ErrorDescription` item as text (XAPI sends strings; anything else is shown as it came).
fn param_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::I8(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Double(d) => d.to_string(),
        Value::DateTime(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// Decodes the envelope into a dynamic value.
pub(crate) fn decode_envelope(site: CallSite<'_>, body: &[u8], limits: &Limits) -> Result<Value> {
    let value = match xmlrpc::decode_response(body, limits).map_err(|e| site.decode(e))? {
        Response::Success(value) => value,
        Response::Fault(fault) => return Err(fault_error(site, &fault)),
    };
    let Value::Struct(mut envelope) = value else {
        return Err(site.protocol(format!(
            "expected a struct with Status, got {}",
            value.type_name()
        )));
    };
    let status = envelope.remove("Status");
    let status = status.as_ref().and_then(Value::as_str);
    let value = envelope.remove("Value");
    let errors = match envelope.remove("ErrorDescription") {
        Some(Value::Array(items)) => Some(items),
        Some(other) => {
            return Err(site.protocol(format!(
                "ErrorDescription is {}, not an array",
                other.type_name()
            )))
        }
        None => None,
    };
    finish(site, status, value, errors)
}

/// Decodes the envelope with `Value` deserialized straight into `T`.
pub(crate) fn decode_envelope_as<T: DeserializeOwned>(
    site: CallSite<'_>,
    body: &[u8],
    limits: &Limits,
) -> Result<T> {
    let envelope = xmlrpc::decode_response_as::<Envelope<T>>(body, limits)
        .map_err(|e| site.decode(e))?
        .map_err(|fault| fault_error(site, &fault))?;
    finish(
        site,
        envelope.status.as_deref(),
        envelope.value,
        envelope.error_description,
    )
}

fn fault_error(site: CallSite<'_>, fault: &xmlrpc::Fault) -> XenApiError {
    site.protocol(format!(
        "XML-RPC fault {}: {} (not a XenAPI envelope)",
        fault.code, fault.string
    ))
}

fn finish<T>(
    site: CallSite<'_>,
    status: Option<&str>,
    value: Option<T>,
    errors: Option<Vec<Value>>,
) -> Result<T> {
    match status {
        Some("Success") => value.ok_or_else(|| site.protocol("Status Success without a Value")),
        Some("Failure") => match errors {
            Some(items) => Err(site.failure(items.iter().map(param_text).collect())),
            None => Err(site.protocol("Status Failure without an ErrorDescription")),
        },
        Some(other) => {
            Err(site.protocol(format!("Status is {other:?}, expected Success or Failure")))
        }
        None => Err(site.protocol("response struct has no Status member")),
    }
}

/// Records one call's latency by method and outcome (`ok`, the XAPI error code, or the kind of
/// failure), and counts XAPI errors by code.
fn record_call<T>(method: &str, started: std::time::Instant, result: &Result<T>) {
    let outcome = match result {
        Ok(_) => "ok".to_owned(),
        Err(XenApiError::Xapi { code, .. }) => {
            metrics::counter!("xenpool_xapi_errors_total", "code" => code.to_string()).increment(1);
            code.to_string()
        }
        Err(XenApiError::Timeout { .. }) => "timeout".to_owned(),
        Err(XenApiError::Tls { .. }) => "tls".to_owned(),
        Err(_) => "transport".to_owned(),
    };
    metrics::histogram!("xenpool_xapi_call_duration_seconds", "method" => method.to_owned(), "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
}
