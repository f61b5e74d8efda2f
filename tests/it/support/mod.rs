//! Shared test harnesses.

pub mod agent_process;
pub mod cli_env;
pub mod pg;
pub mod server;
pub mod stack;
pub mod tls_server;
pub mod xapi_mock;
