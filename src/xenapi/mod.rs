//! XenAPI client: XML-RPC over HTTP(S) to XAPI, with sessions, typed errors, typed records and
//! the calls xenpool's agent and `xenpool xapi call` need.
//!
//! - [`Client`]: one transport (TLS trust, timeouts, decoder limits), URL-agnostic.
//! - [`Session`]: login (following `HOST_IS_SLAVE` once), calls with the session prepended,
//!   one re-login + retry on `SESSION_INVALID`, `Async.*` tasks and [`Session::wait_task`].
//! - [`XenApiError`]: XAPI failures keep code and parameters verbatim; never holds a password.
//!
//! The control plane must not link this module (credentials live only in agents).
//!
//! ```no_run
//! # async fn demo() -> Result<(), xenpool::xenapi::XenApiError> {
//! use xenpool::xenapi::{parse_url, Client, ClientOptions, Credentials, Session};
//! let client = Client::new(ClientOptions::default())?;
//! let url = parse_url("https://10.0.0.1/")?;
//! let session = Session::login_with_password(client, url, Credentials::new("root", "pw")).await?;
//! let hosts = session.host_get_all_records().await?;
//! session.logout().await?;
//! # Ok(()) }
//! ```

mod address;
mod calls;
mod client;
mod credentials;
mod error;
mod records;
mod session;
mod task;
mod tls;

pub use address::{check_url, parse_url, swap_host};
pub use client::{Client, ClientOptions};
pub use credentials::{Credentials, Password};
pub use error::{FreeMemoryShortfall, Result, XenApiError};
pub use records::{
    EventBatch, EventRecord, HostMetricsRecord, HostRecord, PoolRecord, StringMap, TaskRecord,
    VmRecord,
};
pub use session::{LoginKind, Session, LOGIN_VERSION, ORIGINATOR};
pub use task::{Task, WaitOptions};
pub use tls::{Fingerprint, FingerprintError, TlsTrust};
pub use xenpool_xapi_types::{ErrorCode, EventOperation, PowerState, Ref, TaskStatus};
pub use xenpool_xmlrpc::{Limits, Value};
