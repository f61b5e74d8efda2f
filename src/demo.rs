//! The whole product in one process on embedded defaults: a mock XenServer farm, the control
//! plane on SQLite (or a given database), and one agent per host, each with its own token,
//! journal and XAPI credentials, exactly as separate systemd units would run them.
//!
//! `xenpool demo` prints how to reach it; the end-to-end tests drive it, killing and
//! restarting agents to prove a kill at any point is safe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use xenpool_mocks::{Farm, FarmOptions};

use crate::agent::config::AgentConfig;
use crate::agent::Agent;
use crate::auth::{hash_token, Role, TokenEntry};
use crate::config::ServeConfig;
use crate::planner::Concurrency;
use crate::serve::{start, ServerHandle};
use crate::xenapi::Password;

/// What to start.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The mock farm's options (hosts, VMs, memory, time scale, scenario).
    pub farm: FarmOptions,
    /// Where the control plane listens.
    pub listen: String,
    /// Data directory: the SQLite database and each agent's journal.
    pub data_dir: PathBuf,
    /// Database URL; `None` is SQLite in `data_dir`.
    pub database: Option<String>,
    /// Migration bounds of every agent.
    pub concurrency: Concurrency,
    /// Minimum time between two handovers by one agent.
    pub handover_cooldown: Duration,
    /// How long a joined host may take to be listed enabled.
    pub join_timeout: Duration,
    /// How long a host's XAPI may be unreachable before its agent reports it.
    pub xapi_outage_grace: Duration,
}

impl DemoOptions {
    /// Defaults: three hosts with two VMs each at time scale 0.1, the control plane on
    /// 127.0.0.1:8774, data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> DemoOptions {
        DemoOptions {
            farm: FarmOptions {
                time_scale: 0.1,
                ..FarmOptions::default()
            },
            listen: "127.0.0.1:8774".into(),
            data_dir: data_dir.into(),
            database: None,
            concurrency: Concurrency::default(),
            handover_cooldown: Duration::from_secs(10),
            join_timeout: Duration::from_secs(120),
            xapi_outage_grace: Duration::from_secs(30),
        }
    }
}

/// Why the stack did not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The mock farm did not start.
    #[error("mock XenServer farm: {0}")]
    Farm(#[from] xenpool_mocks::FarmError),
    /// The control plane did not start.
    #[error("control plane: {0}")]
    Serve(#[from] crate::serve::ServeError),
    /// An agent could not be built.
    #[error("agent {host}: {message}")]
    Agent {
        /// The host.
        host: String,
        /// Why.
        message: String,
    },
    /// A file or listener could not be made.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The running stack.
pub struct Demo {
    /// The mock farm.
    pub farm: Farm,
    /// The control plane (`None` while stopped).
    server: Option<ServerHandle>,
    /// Its address, kept across restarts.
    addr: std::net::SocketAddr,
    url: String,
    /// The token file entries it starts with.
    token_entries: Vec<TokenEntry>,
    /// The admin token.
    pub admin_token: String,
    /// An ordinary user's token.
    pub member_token: String,
    agent_tokens: BTreeMap<String, String>,
    agents: BTreeMap<String, JoinHandle<()>>,
    options: DemoOptions,
}

impl Demo {
    /// Starts the farm, the control plane and one agent per host.
    pub async fn start(options: DemoOptions) -> Result<Demo, DemoError> {
        let farm = Farm::start(options.farm.clone()).await?;
        let admin_token = new_token();
        let member_token = new_token();
        let mut entries = vec![
            TokenEntry {
                name: "admin".into(),
                role: Role::Admin,
                host: None,
                sha256: hash_token(&admin_token),
            },
            TokenEntry {
                name: "member".into(),
                role: Role::Member,
                host: None,
                sha256: hash_token(&member_token),
            },
        ];
        let mut agent_tokens = BTreeMap::new();
        for host in farm.host_names() {
            let token = new_token();
            entries.push(TokenEntry {
                name: format!("agent-{host}"),
                role: Role::Agent,
                host: Some(host.clone()),
                sha256: hash_token(&token),
            });
            agent_tokens.insert(host.clone(), token);
        }
        std::fs::create_dir_all(&options.data_dir).map_err(|source| DemoError::Io {
            what: format!("cannot create {}", options.data_dir.display()),
            source,
        })?;
        let listener =
            TcpListener::bind(&options.listen)
                .await
                .map_err(|source| DemoError::Io {
                    what: format!("cannot listen on {}", options.listen),
                    source,
                })?;
        let server = start(serve_config(&options, &entries), listener).await?;
        let mut demo = Demo {
            farm,
            addr: server.addr(),
            url: server.url().to_owned(),
            server: Some(server),
            token_entries: entries,
            admin_token,
            member_token,
            agent_tokens,
            agents: BTreeMap::new(),
            options,
        };
        for host in demo.farm.host_names().to_vec() {
            demo.start_agent(&host)?;
        }
        Ok(demo)
    }

    /// The control plane's base URL (the same across restarts).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the control plane as a service restart would (requests in flight finish, long
    /// polls end, the database closes); agents keep running and retry.
    pub async fn stop_server(&mut self) -> Result<(), DemoError> {
        match self.server.take() {
            Some(server) => Ok(server.shutdown().await?),
            None => Ok(()),
        }
    }

    /// Starts the control plane again on the same address and database.
    pub async fn start_server(&mut self) -> Result<(), DemoError> {
        self.stop_server().await?;
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| DemoError::Io {
                what: format!("cannot listen on {} again", self.addr),
                source,
            })?;
        let config = serve_config(&self.options, &self.token_entries);
        self.server = Some(start(config, listener).await?);
        Ok(())
    }

    /// Host names.
    pub fn hosts(&self) -> &[String] {
        self.farm.host_names()
    }

    /// Starts (or restarts) `host`'s agent, resuming from its journal.
    pub fn start_agent(&mut self, host: &str) -> Result<(), DemoError> {
        self.start_agent_with(host, |_| {})
    }

    /// Starts (or restarts) `host`'s agent with its configuration changed by `adjust` (a wrong
    /// password, another XAPI URL, …).
    pub fn start_agent_with(
        &mut self,
        host: &str,
        adjust: impl FnOnce(&mut AgentConfig),
    ) -> Result<(), DemoError> {
        self.kill_agent(host);
        let mut config = self.agent_config(host);
        adjust(&mut config);
        let agent = Agent::new(config).map_err(|e| DemoError::Agent {
            host: host.into(),
            message: e.to_string(),
        })?;
        let task = tokio::spawn(async move {
            if let Err(e) = agent.run(std::future::pending()).await {
                tracing::error!(error = %e, "agent stopped");
            }
        });
        self.agents.insert(host.to_owned(), task);
        Ok(())
    }

    /// Stops `host`'s agent at whatever await point it is at, as SIGKILL would.
    pub fn kill_agent(&mut self, host: &str) {
        if let Some(task) = self.agents.remove(host) {
            task.abort();
        }
    }

    /// Whether `host`'s agent is running.
    pub fn agent_running(&self, host: &str) -> bool {
        self.agents.get(host).is_some_and(|t| !t.is_finished())
    }

    fn agent_config(&self, host: &str) -> AgentConfig {
        AgentConfig {
            host: host.to_owned(),
            control_url: url::Url::parse(&self.url).expect("server URL parses"),
            token: Password::new(self.agent_tokens[host].clone()),
            xapi_url: url::Url::parse(&self.farm.host_url(host)).expect("farm URL parses"),
            xapi_username: self.farm.username().to_owned(),
            xapi_password: Password::new(self.farm.password()),
            xapi_ca_file: None,
            xapi_fingerprint: None,
            state_dir: agent_state_dir(&self.options.data_dir, host),
            // One process: the control plane's /metrics already shows the agents' metrics.
            metrics_listen: None,
            concurrency: self.options.concurrency,
            xapi_timeout: Duration::from_secs(30),
            join_timeout: self.options.join_timeout,
            heartbeat: Duration::from_secs(5),
            handover_cooldown: self.options.handover_cooldown,
            xapi_outage_grace: self.options.xapi_outage_grace,
        }
    }

    /// The first line `xenpool demo` prints: how to reach everything.
    pub fn ready_line(&self) -> serde_json::Value {
        let xapi: BTreeMap<&String, String> = self
            .hosts()
            .iter()
            .map(|h| (h, self.farm.host_url(h)))
            .collect();
        serde_json::json!({
            "endpoint": format!("{}/v2.1", self.url()),
            "url": self.url(),
            "admin_token": self.admin_token,
            "member_token": self.member_token,
            "hosts": self.hosts(),
            "xapi": xapi,
            "xapi_username": self.farm.username(),
            "xapi_password": self.farm.password(),
            "mock_control": self.farm.control_url(),
        })
    }

    /// Stops every agent, the control plane and the farm.
    pub async fn shutdown(mut self) {
        for host in self.hosts().to_vec() {
            self.kill_agent(&host);
        }
        let _ = self.stop_server().await;
        self.farm.shutdown().await;
    }
}

fn serve_config(options: &DemoOptions, entries: &[TokenEntry]) -> ServeConfig {
    ServeConfig {
        database: options.database.clone(),
        token_entries: Some(entries.to_vec()),
        data_dir: options.data_dir.clone(),
        ..ServeConfig::default()
    }
}

fn agent_state_dir(data_dir: &Path, host: &str) -> PathBuf {
    data_dir.join("agents").join(host)
}

fn new_token() -> String {
    format!("xpt_{}", hex::encode(rand::random::<[u8; 24]>()))
}
