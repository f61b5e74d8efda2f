//! xenpool: keeps XenServer / XCP-ng resource pools in line with host aggregates.
//!
//! Module map (dependencies point one way, see `../shared/DESIGN.md`):
//! `cli` parses the command line and dispatches to the parts below. The control plane is
//! `store` (persistence), `api` (Nova-compatible and native HTTP surfaces), `auth` (tokens and
//! roles), `config` and `serve`; it never links `xenapi`. The per-host side is `agent` (the
//! reconciler), `planner` (its pure decisions: next pool step, evacuation, rebalance, master
//! choice) and `xenapi` (the XenAPI client, also used by the manual `xapi` verbs). `demo` runs
//! everything in one process against the mock XenServer.

pub mod agent;
pub mod api;
pub mod auth;
pub mod auth_cli;
pub mod cli;
pub mod config;
pub mod demo;
pub mod planner;
pub mod serve;
pub mod serve_cli;
pub mod store;
pub mod telemetry;
pub mod xenapi;
