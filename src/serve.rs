//! `xenpool serve`: opens the store, loads the tokens and serves the API until SIGTERM or
//! SIGINT (SIGHUP reloads the tokens). [`start`] runs the same server in-process on a bound
//! listener, for tests and `xenpool demo`.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::auth::{TokenError, Tokens};
use crate::config::ServeConfig;
use crate::store::{redact_url, Store, StoreError};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database.
    #[error("cannot open the database")]
    Store(#[from] StoreError),
    /// The tokens file.
    #[error(transparent)]
    Tokens(#[from] TokenError),
    /// Listening or serving.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// A running server.
pub struct ServerHandle {
    url: String,
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    tokens: Arc<Tokens>,
    store: Store,
    task: JoinHandle<Result<(), ServeError>>,
}

impl ServerHandle {
    /// `http://ADDR`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The server's store (for tests that inspect state directly).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Re-reads the tokens file (what SIGHUP does).
    pub fn reload_tokens(&self) -> Result<usize, TokenError> {
        self.tokens.reload()
    }

    /// Stops accepting, ends long-polls, waits for requests in flight, closes the database.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server stops (after [`ServerHandle::shutdown`] or a fatal error).
    pub async fn wait(self) -> Result<(), ServeError> {
        let r = match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServeError::Io {
                what: "server task failed".into(),
                source: std::io::Error::other(e.to_string()),
            }),
        };
        self.store.close().await;
        r
    }

    /// A token that, when cancelled, shuts the server down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Starts the server on `listener` with `config` and returns at once.
pub async fn start(config: ServeConfig, listener: TcpListener) -> Result<ServerHandle, ServeError> {
    let url = match &config.database {
        Some(u) => u.clone(),
        None => Store::sqlite_url_in(&config.data_dir)?,
    };
    let store = Store::open(&url, config.max_db_connections, config.sqlite_sync).await?;
    let tokens = Arc::new(match &config.token_entries {
        Some(entries) => Tokens::from_entries(entries.clone()),
        None => Tokens::load(&config.tokens_path())?,
    });
    let addr = listener.local_addr().map_err(|source| ServeError::Io {
        what: "cannot read the listen address".into(),
        source,
    })?;
    let shutdown = CancellationToken::new();
    let state = AppState {
        store: store.clone(),
        tokens: tokens.clone(),
        settings: Arc::new(config.settings.clone()),
        shutdown: shutdown.clone(),
        metrics: crate::telemetry::prometheus(),
        nova_aggregate_list: Arc::default(),
    };
    let poller = {
        let (store, stop, every) = (store.clone(), shutdown.clone(), config.revision_poll);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {
                        if let Err(e) = store.refresh_revision().await {
                            tracing::debug!(error = %e, "revision poll failed");
                        }
                    }
                    _ = stop.cancelled() => break,
                }
            }
        })
    };
    tracing::info!(%addr, database = %redact_url(&url), backend = ?store.backend(), "xenpool serve listening");
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, api::app(state))
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .map_err(|source| ServeError::Io {
                what: "serving HTTP failed".into(),
                source,
            });
        poller.abort();
        r
    });
    Ok(ServerHandle {
        url: format!("http://{addr}"),
        addr,
        shutdown,
        tokens,
        store,
        task,
    })
}

/// `xenpool serve`: binds `config.listen`, serves until SIGTERM/SIGINT, reloads tokens on SIGHUP.
pub async fn run(config: ServeConfig) -> Result<(), ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Io {
            what: format!("cannot listen on {}", config.listen),
            source,
        })?;
    let server = start(config, listener).await?;
    eprintln!("xenpool serve: listening on {}", server.url());
    // systemd (Type=notify): ready once listening; keep the watchdog fed while the runtime runs.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    if let Some(every) = sd_notify::watchdog_enabled() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every / 2);
            loop {
                tick.tick().await;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
        });
    }
    let sig = |k: SignalKind| {
        signal(k).map_err(|source| ServeError::Io {
            what: "cannot install signal handlers".into(),
            source,
        })
    };
    let (mut term, mut int, mut hup) = (
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
        sig(SignalKind::hangup())?,
    );
    let stop = server.shutdown_token();
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match server.reload_tokens() {
                Ok(n) => tracing::info!(tokens = n, "tokens reloaded"),
                Err(e) => tracing::error!(error = %e, "tokens not reloaded; the previous tokens stay in force"),
            },
            _ = stop.cancelled() => break,
        }
    }
    tracing::info!("shutting down");
    server.shutdown().await
}
