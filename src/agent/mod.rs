//! The per-host agent: reconciles the control plane's intent into XAPI calls on this host.
//!
//! `config` loads and validates the agent's configuration; `journal` keeps the little state
//! that XAPI cannot tell (the step in progress), so a killed agent resumes.

pub mod config;
pub mod journal;
