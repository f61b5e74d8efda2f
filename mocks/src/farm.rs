//! Starting and stopping a farm: every host on its own loopback address (127.0.0.2, …) on one
//! shared port, HTTPS with a generated certificate per host when asked, and the JSON control
//! API on 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::control;
use crate::faults::{self, Fault};
use crate::invariants::{self, Invariants};
use crate::lifecycle::Timings;
use crate::scenario::{self, Scenario, ScenarioError};
use crate::server;
use crate::shared::Shared;
use crate::snapshot::FarmState;
use crate::tls::{self, HostTls};

/// The default user name.
pub const DEFAULT_USERNAME: &str = "root";
/// The default password (printed in the ready line only when in use).
pub const DEFAULT_PASSWORD: &str = "mock";

/// How to build a farm. The binary's flags map one to one onto these fields.
#[derive(Debug, Clone)]
pub struct FarmOptions {
    /// Number of hosts `xs1`…`xsN` (ignored when the scenario lists hosts).
    pub hosts: usize,
    /// VMs per host `<host>-vm<k>` (Running, diskless) for hosts without a `vms` list.
    pub vms_per_host: usize,
    /// Memory per host, MiB.
    pub host_memory_mib: u64,
    /// Memory dom0 takes on each host, MiB.
    pub dom0_memory_mib: u64,
    /// Memory per default VM, MiB.
    pub vm_memory_mib: u64,
    /// A scenario (hosts, knobs, VMs).
    pub scenario: Option<Scenario>,
    /// Serve HTTPS with a self-signed certificate per host.
    pub tls: bool,
    /// The hosts' shared port; 0 picks a free one.
    pub port: u16,
    /// Multiplies simulated durations; 0 makes them instant (but still asynchronous).
    pub time_scale: f64,
    /// Accepted user name.
    pub username: String,
    /// Accepted password.
    pub password: String,
    /// Unscaled simulated durations.
    pub timings: Timings,
}

impl Default for FarmOptions {
    fn default() -> Self {
        FarmOptions {
            hosts: 3,
            vms_per_host: 2,
            host_memory_mib: 16384,
            dom0_memory_mib: 1024,
            vm_memory_mib: 1024,
            scenario: None,
            tls: false,
            port: 0,
            time_scale: 1.0,
            username: DEFAULT_USERNAME.to_owned(),
            password: DEFAULT_PASSWORD.to_owned(),
            timings: Timings::default(),
        }
    }
}

/// Why a farm did not start.
#[derive(Debug, thiserror::Error)]
pub enum FarmError {
    /// The scenario or options are invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A certificate could not be made.
    #[error("{0}")]
    Tls(String),
}

/// A running farm. Dropping it stops the servers.
pub struct Farm {
    port: u16,
    shared: Arc<Shared>,
    names: Vec<String>,
    urls: Vec<String>,
    tls: Vec<Option<HostTls>>,
    control: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Farm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Farm")
            .field("hosts", &self.names)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

/// Ports held by the farms of this process. A host whose XAPI is down releases its socket, so
/// another farm picking a free port could otherwise take that host's address:port.
static PORTS_IN_USE: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

fn ports() -> std::sync::MutexGuard<'static, BTreeSet<u16>> {
    PORTS_IN_USE.lock().unwrap_or_else(|e| e.into_inner())
}

async fn bind_all(addrs: &[Ipv4Addr], port: u16) -> Result<Vec<TcpListener>, FarmError> {
    let bind_err = |addr: String| move |source| FarmError::Bind { addr, source };
    for attempt in 1..=20 {
        let first = TcpListener::bind((addrs[0], port))
            .await
            .map_err(bind_err(format!("{}:{port}", addrs[0])))?;
        let chosen = first
            .local_addr()
            .map_err(bind_err(addrs[0].to_string()))?
            .port();
        if port == 0 && ports().contains(&chosen) {
            continue;
        }
        let mut listeners = vec![first];
        let mut collided = false;
        for a in &addrs[1..] {
            match TcpListener::bind((*a, chosen)).await {
                Ok(l) => listeners.push(l),
                Err(e)
                    if port == 0 && e.kind() == std::io::ErrorKind::AddrInUse && attempt < 20 =>
                {
                    collided = true;
                    break;
                }
                Err(e) => return Err(bind_err(format!("{a}:{chosen}"))(e)),
            }
        }
        if !collided && ports().insert(chosen) {
            return Ok(listeners);
        }
    }
    Err(FarmError::Bind {
        addr: format!("{}:{port}", addrs[0]),
        source: std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no port free on every host address after 20 tries",
        ),
    })
}

impl Farm {
    /// Builds the farm and starts every host endpoint and the control API.
    pub async fn start(opts: FarmOptions) -> Result<Farm, FarmError> {
        let db = scenario::build(&opts)?;
        let names: Vec<String> = db.hosts.iter().map(|h| h.name.clone()).collect();
        let addrs: Vec<Ipv4Addr> = db.hosts.iter().map(|h| h.address).collect();
        let tls: Vec<Option<HostTls>> = if opts.tls {
            names
                .iter()
                .zip(&addrs)
                .map(|(n, a)| tls::host_tls(n, *a).map(Some))
                .collect::<Result<_, _>>()
                .map_err(FarmError::Tls)?
        } else {
            vec![None; names.len()]
        };
        let listeners = bind_all(&addrs, opts.port).await?;
        let port = listeners[0]
            .local_addr()
            .map_err(|source| FarmError::Bind {
                addr: addrs[0].to_string(),
                source,
            })?
            .port();
        let scheme = if opts.tls { "https" } else { "http" };
        let urls = addrs
            .iter()
            .map(|a| format!("{scheme}://{a}:{port}/"))
            .collect();
        let thumbprints = tls
            .iter()
            .map(|t| t.as_ref().map(|t| t.xapi_thumbprint.clone()))
            .collect();
        let shared = Arc::new(Shared::new(db, opts, thumbprints));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for (h, listener) in listeners.into_iter().enumerate() {
            let addr = SocketAddr::from((addrs[h], port));
            let run = server::serve_host(
                shared.clone(),
                h,
                addr,
                Some(listener),
                tls[h].clone(),
                shutdown_rx.clone(),
            );
            tasks.push(tokio::spawn(run));
        }
        let control_listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .map_err(|source| FarmError::Bind {
                    addr: "127.0.0.1:0".into(),
                    source,
                })?;
        let control = control_listener
            .local_addr()
            .map_err(|source| FarmError::Bind {
                addr: "127.0.0.1".into(),
                source,
            })?;
        let mut stop = shutdown_rx.clone();
        let app = control::router(shared.clone());
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(control_listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "control API stopped");
            }
        }));
        tracing::info!(hosts = names.len(), port, %control, "farm started");
        Ok(Farm {
            port,
            shared,
            names,
            urls,
            tls,
            control,
            shutdown,
            tasks,
        })
    }

    fn index(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| {
                panic!(
                    "no host named {name:?} in this farm (hosts: {})",
                    self.names.join(", ")
                )
            })
    }

    /// Host names in farm order.
    pub fn host_names(&self) -> &[String] {
        &self.names
    }

    /// A host's XML-RPC URL (`http://127.0.0.2:PORT/`). Panics, naming the hosts, on an unknown name.
    pub fn host_url(&self, name: &str) -> String {
        self.urls[self.index(name)].clone()
    }

    /// A host's bare management address (what `pool.join` and `HOST_IS_SLAVE` carry).
    pub fn host_address(&self, name: &str) -> String {
        self.shared.lock().hosts[self.index(name)]
            .address
            .to_string()
    }

    /// A host's certificate fingerprint (`sha256:<hex>`), with `tls`.
    pub fn fingerprint(&self, name: &str) -> Option<String> {
        self.tls[self.index(name)]
            .as_ref()
            .map(|t| t.fingerprint.clone())
    }

    /// A host's certificate as PEM, with `tls`.
    pub fn certificate_pem(&self, name: &str) -> Option<String> {
        self.tls[self.index(name)].as_ref().map(|t| t.pem.clone())
    }

    /// The control API's base URL (`http://127.0.0.1:CPORT`).
    pub fn control_url(&self) -> String {
        format!("http://{}", self.control)
    }

    /// The accepted user name.
    pub fn username(&self) -> &str {
        &self.shared.opts.username
    }

    /// The accepted password.
    pub fn password(&self) -> &str {
        &self.shared.opts.password
    }

    /// The farm's state, the same shape as `GET /state`.
    pub fn state(&self) -> FarmState {
        self.shared.snapshot()
    }

    /// Calls that can change state so far (see [`FarmState::writes`]).
    pub fn writes(&self) -> u64 {
        self.state().writes()
    }

    /// The invariant checker, as `GET /invariants`.
    pub fn invariants(&self) -> Invariants {
        invariants::check(&self.shared.lock())
    }

    /// Puts a fault in force; returns its id, or why the fault is invalid.
    pub fn inject(&self, fault: Fault) -> Result<String, String> {
        faults::inject(&self.shared, fault)
    }

    /// Clears one fault; false if no fault has that id.
    pub fn clear_fault(&self, id: &str) -> bool {
        faults::clear(&self.shared, Some(id))
    }

    /// Clears every fault (offline hosts come back, half-joined hosts finish).
    pub fn clear_faults(&self) {
        faults::clear(&self.shared, None);
    }

    /// The ready line the binary prints: host URLs, control URL, user, the password when it is
    /// the default one, and fingerprints with `tls`.
    pub fn ready_line(&self) -> serde_json::Value {
        let hosts: BTreeMap<&str, &str> = self
            .names
            .iter()
            .map(String::as_str)
            .zip(self.urls.iter().map(String::as_str))
            .collect();
        let mut line = serde_json::json!({
            "hosts": hosts,
            "control": self.control_url(),
            "username": self.username(),
        });
        if self.password() == DEFAULT_PASSWORD {
            line["password"] = DEFAULT_PASSWORD.into();
        }
        if self.shared.opts.tls {
            let fps: BTreeMap<&str, String> = self
                .names
                .iter()
                .map(|n| (n.as_str(), self.fingerprint(n).unwrap_or_default()))
                .collect();
            line["fingerprints"] = serde_json::json!(fps);
        }
        line
    }

    /// Stops every server and waits (briefly) for them to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        ports().remove(&self.port);
    }
}
