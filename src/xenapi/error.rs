//! The XenAPI client's one error type. XAPI failures keep their wire code and parameters
//! verbatim; transport, TLS, timeout, HTTP, decode and protocol failures are distinct variants.
//! Every message names the method and the host URL; none ever holds a password.

use std::time::Duration;

use xenpool_xapi_types::ErrorCode;
use xenpool_xmlrpc as xmlrpc;

/// Result alias for the XenAPI client.
pub type Result<T, E = XenApiError> = std::result::Result<T, E>;

/// Everything a XenAPI call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum XenApiError {
    /// The server answered `Status: Failure` (or a task ended with `error_info`).
    #[error("{method} on {host_url}: {code} {params:?}")]
    Xapi {
        /// The method called, e.g. `pool.join` or `Async.VM.pool_migrate`.
        method: String,
        /// The URL the call went to.
        host_url: String,
        /// The first string of `ErrorDescription`.
        code: ErrorCode,
        /// The rest of `ErrorDescription`, verbatim.
        params: Vec<String>,
    },
    /// The request could not be sent or the response not received (refused, reset, DNS…).
    #[error("{method} on {host_url}: transport error: {message}")]
    Transport {
        /// The method called.
        method: String,
        /// The URL the call went to.
        host_url: String,
        /// The innermost cause, for one-line display.
        message: String,
        /// The full cause chain.
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake failed: untrusted or mismatching certificate, bad signature, …
    #[error("{method} on {host_url}: TLS error: {message}")]
    Tls {
        /// The method called.
        method: String,
        /// The URL the call went to.
        host_url: String,
        /// What rustls refused, with a hint on how to trust the server.
        message: String,
    },
    /// No complete answer within the connect or call timeout (or a task's wait deadline).
    #[error("{method} on {host_url}: timed out after {}", humantime(*after))]
    Timeout {
        /// The method called.
        method: String,
        /// The URL the call went to.
        host_url: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The server answered with an HTTP status other than 200 (XAPI uses 500 for malformed XML).
    #[error("{method} on {host_url}: HTTP {status}: {body}")]
    Http {
        /// The method called.
        method: String,
        /// The URL the call went to.
        host_url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, lossily decoded.
        body: String,
    },
    /// The response body exceeded the configured document size limit.
    #[error("{method} on {host_url}: response larger than the {limit}-byte limit")]
    ResponseTooLarge {
        /// The method called.
        method: String,
        /// The URL the call went to.
        host_url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The response is not well-formed XML-RPC, or does not fit the expected type.
    #[error("{method} on {host_url}: malformed response at byte {offset}: {source}")]
    Decode {
        /// The method called.
        method: String,
        /// The URL the call went to.
        host_url: String,
        /// Byte offset in the response body where decoding failed.
        offset: usize,
        /// The codec's error.
        #[source]
        source: xmlrpc::Error,
    },
    /// Well-formed XML-RPC that is not a XenAPI envelope (no `Status`, `Success` without
    /// `Value`, an XML-RPC fault, …).
    #[error("{method} on {host_url}: protocol error: {message}")]
    Protocol {
        /// The method called.
        method: String,
        /// The URL the call went to.
        host_url: String,
        /// What was missing or unexpected.
        message: String,
    },
    /// The client was configured wrongly (bad URL, unusable CA file, …). Nothing was sent.
    #[error("XenAPI client configuration: {0}")]
    Config(String),
}

/// The two shapes of `HOST_NOT_ENOUGH_FREE_MEMORY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreeMemoryShortfall {
    /// From `VM.pool_migrate` / `VM.start`: bytes needed and available on the target.
    Bytes {
        /// Bytes the VM needs.
        needed: i64,
        /// Bytes the host has free.
        available: i64,
    },
    /// From an evacuation plan: the VM ref that does not fit anywhere.
    Vm(String),
}

fn humantime(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

impl XenApiError {
    /// The XAPI error code, for `Xapi` errors.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            XenApiError::Xapi { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The XAPI error parameters (empty for other variants).
    pub fn params(&self) -> &[String] {
        match self {
            XenApiError::Xapi { params, .. } => params,
            _ => &[],
        }
    }

    /// The method the failing call named.
    pub fn method(&self) -> Option<&str> {
        match self {
            XenApiError::Xapi { method, .. }
            | XenApiError::Transport { method, .. }
            | XenApiError::Tls { method, .. }
            | XenApiError::Timeout { method, .. }
            | XenApiError::Http { method, .. }
            | XenApiError::ResponseTooLarge { method, .. }
            | XenApiError::Decode { method, .. }
            | XenApiError::Protocol { method, .. } => Some(method),
            XenApiError::Config(_) => None,
        }
    }

    /// Whether this is the XAPI error `code`.
    pub fn is(&self, code: &ErrorCode) -> bool {
        self.code() == Some(code)
    }

    /// `HOST_IS_SLAVE [master_address]`: the bare master address to talk to instead.
    pub fn host_is_slave(&self) -> Option<&str> {
        match self {
            XenApiError::Xapi {
                code: ErrorCode::HOST_IS_SLAVE,
                params,
                ..
            } => params.first().map(String::as_str),
            _ => None,
        }
    }

    /// `SESSION_INVALID`: the session expired or the master restarted or moved.
    pub fn is_session_invalid(&self) -> bool {
        self.is(&ErrorCode::SESSION_INVALID)
    }

    /// `HANDLE_INVALID [class, ref]`: the object is gone (e.g. an ejected host).
    pub fn handle_invalid(&self) -> Option<(&str, &str)> {
        match self {
            XenApiError::Xapi {
                code: ErrorCode::HANDLE_INVALID,
                params,
                ..
            } => Some((
                params.first().map_or("", String::as_str),
                params.get(1).map_or("", String::as_str),
            )),
            _ => None,
        }
    }

    /// One of `pool.join`'s precondition failures (the joiner or the pool must change first).
    pub fn is_join_precheck(&self) -> bool {
        self.code().is_some_and(ErrorCode::is_join_precheck)
    }

    /// `OPERATION_NOT_ALLOWED [reason]`: the reason.
    pub fn operation_not_allowed(&self) -> Option<&str> {
        match self {
            XenApiError::Xapi {
                code: ErrorCode::OPERATION_NOT_ALLOWED,
                params,
                ..
            } => Some(params.first().map_or("", String::as_str)),
            _ => None,
        }
    }

    /// `HOST_NOT_ENOUGH_FREE_MEMORY` in either of its shapes.
    pub fn not_enough_free_memory(&self) -> Option<FreeMemoryShortfall> {
        match self {
            XenApiError::Xapi {
                code: ErrorCode::HOST_NOT_ENOUGH_FREE_MEMORY,
                params,
                ..
            } => match params.as_slice() {
                [needed, available] => match (needed.parse(), available.parse()) {
                    (Ok(needed), Ok(available)) => {
                        Some(FreeMemoryShortfall::Bytes { needed, available })
                    }
                    _ => Some(FreeMemoryShortfall::Vm(needed.clone())),
                },
                [vm, ..] => Some(FreeMemoryShortfall::Vm(vm.clone())),
                [] => Some(FreeMemoryShortfall::Vm(String::new())),
            },
            _ => None,
        }
    }

    /// Whether XAPI refused to move a VM to a host for a reason tied to the VM or the target
    /// (`VM_*` placement errors, `HOST_DISABLED`, `HOST_NOT_LIVE`, memory, CPUs, blocked or
    /// concurrent operations): the planner should try another target or name the VM.
    pub fn is_migration_refusal(&self) -> bool {
        let Some(code) = self.code() else {
            return false;
        };
        matches!(
            code,
            ErrorCode::VM_BAD_POWER_STATE
                | ErrorCode::VM_REQUIRES_SR
                | ErrorCode::VM_REQUIRES_NETWORK
                | ErrorCode::VM_HAS_PCI_ATTACHED
                | ErrorCode::VM_HAS_VGPU
                | ErrorCode::VM_HAS_SRIOV_VIF
                | ErrorCode::VM_LACKS_FEATURE
                | ErrorCode::VM_IS_IMMOBILE
                | ErrorCode::VM_INCOMPATIBLE_WITH_THIS_HOST
                | ErrorCode::VM_MIGRATE_FAILED
                | ErrorCode::OPERATION_BLOCKED
                | ErrorCode::HOST_DISABLED
                | ErrorCode::HOST_NOT_LIVE
                | ErrorCode::HOST_NOT_ENOUGH_FREE_MEMORY
                | ErrorCode::HOST_NOT_ENOUGH_PCPUS
                | ErrorCode::NO_HOSTS_AVAILABLE
                | ErrorCode::HOST_EVACUATE_VM_NOT_HA_PROTECTED
                | ErrorCode::OTHER_OPERATION_IN_PROGRESS
        ) || code.as_str().starts_with("VM_")
    }

    /// Whether retrying the same call later may succeed without anyone changing anything:
    /// network trouble, timeouts, 5xx from a proxy, a host still booting, another operation
    /// holding a lock, the master moving. Decode, TLS, configuration and most XAPI errors are not.
    pub fn is_transient(&self) -> bool {
        match self {
            XenApiError::Transport { .. } | XenApiError::Timeout { .. } => true,
            XenApiError::Http { status, .. } => matches!(status, 502..=504),
            XenApiError::Xapi { code, .. } => matches!(
                code,
                ErrorCode::SESSION_INVALID
                    | ErrorCode::HOST_IS_SLAVE
                    | ErrorCode::HOST_STILL_BOOTING
                    | ErrorCode::OTHER_OPERATION_IN_PROGRESS
                    | ErrorCode::DESIGNATE_NEW_MASTER_IN_PROGRESS
                    | ErrorCode::HA_ABORT_NEW_MASTER
                    | ErrorCode::CANNOT_CONTACT_HOST
                    | ErrorCode::HOST_OFFLINE
                    | ErrorCode::EVENTS_LOST
                    | ErrorCode::POOL_SECRET_ROTATION_PENDING
                    | ErrorCode::JOINING_HOST_CONNECTION_FAILED
                    | ErrorCode::JOINING_HOST_SERVICE_FAILED
            ),
            XenApiError::Tls { .. }
            | XenApiError::ResponseTooLarge { .. }
            | XenApiError::Decode { .. }
            | XenApiError::Protocol { .. }
            | XenApiError::Config(_) => false,
        }
    }

    /// Replaces any XAPI parameter equal to `secret` (a password the server echoed) by
    /// `<redacted>`, so it cannot reach a log or a terminal.
    pub(crate) fn redact(mut self, secret: &str) -> Self {
        if let XenApiError::Xapi { params, .. } = &mut self {
            for p in params.iter_mut() {
                if !secret.is_empty() && p.contains(secret) {
                    *p = p.replace(secret, "<redacted>");
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xapi(code: &str, params: &[&str]) -> XenApiError {
        XenApiError::Xapi {
            method: "VM.pool_migrate".into(),
            host_url: "https://10.0.0.1/".into(),
            code: ErrorCode::from_wire(code),
            params: params.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn display_names_method_host_code_and_params() {
        let e = xapi("HOST_NOT_ENOUGH_FREE_MEMORY", &["1024", "512"]);
        assert_eq!(
            e.to_string(),
            r#"VM.pool_migrate on https://10.0.0.1/: HOST_NOT_ENOUGH_FREE_MEMORY ["1024", "512"]"#
        );
    }

    #[test]
    fn memory_shortfall_has_two_shapes() {
        assert_eq!(
            xapi("HOST_NOT_ENOUGH_FREE_MEMORY", &["1024", "512"]).not_enough_free_memory(),
            Some(FreeMemoryShortfall::Bytes {
                needed: 1024,
                available: 512
            })
        );
        assert_eq!(
            xapi("HOST_NOT_ENOUGH_FREE_MEMORY", &["OpaqueRef:vm"]).not_enough_free_memory(),
            Some(FreeMemoryShortfall::Vm("OpaqueRef:vm".into()))
        );
    }

    #[test]
    fn classification_helpers() {
        assert_eq!(
            xapi("HOST_IS_SLAVE", &["10.0.0.2"]).host_is_slave(),
            Some("10.0.0.2")
        );
        assert!(xapi("SESSION_INVALID", &["OpaqueRef:s"]).is_session_invalid());
        assert_eq!(
            xapi("HANDLE_INVALID", &["host", "OpaqueRef:h"]).handle_invalid(),
            Some(("host", "OpaqueRef:h"))
        );
        assert!(xapi("JOINING_HOST_CANNOT_HAVE_RUNNING_VMS", &[]).is_join_precheck());
        assert_eq!(
            xapi("OPERATION_NOT_ALLOWED", &["VM resident on host"]).operation_not_allowed(),
            Some("VM resident on host")
        );
        assert!(xapi("VM_REQUIRES_SR", &["vm", "sr"]).is_migration_refusal());
        assert!(xapi("VM_SOME_FUTURE_ERROR", &[]).is_migration_refusal());
        assert!(!xapi("HA_IS_ENABLED", &[]).is_migration_refusal());
        assert!(xapi("HOST_STILL_BOOTING", &[]).is_transient());
        assert!(!xapi("HOSTS_NOT_HOMOGENEOUS", &["CPUs differ"]).is_transient());
    }

    #[test]
    fn echoed_secrets_are_redacted() {
        let e = xapi(
            "SESSION_AUTHENTICATION_FAILED",
            &["root", "bad password hunter2"],
        )
        .redact("hunter2");
        assert!(!format!("{e} {e:?}").contains("hunter2"));
        assert_eq!(e.params()[1], "bad password <redacted>");
    }
}
