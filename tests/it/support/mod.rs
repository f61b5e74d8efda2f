//! Shared test harnesses.

pub mod tls_server;
pub mod xapi_mock;
