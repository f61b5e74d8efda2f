//! The mock farm driven over the wire: XML-RPC form, sessions, pool membership, host and VM
//! operations, tasks and events, fault injection, the control API, the binary, and the official
//! Python SDK.

mod support;

mod binary;
mod control;
mod designate;
mod eject;
mod emergency;
mod evacuate;
mod events;
mod faults;
mod hosts;
mod join;
mod migrate;
mod python;
mod scale;
mod sessions;
mod wire;
