//! xenpool's integration tests: one binary, one module per area (see `support/` for harnesses).

mod support;

mod xapi_cli;
mod xenapi_session;
mod xenapi_task;
mod xenapi_tls;
