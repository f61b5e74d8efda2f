//! The client verbs' error type and its exit codes: 1 the API refused (the server's message
//! as given), 2 usage, 3 the server could not be reached or failed (5xx, bad response, timeout).

use std::process::ExitCode;

/// Why a client verb did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad invocation or configuration, detected before or instead of asking the server.
    #[error("{0}")]
    Usage(String),
    /// The API answered with a 4xx; `message` is the server's text, unchanged.
    #[error("{message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// An operation the server accepted ended without success (failed or superseded);
    /// `output` is what to print on stdout before the message.
    #[error("{message}")]
    OperationFailed {
        /// The rendered outcome (per-VM results).
        output: String,
        /// Why it did not succeed.
        message: String,
    },
    /// The API answered with a 5xx.
    #[error("server error (HTTP {status}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's message (or body).
        message: String,
    },
    /// The request never got an HTTP answer.
    #[error("cannot reach the xenpool API at {url}: {reason} (check --url / XENPOOL_URL and that `xenpool serve` is running)")]
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// Transport error, flattened with its causes.
        reason: String,
    },
    /// The server's answer was not what the API documents.
    #[error("unexpected response from {url}: {reason}")]
    BadResponse {
        /// The URL that was requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// Waiting for an operation ran out of time.
    #[error("{0}")]
    TimedOut(String),
    /// Writing the output failed (other than a closed pipe).
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

impl ClientError {
    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            ClientError::Refused { .. } | ClientError::OperationFailed { .. } => 1,
            ClientError::Usage(_) => 2,
            ClientError::Server { .. }
            | ClientError::Unreachable { .. }
            | ClientError::BadResponse { .. }
            | ClientError::TimedOut(_)
            | ClientError::Output(_) => 3,
        })
    }
}
