//! The root crate's integration tests: one binary, one module per area.

mod support;

mod auth_roles;
mod cli;
mod compat_clients;
mod compat_surface;
mod compat_vectors;
mod concurrency;
mod native_api;
mod serve_processes;
mod watch_feed;
