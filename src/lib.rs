//! xenpool: keeps XenServer / XCP-ng resource pools in line with host aggregates.
//!
//! Module map (dependencies point one way, see `../shared/DESIGN.md`):
//! `cli` parses the command line and dispatches to the parts below; `planner` holds the pure
//! evacuation, rebalance and master-choice logic the agent runs.

pub mod cli;
pub mod planner;
