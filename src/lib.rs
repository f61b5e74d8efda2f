//! xenpool: keeps XenServer / XCP-ng resource pools in line with host aggregates.
//!
//! Module map (dependencies point one way, see `../shared/DESIGN.md`):
//! `cli` parses the command line and dispatches to the parts below.

pub mod api;
pub mod auth;
pub mod auth_cli;
pub mod cli;
pub mod config;
pub mod serve;
pub mod serve_cli;
pub mod store;
