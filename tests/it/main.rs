//! The root crate's integration tests: one binary, one module per area (harnesses in `support/`).

mod support;

mod auth_roles;
mod cli;
mod cli_stack;
mod compat_clients;
mod compat_surface;
mod compat_vectors;
mod concurrency;
mod e2e_faults;
mod e2e_maintenance;
mod e2e_pools;
mod e2e_processes;
mod e2e_recovery;
mod native_api;
mod packaging;
mod pool_verbs;
mod serve_processes;
mod watch_feed;
mod xapi_cli;
mod xenapi_session;
mod xenapi_task;
mod xenapi_tls;
