//! A mock XenServer farm speaking XAPI's XML-RPC wire protocol with real pool semantics: every
//! host its own endpoint on a loopback address, one shared database per pool, `pool.join` /
//! `eject` / `designate_new_master` / migrations / evacuation with XAPI's checks and errors,
//! tasks and events, fault injection and an invariant checker. See `mocks/README.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), xenpool_mocks::FarmError> {
//! use xenpool_mocks::{Farm, FarmOptions};
//! let farm = Farm::start(FarmOptions { hosts: 3, time_scale: 0.0, ..FarmOptions::default() }).await?;
//! let url = farm.host_url("xs1");
//! assert!(farm.invariants().ok);
//! farm.shutdown().await;
//! # Ok(()) }
//! ```

mod call;
mod control;
mod event;
mod farm;
mod faults;
mod host;
mod invariants;
mod lifecycle;
mod methods;
mod objects;
mod pool;
mod records;
mod rpc;
mod scenario;
mod server;
mod session;
mod shared;
mod snapshot;
mod state;
mod task;
mod tls;
mod vm;

pub use farm::{Farm, FarmError, FarmOptions, DEFAULT_PASSWORD, DEFAULT_USERNAME};
pub use faults::{ActiveFault, Fault, FaultKind, Phase};
pub use invariants::Invariants;
pub use lifecycle::Timings;
pub use scenario::{HostSpec, Scenario, ScenarioError, VmSpec};
pub use snapshot::{FarmState, HostState, PoolState, VmState};
