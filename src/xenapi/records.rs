//! Typed XenAPI records (the fields xenpool reads), decoded straight from XML-RPC. Field names
//! are XAPI's (`ocaml/idl/datamodel*.ml`); unknown fields are ignored, int64 fields arrive as
//! decimal strings and are parsed by the codec, missing optional fields take their defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use xenpool_xapi_types::{EventOperation, PowerState, Ref, TaskStatus};
use xenpool_xmlrpc::{DateTime, Value};

/// A string → string map field (`other_config`, `software_version`, …).
pub type StringMap = BTreeMap<String, String>;

/// `pool` record.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PoolRecord {
    /// Permanent identifier.
    pub uuid: String,
    /// The pool's name (`""` on a fresh standalone host).
    pub name_label: String,
    /// Free-text description.
    pub name_description: String,
    /// The master host.
    pub master: Ref,
    /// Whether HA is enabled (blocks join, eject, designate).
    pub ha_enabled: bool,
    /// `vendor`, `features`, … of the pool's common CPU level.
    pub cpu_info: StringMap,
    /// Whether intra-pool TLS verification is on (must match for joins).
    pub tls_verification_enabled: bool,
    /// Operations in progress: task ref → operation.
    pub current_operations: StringMap,
    /// Free-form configuration.
    pub other_config: StringMap,
}

/// `host` record.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HostRecord {
    /// Permanent identifier.
    pub uuid: String,
    /// Display name.
    pub name_label: String,
    /// The host's own host name.
    pub hostname: String,
    /// Management IP address (what `pool.join` and `HOST_IS_SLAVE` use).
    pub address: String,
    /// `false` while disabled (maintenance, or just joined and still syncing).
    pub enabled: bool,
    /// VMs resident here, the control domain included.
    #[serde(rename = "resident_VMs")]
    pub resident_vms: Vec<Ref>,
    /// The `host_metrics` object (memory, liveness).
    pub metrics: Ref,
    /// Bytes of memory used by the host itself (Xen and dom0 overhead).
    pub memory_overhead: i64,
    /// `product_version`, `product_brand`, `platform_version`, `xapi`, …
    pub software_version: StringMap,
    /// `vendor`, `speed`, `modelname`, …
    pub cpu_info: StringMap,
    /// The control domain (dom0) VM.
    pub control_domain: Ref,
    /// XenAPI major version.
    #[serde(rename = "API_version_major")]
    pub api_version_major: i64,
    /// XenAPI minor version.
    #[serde(rename = "API_version_minor")]
    pub api_version_minor: i64,
    /// Licence edition.
    pub edition: String,
    /// Operations in progress: task ref → operation.
    pub current_operations: StringMap,
    /// Free-form configuration (xenpool keeps VM homes here).
    pub other_config: StringMap,
}

/// `host_metrics` record.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HostMetricsRecord {
    /// Permanent identifier.
    pub uuid: String,
    /// Total host memory in bytes.
    pub memory_total: i64,
    /// Free host memory in bytes (deprecated by XAPI in favour of `host.compute_free_memory`).
    pub memory_free: i64,
    /// Whether the master hears from the host.
    pub live: bool,
}

/// `VM` record.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct VmRecord {
    /// Permanent identifier.
    pub uuid: String,
    /// Display name.
    #[serde(default)]
    pub name_label: String,
    /// `Halted`, `Paused`, `Running` or `Suspended`.
    pub power_state: PowerState,
    /// The host it runs on; `OpaqueRef:NULL` when not running.
    #[serde(default)]
    pub resident_on: Ref,
    /// Preferred host for starting.
    #[serde(default)]
    pub affinity: Ref,
    /// Templates are not VMs to move.
    #[serde(default)]
    pub is_a_template: bool,
    /// Snapshots are not VMs to move.
    #[serde(default)]
    pub is_a_snapshot: bool,
    /// dom0 (and other control domains) never move.
    #[serde(default)]
    pub is_control_domain: bool,
    /// Static maximum memory, bytes.
    #[serde(default)]
    pub memory_static_max: i64,
    /// Static minimum memory, bytes.
    #[serde(default)]
    pub memory_static_min: i64,
    /// Dynamic maximum memory, bytes.
    #[serde(default)]
    pub memory_dynamic_max: i64,
    /// Dynamic minimum memory, bytes (what a migration target must have free).
    #[serde(default)]
    pub memory_dynamic_min: i64,
    /// Current balloon target, bytes.
    #[serde(default)]
    pub memory_target: i64,
    /// Maximum vCPUs.
    #[serde(default, rename = "VCPUs_max")]
    pub vcpus_max: i64,
    /// Xen domain id, `-1` when not running.
    #[serde(default)]
    pub domid: i64,
    /// Virtual block devices.
    #[serde(default, rename = "VBDs")]
    pub vbds: Vec<Ref>,
    /// Virtual network interfaces.
    #[serde(default, rename = "VIFs")]
    pub vifs: Vec<Ref>,
    /// Operation → reason, for operations an operator blocked.
    #[serde(default)]
    pub blocked_operations: StringMap,
    /// Operations in progress: task ref → operation.
    #[serde(default)]
    pub current_operations: StringMap,
    /// Free-form configuration (xenpool keeps the VM's home host here).
    #[serde(default)]
    pub other_config: StringMap,
}

impl VmRecord {
    /// A guest VM (not a template, snapshot or control domain).
    pub fn is_guest(&self) -> bool {
        !self.is_a_template && !self.is_a_snapshot && !self.is_control_domain
    }
}

/// `task` record.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TaskRecord {
    /// Permanent identifier.
    #[serde(default)]
    pub uuid: String,
    /// The call the task runs, e.g. `Async.VM.pool_migrate`.
    #[serde(default)]
    pub name_label: String,
    /// `pending`, `success`, `failure`, `cancelling`, `cancelled`.
    pub status: TaskStatus,
    /// 0.0 – 1.0.
    #[serde(default)]
    pub progress: f64,
    /// The XML-RPC-serialised result (`<value>…</value>`), when `success`.
    #[serde(default)]
    pub result: String,
    /// `[CODE, params…]`, when `failure`.
    #[serde(default)]
    pub error_info: Vec<String>,
    /// When the task was created.
    #[serde(default)]
    pub created: Option<DateTime>,
    /// When the task finished.
    #[serde(default)]
    pub finished: Option<DateTime>,
}

/// One `event.from` event record.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct EventRecord {
    /// Event number.
    #[serde(default)]
    pub id: i64,
    /// The lower-cased class, e.g. `task`, `vm`, `host`.
    pub class: String,
    /// `add`, `mod` or `del`.
    pub operation: EventOperation,
    /// The object the event is about.
    #[serde(rename = "ref")]
    pub reference: Ref,
    /// The object's full record (absent for `del`).
    #[serde(default)]
    pub snapshot: Option<Value>,
}

/// The result of `event.from`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct EventBatch {
    /// The events since the token passed in.
    #[serde(default)]
    pub events: Vec<EventRecord>,
    /// Live object count per subscribed class.
    #[serde(default)]
    pub valid_ref_counts: BTreeMap<String, i64>,
    /// The token to pass to the next `event.from`.
    pub token: String,
}
