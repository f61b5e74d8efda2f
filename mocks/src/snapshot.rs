//! The farm as `GET /state` and [`crate::Farm::state`] show it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::faults::ActiveFault;
use crate::state::{Db, MIB};

/// One host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    /// Farm name.
    pub name: String,
    /// Current uuid.
    pub uuid: String,
    /// Current `host` ref.
    pub reference: String,
    /// Management address.
    pub address: String,
    /// Pool uuid (`None` while rebooting after an eject).
    pub pool: Option<String>,
    /// Whether the host believes it is master.
    pub is_master: bool,
    /// The master address it follows, if a supporter.
    pub master_address: Option<String>,
    /// `host.enabled`.
    pub enabled: bool,
    /// Answering: XAPI up, no `offline` fault, and the listener bound (connections succeed).
    pub online: bool,
    /// The listener socket is bound (it trails `online` by a moment when the host goes down).
    pub listening: bool,
    /// XAPI running (false while restarting / rebooting).
    pub xapi_up: bool,
    /// How many times XAPI has stopped (restart, crash, reboot, offline): wait for it to grow
    /// past its value before a call that triggers a restart, then for `online`.
    pub restarts: u64,
    /// Held half-joined by a `freeze_join` fault.
    pub half_joined: bool,
    /// Disabled with `auto_enable=false`.
    pub disabled_persist: bool,
    /// Total memory.
    pub memory_total_mib: u64,
    /// Free memory (what `compute_free_memory` says).
    pub memory_free_mib: u64,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
}

/// One pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolState {
    /// Pool uuid.
    pub uuid: String,
    /// `name_label`.
    pub name_label: String,
    /// Master host name (as the pool database records it).
    pub master: String,
    /// Member host names, master included.
    pub members: Vec<String>,
}

/// One VM (control domains are not listed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmState {
    /// `name_label`.
    pub name: String,
    /// `uuid`.
    pub uuid: String,
    /// Resident host name, if running.
    pub resident_on: Option<String>,
    /// XAPI's spelling: `Running`, `Halted`, …
    pub power_state: String,
    /// `memory_static_max` in MiB.
    pub memory_mib: u64,
    /// Pool uuid of the database holding the record.
    pub pool: Option<String>,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
}

/// The whole farm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FarmState {
    /// Hosts in farm order.
    pub hosts: Vec<HostState>,
    /// Pools.
    pub pools: Vec<PoolState>,
    /// VMs.
    pub vms: Vec<VmState>,
    /// Faults in force.
    pub faults: Vec<ActiveFault>,
    /// Calls received: host name → method → count.
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
}

impl FarmState {
    /// A host by name.
    pub fn host(&self, name: &str) -> Option<&HostState> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// A VM by name.
    pub fn vm(&self, name: &str) -> Option<&VmState> {
        self.vms.iter().find(|v| v.name == name)
    }

    /// Calls that can change state, summed over hosts: everything except getters and lookups,
    /// `event.from`, session calls, `assert_*` / `compute_*` checks and the evacuation query.
    /// A converged reconciler's replay should leave it unchanged.
    pub fn writes(&self) -> u64 {
        self.calls
            .values()
            .flat_map(|m| m.iter())
            .filter(|(name, _)| !is_read(name))
            .map(|(_, n)| n)
            .sum()
    }

    /// The pool a host is in.
    pub fn pool_of(&self, host: &str) -> Option<&PoolState> {
        self.pools
            .iter()
            .find(|p| p.members.iter().any(|m| m == host))
    }
}

fn is_read(method: &str) -> bool {
    let bare = method.strip_prefix("Async.").unwrap_or(method);
    let (class, name) = bare.split_once('.').unwrap_or(("", bare));
    class == "session"
        || class == "event"
        || name.starts_with("get_")
        || name.starts_with("assert_")
        || name.starts_with("compute_")
        || name == "is_in_emergency_mode"
}

/// Takes the snapshot; `bound[h]` says whether host `h`'s listener socket is bound now.
pub fn take(db: &Db, bound: &[bool]) -> FarmState {
    let pool_uuid = |p: &str| db.pools.get(p).map(|p| p.uuid.clone());
    let hosts = (0..db.hosts.len())
        .map(|h| {
            let host = &db.hosts[h];
            HostState {
                name: host.name.clone(),
                uuid: host.uuid.clone(),
                reference: host.reference.clone(),
                address: host.address.to_string(),
                pool: host.pool.as_deref().and_then(pool_uuid),
                is_master: db.slave_of(h).is_none(),
                master_address: db.slave_of(h).map(|a| a.to_string()),
                enabled: host.enabled,
                online: db.online(h) && bound.get(h).copied().unwrap_or(false),
                listening: bound.get(h).copied().unwrap_or(false),
                xapi_up: host.xapi_up,
                restarts: host.epoch,
                half_joined: host.frozen_by.is_some(),
                disabled_persist: host.disabled_persist,
                memory_total_mib: host.memory_total_mib,
                memory_free_mib: db.memory_free(h) / MIB,
                other_config: host.other_config.clone(),
            }
        })
        .collect();
    let mut pools: Vec<(usize, PoolState)> = db
        .pools
        .iter()
        .map(|(r, p)| {
            (
                p.master,
                PoolState {
                    uuid: p.uuid.clone(),
                    name_label: p.name_label.clone(),
                    master: db.hosts[p.master].name.clone(),
                    members: db
                        .members(r)
                        .into_iter()
                        .map(|h| db.hosts[h].name.clone())
                        .collect(),
                },
            )
        })
        .collect();
    pools.sort_by_key(|(master, _)| *master);
    let pools = pools.into_iter().map(|(_, p)| p).collect();
    let mut vms: Vec<VmState> = db
        .vms
        .values()
        .filter(|v| !v.is_control_domain)
        .map(|v| VmState {
            name: v.name.clone(),
            uuid: v.uuid.clone(),
            resident_on: v.resident_on.map(|h| db.hosts[h].name.clone()),
            power_state: v.power_state.as_str().to_owned(),
            memory_mib: v.static_max / MIB,
            pool: pool_uuid(&v.pool),
            other_config: v.other_config.clone(),
        })
        .collect();
    vms.sort_by(|a, b| a.name.cmp(&b.name));
    FarmState {
        hosts,
        pools,
        vms,
        faults: db.faults.clone(),
        calls: db.calls.clone(),
    }
}
