//! The agent's client of the control plane's native API: register, heartbeat, the long-poll
//! change feed, desired state, reports, leases, operation updates and step events. Wire types
//! are the server's own (`api::native::types`), so the two sides cannot drift apart.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::api::native::types::{
    AgentRegister, Desired, ErrorBody, Host, Lease, LeaseRequest, NewEvent, Operation,
    OperationUpdate, Report, Watch,
};
use crate::xenapi::Password;

/// A control-plane failure, naming the route.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The server could not be reached or the connection broke.
    #[error("control plane {route}: {message}")]
    Unreachable {
        /// Method and path.
        route: String,
        /// The cause.
        message: String,
    },
    /// The server answered with an error.
    #[error("control plane {route}: HTTP {status} {code}: {message}")]
    Refused {
        /// Method and path.
        route: String,
        /// HTTP status.
        status: u16,
        /// The error code from the body.
        code: String,
        /// The message from the body.
        message: String,
    },
    /// The body did not parse.
    #[error("control plane {route}: unexpected answer: {message}")]
    Decode {
        /// Method and path.
        route: String,
        /// The parse error.
        message: String,
    },
}

impl ControlError {
    /// Whether retrying later may succeed (unreachable, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            ControlError::Unreachable { .. } => true,
            ControlError::Refused { status, .. } => *status >= 500 || *status == 429,
            ControlError::Decode { .. } => false,
        }
    }

    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ControlError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Outcome of asking for a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// Granted (or renewed) to us.
    Granted,
    /// Someone else holds it.
    HeldBy(String),
}

/// A client bound to one host's agent token.
#[derive(Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    base: url::Url,
    token: Password,
    host: String,
}

impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient")
            .field("base", &self.base.as_str())
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl ControlClient {
    /// A client for `host`'s agent at `base` (e.g. `http://127.0.0.1:8774`).
    pub fn new(
        base: url::Url,
        token: Password,
        host: impl Into<String>,
    ) -> Result<ControlClient, ControlError> {
        // reqwest is built without a default crypto provider; ring is the one xenpool ships.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ControlError::Unreachable {
                route: "client".into(),
                message: e.to_string(),
            })?;
        Ok(ControlClient {
            http,
            base,
            token,
            host: host.into(),
        })
    }

    /// This agent's host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
        timeout: Duration,
    ) -> Result<Option<T>, ControlError> {
        let route = format!("{method} {path}");
        let url = self.base.join(path).map_err(|e| ControlError::Decode {
            route: route.clone(),
            message: e.to_string(),
        })?;
        let mut req = self
            .http
            .request(method, url)
            .header("X-Auth-Token", self.token.expose())
            .timeout(timeout);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| ControlError::Unreachable {
            route: route.clone(),
            message: root_cause(&e),
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ControlError::Unreachable {
            route: route.clone(),
            message: root_cause(&e),
        })?;
        if !status.is_success() {
            let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => (body.error.code, body.error.message),
                Err(_) => (
                    String::new(),
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
                ),
            };
            return Err(ControlError::Refused {
                route,
                status: status.as_u16(),
                code,
                message,
            });
        }
        if status == StatusCode::NO_CONTENT || bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ControlError::Decode {
                route,
                message: e.to_string(),
            })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ControlError> {
        let route = format!("{method} {path}");
        self.request(method, path, body, Duration::from_secs(30))
            .await?
            .ok_or(ControlError::Decode {
                route,
                message: "empty body".into(),
            })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<(), ControlError> {
        self.request::<Value>(method, path, body, Duration::from_secs(30))
            .await
            .map(drop)
    }

    /// Registers this host (creating it if needed); counts as a heartbeat.
    pub async fn register(
        &self,
        xapi_url: &str,
        xapi_uuid: Option<&str>,
    ) -> Result<Host, ControlError> {
        let body = AgentRegister {
            xapi_url: xapi_url.into(),
            xapi_uuid: xapi_uuid.map(Into::into),
            agent_version: env!("CARGO_PKG_VERSION").into(),
            resources: None,
        };
        self.call(
            Method::POST,
            &format!("v1/agents/{}/register", self.host),
            Some(&body),
        )
        .await
    }

    /// Tells the control plane this agent is alive.
    pub async fn heartbeat(&self) -> Result<(), ControlError> {
        self.send(
            Method::POST,
            &format!("v1/agents/{}/heartbeat", self.host),
            None::<&()>,
        )
        .await
    }

    /// Waits until a change after revision `since` that can alter this host's desired state
    /// (the host, its aggregates and their members), or until `wait` passes; returns the
    /// current revision.
    pub async fn watch(&self, since: i64, wait: Duration) -> Result<Watch, ControlError> {
        let host: String = url::form_urlencoded::byte_serialize(self.host.as_bytes()).collect();
        let path = format!(
            "v1/watch?since={since}&timeout={}&host={host}",
            wait.as_secs()
        );
        let route = format!("GET {path}");
        self.request(
            Method::GET,
            &path,
            None::<&()>,
            wait + Duration::from_secs(15),
        )
        .await?
        .ok_or(ControlError::Decode {
            route,
            message: "empty body".into(),
        })
    }

    /// Everything this host's reconcile pass needs, in one read.
    pub async fn desired(&self) -> Result<Desired, ControlError> {
        self.call(
            Method::GET,
            &format!("v1/agents/{}/desired", self.host),
            None::<&()>,
        )
        .await
    }

    /// Reports this host's view of a pool.
    pub async fn report(&self, report: &Report) -> Result<(), ControlError> {
        self.send(
            Method::POST,
            &format!("v1/agents/{}/report", self.host),
            Some(report),
        )
        .await
    }

    /// Asks for (or renews) lease `name` for `ttl`.
    pub async fn acquire_lease(
        &self,
        name: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, ControlError> {
        let body = LeaseRequest {
            holder: self.host.clone(),
            ttl_seconds: ttl.as_secs().clamp(1, 3600) as i64,
        };
        match self
            .call::<Lease>(Method::POST, &format!("v1/leases/{name}"), Some(&body))
            .await
        {
            Ok(_) => Ok(LeaseOutcome::Granted),
            Err(ControlError::Refused {
                status: 409,
                message,
                ..
            }) => Ok(LeaseOutcome::HeldBy(message)),
            Err(e) => Err(e),
        }
    }

    /// Releases lease `name` (a lease already gone is fine).
    pub async fn release_lease(&self, name: &str) -> Result<(), ControlError> {
        match self
            .send(
                Method::DELETE,
                &format!("v1/leases/{name}?holder={}", self.host),
                None::<&()>,
            )
            .await
        {
            Err(ControlError::Refused { status: 404, .. }) => Ok(()),
            other => other,
        }
    }

    /// Updates one of this host's operations.
    pub async fn update_operation(
        &self,
        id: i64,
        update: &OperationUpdate,
    ) -> Result<Operation, ControlError> {
        self.call(Method::PATCH, &format!("v1/operations/{id}"), Some(update))
            .await
    }

    /// Appends a step event (log only; does not wake watchers).
    pub async fn event(
        &self,
        kind: &str,
        aggregate: Option<&str>,
        message: &str,
        details: Value,
    ) -> Result<(), ControlError> {
        let body = NewEvent {
            kind: kind.into(),
            aggregate: aggregate.map(Into::into),
            host: None,
            message: message.into(),
            details: Some(details),
        };
        self.send(Method::POST, "v1/events", Some(&body)).await
    }
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    if e.is_timeout() {
        format!("timed out ({source})")
    } else {
        source.to_string()
    }
}
