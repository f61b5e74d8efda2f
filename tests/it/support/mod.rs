//! Shared test harnesses.

pub mod pg;
pub mod server;
pub mod stack;
pub mod tls_server;
pub mod xapi_mock;
