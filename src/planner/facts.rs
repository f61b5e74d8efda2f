//! The facts a plan is computed from, as the agent reads them from XAPI (names, not refs).

use serde::{Deserialize, Serialize};
use xenpool_xapi_types::PowerState;

/// One pool member as seen at planning time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// The host's name (`name_label`, the control plane's host name).
    pub name: String,
    /// `host.enabled`: a disabled host is never a destination.
    pub enabled: bool,
    /// `host_metrics.live`: an unreachable host is never a destination.
    pub live: bool,
    /// Memory free for more VMs, in bytes (`host.compute_free_memory`).
    pub free_memory: u64,
}

/// What to do with a VM when its host goes into maintenance or leaves the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EvacuationPolicy {
    /// Live-migrate it to another member (the default).
    #[default]
    Migrate,
    /// Shut it down cleanly; it is started again on its home host when maintenance ends.
    Shutdown,
    /// Refuse to evacuate the host while this VM runs there.
    Block,
}

impl EvacuationPolicy {
    /// Parses the value of the `xenpool_evacuation` key (VM `other_config` or aggregate
    /// metadata). Returns `None` for anything else so the caller can name the bad value.
    pub fn parse(value: &str) -> Option<EvacuationPolicy> {
        match value.trim().to_ascii_lowercase().as_str() {
            "migrate" => Some(EvacuationPolicy::Migrate),
            "shutdown" => Some(EvacuationPolicy::Shutdown),
            "block" => Some(EvacuationPolicy::Block),
            _ => None,
        }
    }
}

/// A reason XAPI gave why a VM cannot move (from `host.get_vms_which_prevent_evacuation` or
/// `VM.assert_can_migrate`), with refs already resolved to names by the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    /// The XAPI error code, e.g. `VM_REQUIRES_SR`.
    pub code: String,
    /// Its parameters, names in place of refs where the agent could resolve them.
    pub params: Vec<String>,
}

/// One VM as seen at planning time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmFacts {
    /// `name_label`.
    pub name: String,
    /// `uuid`: names are not unique in XAPI, uuids are.
    pub uuid: String,
    /// The host it runs on, or `None` when it is not resident anywhere.
    pub resident_on: Option<String>,
    /// `power_state`.
    pub power_state: PowerState,
    /// Bytes a destination must have free to receive it.
    pub memory: u64,
    /// What to do with it on evacuation.
    pub policy: EvacuationPolicy,
    /// Why it cannot move at all (empty when it can).
    pub blockers: Vec<Blocker>,
    /// Hosts it may run on; `None` means any member.
    pub allowed_hosts: Option<Vec<String>>,
    /// The host it belongs on (recorded when it was evacuated), if any.
    pub home: Option<String>,
    /// Whether xenpool shut it down for maintenance (so leaving maintenance starts it again).
    pub halted_for_maintenance: bool,
}

impl VmFacts {
    /// Whether `host` is a permitted destination for this VM.
    pub fn may_run_on(&self, host: &str) -> bool {
        self.allowed_hosts
            .as_ref()
            .is_none_or(|hosts| hosts.iter().any(|h| h == host))
    }
}
