//! The farm's one database: hosts, pools, VMs, SRs, sessions, tasks, the event generation
//! counter, active faults and call counts. A real pool is one database, so every host endpoint
//! reads and writes this same state; which part of it a host "sees" is decided by its pool.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::{Instant, SystemTime};

use xenpool_xapi_types::{ErrorCode, PowerState, TaskStatus};

use crate::faults::ActiveFault;

/// Index of a host in [`Db::hosts`]: stable for the farm's lifetime (a host keeps its name and
/// address across ejects and reboots; its uuid and ref change when it is wiped).
pub type HostId = usize;

/// One MiB in bytes.
pub const MIB: u64 = 1024 * 1024;

/// An API-level failure: the `ErrorDescription` XAPI sends, code first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XapiError {
    /// The wire code.
    pub code: ErrorCode,
    /// Its parameters, as strings.
    pub params: Vec<String>,
}

impl XapiError {
    /// An error with these parameters.
    pub fn new<I, S>(code: ErrorCode, params: I) -> XapiError
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        XapiError {
            code,
            params: params.into_iter().map(Into::into).collect(),
        }
    }

    /// An error without parameters.
    pub fn bare(code: ErrorCode) -> XapiError {
        XapiError {
            code,
            params: Vec::new(),
        }
    }

    /// `[CODE, params…]` as sent on the wire.
    pub fn description(&self) -> Vec<String> {
        std::iter::once(self.code.as_str().to_owned())
            .chain(self.params.iter().cloned())
            .collect()
    }

    /// Parses `[CODE, params…]` (the control API's `error` field).
    pub fn from_description(desc: &[String]) -> Option<XapiError> {
        let (code, params) = desc.split_first()?;
        Some(XapiError {
            code: ErrorCode::from_wire(code),
            params: params.to_vec(),
        })
    }
}

/// Result of an API call body.
pub type XResult<T> = Result<T, XapiError>;

/// What a host believes its pool role is (`pool.conf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Master of its pool.
    Master,
    /// A supporter of the master at this address.
    Slave(Ipv4Addr),
}

/// Per-host properties the join prechecks and the migration checks compare. Set from a scenario
/// file; the defaults describe one homogeneous XCP-ng 8.2.1 farm.
#[derive(Debug, Clone, PartialEq)]
pub struct HostKnobs {
    /// `software_version.product_version` (and `xapi`): differing → `HOSTS_NOT_HOMOGENEOUS`.
    pub software_version: String,
    /// `cpu_info.vendor`: differing → `HOSTS_NOT_HOMOGENEOUS ["CPUs differ"]`.
    pub cpu_vendor: String,
    /// `software_version.platform_version`: differing → `HOSTS_NOT_COMPATIBLE`.
    pub platform_version: String,
    /// `software_version.product_brand`: differing → `HOSTS_NOT_COMPATIBLE`.
    pub product_brand: String,
    /// `API_version_major/minor`.
    pub api_version: (u32, u32),
    /// Licence edition: differing → `LICENSE_HOST_POOL_MISMATCH`.
    pub edition: String,
    /// The Pooling licence feature: off → `LICENCE_RESTRICTION []`.
    pub pooling_licensed: bool,
    /// A restricted edition (at most 3 hosts per pool) → `LICENCE_RESTRICTION ["Pool_size"]`.
    pub pool_size_restricted: bool,
    /// Whether the management interface is up (off → `HOST_STILL_BOOTING` on join).
    pub management_ip: bool,
    /// HA enabled on this host's pool while it is standalone.
    pub ha_enabled: bool,
    /// The host has a shared SR attached → `JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS`.
    pub shared_sr: bool,
    /// Bonds → `POOL_JOINING_HOST_HAS_BONDS`.
    pub bonds: bool,
    /// Tunnels → `POOL_JOINING_HOST_HAS_TUNNELS`.
    pub tunnels: bool,
    /// Network SR-IOV → `POOL_JOINING_HOST_HAS_NETWORK_SRIOVS`.
    pub sriovs: bool,
    /// Non-management VLANs → `POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS`.
    pub non_management_vlans: bool,
    /// Management VLAN tag, `-1` = untagged.
    pub management_vlan: i64,
    /// `pool.tls_verification_enabled` of its pool when standalone.
    pub tls_verification: bool,
    /// Homogeneity-enforcing updates applied (check 25, not skipped by `join_force`).
    pub updates: Vec<String>,
    /// Whether `host.disable` takes the `auto_enable` parameter (xapi ≥ 25.31.0).
    pub supports_auto_enable: bool,
    /// The `cluster_host` ref when clustering is enabled (→ `CLUSTERING_ENABLED [ref]`).
    pub cluster_host: Option<String>,
    /// Mandatory update guidance pending (→ `HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY`).
    pub pending_guidance: bool,
    /// External auth type (`""` = none, `"AD"`): differing → `POOL_JOINING_EXTERNAL_AUTH_MISMATCH`.
    pub external_auth: String,
    /// `software_version.network_backend`: differing → `OPERATION_NOT_ALLOWED ["Network backends differ"]`.
    pub network_backend: String,
    /// Database schema `major.minor`: differing → `POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA`.
    pub db_schema: String,
    /// `apply_updates` in progress (→ `NOT_SUPPORTED_DURING_UPGRADE`).
    pub upgrading: bool,
}

impl Default for HostKnobs {
    fn default() -> Self {
        HostKnobs {
            software_version: "8.2.1".into(),
            cpu_vendor: "GenuineIntel".into(),
            platform_version: "3.2.1".into(),
            product_brand: "XCP-ng".into(),
            api_version: xenpool_xapi_types::API_VERSION,
            edition: "xcp-ng".into(),
            pooling_licensed: true,
            pool_size_restricted: false,
            management_ip: true,
            ha_enabled: false,
            shared_sr: false,
            bonds: false,
            tunnels: false,
            sriovs: false,
            non_management_vlans: false,
            management_vlan: -1,
            tls_verification: true,
            updates: Vec::new(),
            supports_auto_enable: true,
            cluster_host: None,
            pending_guidance: false,
            external_auth: String::new(),
            network_backend: "openvswitch".into(),
            db_schema: "5.786".into(),
            upgrading: false,
        }
    }
}

/// A simulated host.
#[derive(Debug, Clone)]
pub struct Host {
    /// Farm name (`xs1`…), also `hostname`.
    pub name: String,
    /// `name_label` (the farm name until renamed).
    pub name_label: String,
    /// Management address (127.0.0.N).
    pub address: Ipv4Addr,
    /// Current uuid (changes when ejected).
    pub uuid: String,
    /// Current `host` ref (changes when ejected).
    pub reference: String,
    /// The `host_metrics` ref.
    pub metrics: String,
    /// Pool ref; `None` while it reboots after an eject.
    pub pool: Option<String>,
    /// Its `pool.conf`.
    pub role: Role,
    /// `host.enabled`.
    pub enabled: bool,
    /// `host.disable(auto_enable=false)` was called while enabled: stays disabled across restarts.
    pub disabled_persist: bool,
    /// XAPI is running (false while it restarts or the host reboots).
    pub xapi_up: bool,
    /// Joined, restarted, but not yet synced with the master (enabled=false meanwhile).
    pub syncing: bool,
    /// Held half-joined by this `freeze_join` fault: answers `HOST_STILL_BOOTING` to everything.
    pub frozen_by: Option<String>,
    /// Bumped on every XAPI restart/crash/offline: open connections to the host are dropped.
    pub epoch: u64,
    /// Total memory.
    pub memory_total_mib: u64,
    /// Memory taken by dom0.
    pub dom0_mib: u64,
    /// Version / hardware / licence properties.
    pub knobs: HostKnobs,
    /// `host.other_config`.
    pub other_config: BTreeMap<String, String>,
    /// The host's local SR ref.
    pub local_sr: String,
    /// The control domain's VM ref.
    pub dom0: String,
    /// Last accepted `propose_new_master` (address, when); forgotten when XAPI restarts.
    pub proposed_master: Option<(Ipv4Addr, Instant)>,
    /// Lifecycle chain: bumped when a new timed sequence (restart, reboot) starts.
    pub chain: u64,
    /// Generation of the last change (event.from).
    pub gen: u64,
    /// Generation at which the record was created.
    pub created_gen: u64,
}

/// A pool record.
#[derive(Debug, Clone)]
pub struct Pool {
    /// `pool.uuid`.
    pub uuid: String,
    /// `pool.name_label`.
    pub name_label: String,
    /// `pool.master` as the database records it.
    pub master: HostId,
    /// `pool.ha_enabled`.
    pub ha_enabled: bool,
    /// `pool.tls_verification_enabled`.
    pub tls_verification: bool,
    /// `pool.other_config`.
    pub other_config: BTreeMap<String, String>,
    /// `current_operations`: task ref → op (`designate_new_master`).
    pub current_operations: BTreeMap<String, String>,
    /// Generation of the last change.
    pub gen: u64,
    /// Generation at creation.
    pub created_gen: u64,
}

/// A VM's disk placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disks {
    /// No VBDs: live-migratable anywhere in the pool.
    None,
    /// One VDI on a local SR; the SR may since have been forgotten by an eject.
    Local {
        /// The SR ref.
        sr: String,
        /// The VBD ref.
        vbd: String,
    },
}

/// A VM record.
#[derive(Debug, Clone)]
pub struct Vm {
    /// `VM.uuid`.
    pub uuid: String,
    /// `name_label`.
    pub name: String,
    /// The pool (database) the record lives in.
    pub pool: String,
    /// `power_state`.
    pub power_state: PowerState,
    /// `resident_on`.
    pub resident_on: Option<HostId>,
    /// `affinity`.
    pub affinity: Option<HostId>,
    /// `memory_static_min`, bytes.
    pub static_min: u64,
    /// `memory_static_max`, bytes.
    pub static_max: u64,
    /// `memory_dynamic_min`, bytes.
    pub dynamic_min: u64,
    /// `memory_dynamic_max`, bytes.
    pub dynamic_max: u64,
    /// `VCPUs_max`.
    pub vcpus: u32,
    /// Disks.
    pub disks: Disks,
    /// The passed-through PCI device's ref, if any (`VM_HAS_PCI_ATTACHED`).
    pub pci: Option<String>,
    /// `is_control_domain`.
    pub is_control_domain: bool,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
    /// `blocked_operations`: op → reason.
    pub blocked_operations: BTreeMap<String, String>,
    /// `current_operations`: task ref → op.
    pub current_operations: BTreeMap<String, String>,
    /// While migrating: the destination, whose memory is reserved.
    pub migrating_to: Option<HostId>,
    /// `domid` (-1 when halted).
    pub domid: i64,
    /// Generation of the last change.
    pub gen: u64,
    /// Generation at creation.
    pub created_gen: u64,
}

impl Vm {
    /// Whether the VM holds memory on its resident host.
    pub fn holds_memory(&self) -> bool {
        matches!(self.power_state, PowerState::Running | PowerState::Paused)
    }
}

/// A storage repository (only local SRs are modelled as objects).
#[derive(Debug, Clone)]
pub struct Sr {
    /// The host whose PBD plugs it.
    pub host: HostId,
}

/// Who a session belongs to.
#[derive(Debug, Clone)]
pub struct Session {
    /// The pool whose master issued it (normal sessions).
    pub pool: String,
    /// The issuing host.
    pub host: HostId,
    /// Made with `slave_local_login_with_password`: valid on `host` only.
    pub local: bool,
    /// User name.
    pub user: String,
    /// Originator.
    pub originator: String,
    /// Creation order (oldest are destroyed first beyond 500 per originator / user).
    pub seq: u64,
}

/// A task record.
#[derive(Debug, Clone)]
pub struct Task {
    /// `task.uuid`.
    pub uuid: String,
    /// The pool it lives in.
    pub pool: String,
    /// The host running it.
    pub host: HostId,
    /// `name_label` (`Async.VM.pool_migrate`).
    pub name_label: String,
    /// `status`.
    pub status: TaskStatus,
    /// `progress` 0–1.
    pub progress: f64,
    /// `result`: the XML-RPC-serialised return value.
    pub result: String,
    /// `error_info`.
    pub error_info: Vec<String>,
    /// `created`.
    pub created: SystemTime,
    /// `finished` (epoch until then).
    pub finished: Option<SystemTime>,
    /// Generation of the last change.
    pub gen: u64,
    /// Generation at creation.
    pub created_gen: u64,
}

/// A deleted object, kept so `event.from` can report `del`.
#[derive(Debug, Clone)]
pub struct Tombstone {
    /// Lower-case class (`host`, `vm`, `pool`, `task`).
    pub class: &'static str,
    /// The deleted ref.
    pub reference: String,
    /// The pool it belonged to.
    pub pool: String,
    /// Generation of the deletion.
    pub gen: u64,
}

/// The whole farm's state.
#[derive(Debug, Default)]
pub struct Db {
    /// Hosts by [`HostId`].
    pub hosts: Vec<Host>,
    /// Pools by ref.
    pub pools: BTreeMap<String, Pool>,
    /// VMs by ref.
    pub vms: BTreeMap<String, Vm>,
    /// SRs by ref.
    pub srs: BTreeMap<String, Sr>,
    /// Sessions by ref.
    pub sessions: HashMap<String, Session>,
    /// Tasks by ref.
    pub tasks: BTreeMap<String, Task>,
    /// Deleted objects.
    pub tombstones: Vec<Tombstone>,
    /// Generation counter: bumped on every change.
    pub gen: u64,
    /// Active faults in insertion order.
    pub faults: Vec<ActiveFault>,
    /// Next fault id.
    pub next_fault: u64,
    /// Calls received: host name → method → count.
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Sessions created so far.
    pub session_seq: u64,
}

/// A fresh `OpaqueRef:<uuid>`.
pub fn new_ref() -> String {
    format!("OpaqueRef:{}", uuid::Uuid::new_v4())
}

/// A fresh uuid.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Db {
    /// Bumps and returns the generation.
    pub fn bump(&mut self) -> u64 {
        self.gen += 1;
        self.gen
    }

    /// Marks a host changed.
    pub fn touch_host(&mut self, h: HostId) {
        let g = self.bump();
        self.hosts[h].gen = g;
    }

    /// Marks a VM changed.
    pub fn touch_vm(&mut self, vm: &str) {
        let g = self.bump();
        if let Some(v) = self.vms.get_mut(vm) {
            v.gen = g;
        }
    }

    /// Marks a pool changed.
    pub fn touch_pool(&mut self, pool: &str) {
        let g = self.bump();
        if let Some(p) = self.pools.get_mut(pool) {
            p.gen = g;
        }
    }

    /// Records a deletion for `event.from`.
    pub fn tombstone(&mut self, class: &'static str, reference: &str, pool: &str) {
        let gen = self.bump();
        self.tombstones.push(Tombstone {
            class,
            reference: reference.into(),
            pool: pool.into(),
            gen,
        });
    }

    /// Host by name.
    pub fn host_by_name(&self, name: &str) -> Option<HostId> {
        self.hosts.iter().position(|h| h.name == name)
    }

    /// Host by management address.
    pub fn host_by_address(&self, addr: &str) -> Option<HostId> {
        self.hosts
            .iter()
            .position(|h| h.address.to_string() == addr)
    }

    /// Host by current ref, if it is in `pool`.
    pub fn host_in_pool(&self, pool: &str, reference: &str) -> Option<HostId> {
        self.hosts
            .iter()
            .position(|h| h.reference == reference && h.pool.as_deref() == Some(pool))
    }

    /// Members of a pool, master included, in host order.
    pub fn members(&self, pool: &str) -> Vec<HostId> {
        (0..self.hosts.len())
            .filter(|&h| self.hosts[h].pool.as_deref() == Some(pool))
            .collect()
    }

    /// Whether a host's listener accepts connections (XAPI up and no `offline` fault).
    pub fn online(&self, h: HostId) -> bool {
        self.hosts[h].xapi_up && !self.offline_fault(h)
    }

    /// Whether an `offline` fault covers this host.
    pub fn offline_fault(&self, h: HostId) -> bool {
        let name = &self.hosts[h].name;
        self.faults.iter().any(|f| f.is_offline_for(name))
    }

    /// `host_metrics.live`: online and answering.
    pub fn live(&self, h: HostId) -> bool {
        self.online(h)
    }

    /// VMs (control domains included) resident on a host.
    pub fn resident_vms(&self, h: HostId) -> Vec<String> {
        self.vms
            .iter()
            .filter(|(_, v)| v.resident_on == Some(h))
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Memory in use on a host, bytes: dom0, resident VMs at `dynamic_min`, and reservations
    /// of VMs migrating in.
    pub fn memory_used(&self, h: HostId) -> u64 {
        let dom0 = self.hosts[h].dom0_mib * MIB;
        let resident: u64 = self
            .vms
            .values()
            .filter(|v| !v.is_control_domain && v.holds_memory())
            .filter(|v| v.resident_on == Some(h) || v.migrating_to == Some(h))
            .map(|v| v.dynamic_min)
            .sum();
        dom0 + resident
    }

    /// `host.compute_free_memory`, bytes (never negative).
    pub fn memory_free(&self, h: HostId) -> u64 {
        (self.hosts[h].memory_total_mib * MIB).saturating_sub(self.memory_used(h))
    }

    /// The master a host answers `HOST_IS_SLAVE` with, if it is a supporter.
    pub fn slave_of(&self, h: HostId) -> Option<Ipv4Addr> {
        match self.hosts[h].role {
            Role::Slave(addr) => Some(addr),
            Role::Master => None,
        }
    }

    /// Emergency mode: a supporter whose master is gone (no host at that address, or one
    /// taken offline). A master merely restarting its XAPI does not put members in emergency
    /// mode. Returns the stashed error.
    pub fn emergency_error(&self, h: HostId) -> Option<XapiError> {
        let addr = self.slave_of(h)?;
        let master_ok = self
            .host_by_address(&addr.to_string())
            .is_some_and(|m| !self.offline_fault(m));
        (!master_ok).then(|| XapiError::bare(ErrorCode::HOST_STILL_BOOTING))
    }

    /// Destroys every session issued for a pool (its master restarted or the role moved).
    pub fn kill_pool_sessions(&mut self, pool: &str) {
        self.sessions.retain(|_, s| s.local || s.pool != pool);
    }

    /// Destroys the slave-local sessions of a host (its XAPI restarted).
    pub fn kill_local_sessions(&mut self, h: HostId) {
        self.sessions.retain(|_, s| !(s.local && s.host == h));
    }

    /// Counts one call.
    pub fn count_call(&mut self, h: HostId, method: &str) {
        let host = self.hosts[h].name.clone();
        *self
            .calls
            .entry(host)
            .or_default()
            .entry(method.to_owned())
            .or_default() += 1;
    }
}
