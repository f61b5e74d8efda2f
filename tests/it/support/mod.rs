//! Shared test harnesses.

pub mod pg;
pub mod server;
