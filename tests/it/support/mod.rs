//! Shared test harnesses.

pub mod cli_env;
pub mod pg;
pub mod server;
