//! xenpool: keeps XenServer / XCP-ng resource pools in line with host aggregates.
//!
//! Module map (dependencies point one way, see `../shared/DESIGN.md`):
//! `cli` parses the command line and dispatches to the parts below; `agent` is the per-host
//! reconciler; `planner` holds its pure decisions (next pool step, evacuation, rebalance,
//! master choice); `xenapi` is the XenAPI client (agents and the manual `xapi` verbs only,
//! never the control plane).

pub mod agent;
pub mod cli;
pub mod planner;
pub mod xenapi;
