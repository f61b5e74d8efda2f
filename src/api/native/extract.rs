//! Extractors whose rejections are native errors: the caller's identity, JSON bodies and
//! query strings.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::NativeError;
use crate::api::identity::identify;
use crate::api::AppState;
use crate::auth::{Identity, Role};

/// What a route requires of its caller.
#[derive(Clone, Copy, Debug)]
pub enum Need<'a> {
    /// admin.
    Admin,
    /// admin, reader or agent.
    Read,
    /// anyone with a token.
    Anyone,
    /// admin or any agent.
    AgentOrAdmin,
    /// admin, or the agent bound to this host.
    Host(&'a str),
}

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller(pub Identity);

impl Caller {
    /// Refuses with 403 unless the caller meets `need`.
    pub fn allow(&self, need: Need<'_>) -> Result<(), NativeError> {
        let id = &self.0;
        let ok = match need {
            Need::Admin => id.role == Role::Admin,
            Need::Read => matches!(id.role, Role::Admin | Role::Reader | Role::Agent),
            Need::Anyone => true,
            Need::AgentOrAdmin => matches!(id.role, Role::Admin | Role::Agent),
            Need::Host(h) => {
                id.role == Role::Admin || (id.role == Role::Agent && id.host.as_deref() == Some(h))
            }
        };
        if ok {
            return Ok(());
        }
        let required = match need {
            Need::Admin => "admin",
            Need::Read => "admin, reader or agent",
            Need::Anyone => "any",
            Need::AgentOrAdmin => "admin or agent",
            Need::Host(_) => "admin or this host's agent",
        };
        let mut details = json!({"role": id.role.as_str(), "required": required});
        if let Some(b) = &id.host {
            details["bound_host"] = json!(b);
        }
        let message = match (need, &id.host) {
            (Need::Host(h), Some(b)) => {
                format!(
                    "token '{}' is bound to host '{b}' and may not act as host '{h}'",
                    id.name
                )
            }
            _ => format!(
                "token '{}' has role {}; this call needs {required}",
                id.name, id.role
            ),
        };
        Err(NativeError::forbidden(message, details))
    }

    /// The actor name for events.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The host an agent token is bound to.
    pub fn bound_host(&self) -> Option<&str> {
        self.0.host.as_deref()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Caller, NativeError> {
        identify(&s.tokens, &parts.headers).map(Caller).ok_or_else(|| {
            NativeError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid token is required: send X-Auth-Token or Authorization: Bearer (create one with `xenpool token add`)",
            )
        })
    }
}

/// A JSON body (`deny_unknown_fields` types), rejected as `invalid_body` or
/// `unsupported_media_type`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = NativeError;

    async fn from_request(req: Request, _: &S) -> Result<Body<T>, NativeError> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            if !ct
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
            {
                return Err(NativeError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "request bodies are JSON: send Content-Type: application/json, not {ct:?}"
                    ),
                ));
            }
        }
        let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
            .await
            .map_err(|e| NativeError::invalid_body("", format!("cannot read the body: {e}")))?;
        let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map(Body).map_err(|e| {
            let msg = e.to_string();
            let field = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.contains("field"))
                .unwrap_or("")
                .to_string();
            NativeError::invalid_body(&field, format!("request body: {msg}"))
        })
    }
}

/// A query string, rejected as `invalid_query`.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Params<T>, NativeError> {
        Query::<T>::from_request_parts(parts, s)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| NativeError::invalid_query("", e.body_text()))
    }
}
