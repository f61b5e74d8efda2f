//! The per-host agent: reconciles the control plane's intent into XAPI calls on this host.
//!
//! `config` loads and validates the agent's configuration; `journal` keeps the little state
//! that XAPI cannot tell (the step in progress), so a killed agent resumes; `control` talks to
//! the control plane; `observe` reads XAPI's facts; `maintenance` runs evacuations and
//! rebalances; `progress` reports their per-VM outcomes as they come; `run` is the reconcile
//! loop tying them together.

pub mod config;
pub mod control;
pub mod journal;
pub mod maintenance;
pub mod observe;
pub mod progress;
pub mod run;

pub use run::{Agent, AgentError};
