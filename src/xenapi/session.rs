//! A logged-in XenAPI session: login (following `HOST_IS_SLAVE` to the master once), calls with
//! the session as parameter 0, one re-login and retry when the session has died, logout.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tracing::{info, instrument, warn};
use url::Url;
use xenpool_xapi_types::Ref;
use xenpool_xmlrpc::Value;

use super::address::{check_url, swap_host};
use super::client::Client;
use super::credentials::Credentials;
use super::error::Result;
use super::tls::{Fingerprint, TlsTrust};

/// The API version string sent at login (XAPI ignores it; `1.0` is what the SDK examples send).
pub const LOGIN_VERSION: &str = "1.0";

/// The originator sent at login; XAPI groups (and garbage-collects) sessions by it.
pub const ORIGINATOR: &str = "xenpool";

/// Which login call a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// `session.login_with_password`: a pool-wide session on the master (normal use).
    Pool,
    /// `session.slave_local_login_with_password`: valid only on the host called, works in
    /// emergency mode (needed for `pool.emergency_transition_to_master`). Never redirected.
    SlaveLocal,
}

impl LoginKind {
    fn login_method(self) -> &'static str {
        match self {
            LoginKind::Pool => "session.login_with_password",
            LoginKind::SlaveLocal => "session.slave_local_login_with_password",
        }
    }

    fn logout_method(self) -> &'static str {
        match self {
            LoginKind::Pool => "session.logout",
            LoginKind::SlaveLocal => "session.local_logout",
        }
    }
}

/// A logged-in session; cheap to clone, safe to share between tasks. Calls that find the
/// session dead (`SESSION_INVALID`, or `HOST_IS_SLAVE` after the master moved) log in again
/// once and retry once.
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionInner>,
}

struct SessionInner {
    /// The client and URL the session was created with (the agent's own host, typically).
    origin: (Client, Url),
    credentials: Credentials,
    kind: LoginKind,
    state: RwLock<SessionState>,
    relogin: Mutex<()>,
}

#[derive(Clone)]
struct SessionState {
    /// The client for `url` (after a redirect with a pinned certificate, pinned to the master's).
    client: Client,
    url: Url,
    reference: Ref,
}

impl std::fmt::Debug for Session {
    /// Shows the URL and user, never the password or the session reference (a bearer token).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("url", &self.url().as_str())
            .field("username", &self.inner.credentials.username)
            .field("kind", &self.inner.kind)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Logs in with `session.login_with_password(user, password, "1.0", "xenpool")`. A pool
    /// member answering `HOST_IS_SLAVE [master]` is followed to the master once.
    pub async fn login_with_password(
        client: Client,
        url: Url,
        credentials: Credentials,
    ) -> Result<Session> {
        Session::login(client, url, credentials, LoginKind::Pool).await
    }

    /// Logs in with `session.slave_local_login_with_password(user, password)`: a session on
    /// exactly this host, usable in emergency mode.
    pub async fn slave_local_login_with_password(
        client: Client,
        url: Url,
        credentials: Credentials,
    ) -> Result<Session> {
        Session::login(client, url, credentials, LoginKind::SlaveLocal).await
    }

    async fn login(
        client: Client,
        url: Url,
        credentials: Credentials,
        kind: LoginKind,
    ) -> Result<Session> {
        check_url(&url)?;
        let state = login_at(&client, &url, &credentials, kind).await?;
        Ok(Session {
            inner: Arc::new(SessionInner {
                origin: (client, url),
                credentials,
                kind,
                state: RwLock::new(state),
                relogin: Mutex::new(()),
            }),
        })
    }

    /// The URL calls go to: the login URL, or the master's after a `HOST_IS_SLAVE` redirect.
    pub fn url(&self) -> Url {
        self.state().url
    }

    /// The client this session calls through (for the current URL).
    pub fn client(&self) -> Client {
        self.state().client
    }

    /// The session reference (a bearer token: never log it).
    pub fn reference(&self) -> Ref {
        self.state().reference
    }

    fn state(&self) -> SessionState {
        self.inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Logs out (`session.logout`, or `session.local_logout` for a slave-local session).
    pub async fn logout(self) -> Result<()> {
        let state = self.state();
        let method = self.inner.kind.logout_method();
        let params = [Value::from(state.reference.as_str())];
        let _: Value = state.client.call_as(&state.url, method, &params).await?;
        Ok(())
    }

    /// Calls `method` with the session prepended to `params`; returns the result dynamically.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value> {
        self.call_as(method, params).await
    }

    /// Calls `method` with the session prepended and decodes the result straight into `T`.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<T> {
        let timeout = self.state().client.options().call_timeout;
        self.call_within(method, params, timeout).await
    }

    /// Calls a method that returns void (`""` on the wire).
    pub async fn call_void(&self, method: &str, params: Vec<Value>) -> Result<()> {
        let _: Value = self.call_as(method, params).await?;
        Ok(())
    }

    /// [`Session::call_as`] with an explicit whole-call timeout (for long polls).
    #[instrument(skip_all, fields(method = method, host = %self.url()))]
    pub(crate) async fn call_within<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<Value>,
        timeout: Duration,
    ) -> Result<T> {
        let state = self.state();
        let mut full = Vec::with_capacity(params.len() + 1);
        full.push(Value::from(state.reference.as_str()));
        full.extend(params);
        match state
            .client
            .call_as_within(&state.url, method, &full, timeout)
            .await
        {
            Err(e) if e.is_session_invalid() || e.host_is_slave().is_some() => {
                warn!(
                    method,
                    host = %state.url,
                    code = %e.code().map(|c| c.as_str()).unwrap_or_default(),
                    "XenAPI session no longer valid: logging in again and retrying once"
                );
                let fresh = self.relogin(&state.reference).await?;
                full[0] = Value::from(fresh.reference.as_str());
                fresh
                    .client
                    .call_as_within(&fresh.url, method, &full, timeout)
                    .await
            }
            other => other,
        }
    }

    /// Logs in again from the URL the session was created with (following `HOST_IS_SLAVE`) and
    /// replaces the session: for an error policy after transport errors or timeouts, when the
    /// master the session followed may have moved or died. The old session is not logged out.
    pub async fn reconnect(&self) -> Result<()> {
        let _guard = self.inner.relogin.lock().await;
        let (client, url) = &self.inner.origin;
        let fresh = login_at(client, url, &self.inner.credentials, self.inner.kind).await?;
        info!(host = %fresh.url, "XenAPI session re-established from the original URL");
        self.replace_state(fresh);
        Ok(())
    }

    fn replace_state(&self, fresh: SessionState) {
        *self
            .inner
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
    }

    /// Logs in again unless another task already replaced the `stale` session meanwhile.
    async fn relogin(&self, stale: &Ref) -> Result<SessionState> {
        let _guard = self.inner.relogin.lock().await;
        let current = self.state();
        if current.reference != *stale {
            return Ok(current);
        }
        let fresh = login_at(
            &current.client,
            &current.url,
            &self.inner.credentials,
            self.inner.kind,
        )
        .await?;
        self.replace_state(fresh.clone());
        Ok(fresh)
    }
}

/// One login at `url`, following a `HOST_IS_SLAVE` answer to the master once. With a pinned
/// certificate the master is pinned to the thumbprint the (already verified) member reports
/// for it, if it reports one; otherwise the same trust applies to the master.
#[instrument(skip_all, fields(host = %url, user = %credentials.username))]
async fn login_at(
    client: &Client,
    url: &Url,
    credentials: &Credentials,
    kind: LoginKind,
) -> Result<SessionState> {
    let (result, master_thumbprint) = login_once(client, url, credentials, kind).await;
    match result {
        Ok(reference) => Ok(SessionState {
            client: client.clone(),
            url: url.clone(),
            reference,
        }),
        Err(e) if kind == LoginKind::Pool && e.host_is_slave().is_some() => {
            let master = e.host_is_slave().unwrap_or_default();
            let master_url = swap_host(url, master)?;
            info!(
                member = %url,
                master = %master_url,
                "logged in to a pool member (HOST_IS_SLAVE): following to the master"
            );
            let master_client = match master_thumbprint {
                Some(pin) => {
                    info!(master = %master_url, fingerprint = %pin, "pinning the master's certificate as reported by the member");
                    client.with_trust(TlsTrust::Pinned(pin))?
                }
                None => client.clone(),
            };
            let (result, _) = login_once(&master_client, &master_url, credentials, kind).await;
            Ok(SessionState {
                client: master_client,
                url: master_url,
                reference: result?,
            })
        }
        Err(e) => Err(e),
    }
}

/// One login call; any echo of the password in an error is redacted.
async fn login_once(
    client: &Client,
    url: &Url,
    credentials: &Credentials,
    kind: LoginKind,
) -> (Result<Ref>, Option<Fingerprint>) {
    let password = credentials.password.expose();
    let mut params = vec![
        Value::from(credentials.username.as_str()),
        Value::from(password),
    ];
    if kind == LoginKind::Pool {
        params.push(Value::from(LOGIN_VERSION));
        params.push(Value::from(ORIGINATOR));
    }
    let (result, thumbprint) = client.login_call(url, kind.login_method(), &params).await;
    (result.map_err(|e| e.redact(password)), thumbprint)
}
