//! The records the store hands out and the requests it takes.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::Micros;

/// The metadata key that holds an aggregate's availability zone on the wire.
pub const AZ_KEY: &str = "availability_zone";

/// How a caller names an aggregate: numeric id, uuid or name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AggRef {
    /// Numeric id.
    Id(i64),
    /// Its uuid.
    Uuid(String),
    /// Its name.
    Name(String),
}

impl AggRef {
    /// Reads a path segment: an integer is an id, a UUID a uuid, anything else a name.
    pub fn parse(s: &str) -> AggRef {
        if let Ok(id) = s.parse::<i64>() {
            AggRef::Id(id)
        } else if uuid::Uuid::parse_str(s).is_ok() {
            AggRef::Uuid(s.to_ascii_lowercase())
        } else {
            AggRef::Name(s.to_string())
        }
    }
}

impl fmt::Display for AggRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AggRef::Id(id) => write!(f, "{id}"),
            AggRef::Uuid(s) | AggRef::Name(s) => f.write_str(s),
        }
    }
}

/// A host aggregate with its members, metadata and reported pool status.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// Numeric id (Nova's `id`).
    pub id: i64,
    /// Random uuid4 given at create.
    pub uuid: String,
    /// Unique name.
    pub name: String,
    /// Availability zone, if any.
    pub availability_zone: Option<String>,
    /// Member host names in the order they were added.
    pub hosts: Vec<String>,
    /// Metadata without the availability zone.
    pub metadata: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: Micros,
    /// Nova's `updated_at`: the last rename, if any.
    pub updated_at: Option<Micros>,
    /// The last change of any kind.
    pub changed_at: Micros,
    /// What agents reported about the pool, if anything.
    pub status: Option<PoolStatus>,
}

impl Aggregate {
    /// Metadata as Nova shows it: including `availability_zone` when set.
    pub fn metadata_with_zone(&self) -> BTreeMap<String, String> {
        let mut m = self.metadata.clone();
        if let Some(az) = &self.availability_zone {
            m.insert(AZ_KEY.to_string(), az.clone());
        }
        m
    }
}

/// Agent-reported status of an aggregate's pool.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolStatus {
    /// `created`, `changing`, `active`, `error` or `dismissed`.
    pub operational_state: Option<String>,
    /// The last error reported, if not cleared.
    pub error: Option<Value>,
    /// Each member's state and step.
    pub hosts: BTreeMap<String, HostPoolState>,
    /// Time of the last report.
    pub updated_at: Micros,
}

/// One member's state within a pool.
#[derive(Clone, Debug, PartialEq)]
pub struct HostPoolState {
    /// Agent-defined state word (e.g. `joined`).
    pub state: Option<String>,
    /// The step in progress, if any.
    pub step: Option<String>,
    /// Time of the report.
    pub updated_at: Micros,
}

/// A registered compute host.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    /// Numeric id (the Nova service id before 2.53).
    pub id: i64,
    /// Host name.
    pub name: String,
    /// Service uuid (the Nova service id from 2.53).
    pub service_uuid: String,
    /// XAPI URL the agent reported or the admin registered.
    pub xapi_url: Option<String>,
    /// XenServer host UUID.
    pub xapi_uuid: Option<String>,
    /// Version of the agent that registered.
    pub agent_version: Option<String>,
    /// Last heartbeat.
    pub last_heartbeat_at: Option<Micros>,
    /// Service disabled for scheduling.
    pub disabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Nova's forced_down flag.
    pub forced_down: bool,
    /// Maintenance intent.
    pub maintenance: bool,
    /// Capacity the agent reported, if it did.
    pub resources: Option<Resources>,
    /// Registration time.
    pub created_at: Micros,
    /// Last change of the record.
    pub updated_at: Option<Micros>,
    /// Names of the aggregates it is in, by aggregate id.
    pub aggregates: Vec<String>,
    /// Zones of those aggregates that have one, by aggregate id, duplicates removed.
    pub zones: Vec<String>,
}

impl Host {
    /// The host's availability zone: its aggregates' zone(s), or `default`.
    pub fn zone(&self, default: &str) -> String {
        if self.zones.is_empty() {
            default.to_string()
        } else {
            self.zones.join(",")
        }
    }

    /// `up` while the last heartbeat is within `down_after_micros` of `now` and not forced down.
    pub fn is_up(&self, now: Micros, down_after_micros: i64) -> bool {
        !self.forced_down
            && self
                .last_heartbeat_at
                .is_some_and(|t| now.saturating_sub(t) <= down_after_micros)
    }
}

/// A host's capacity as its agent reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resources {
    /// Physical CPUs.
    pub cpu: i64,
    /// Memory in MiB.
    pub memory_mb: i64,
    /// Local disk in GiB.
    pub disk_gb: i64,
}

/// Kinds of operation.
pub const OP_KINDS: [&str; 3] = ["maintenance_enable", "maintenance_disable", "plan"];
/// States of an operation; the last four are terminal.
pub const OP_STATES: [&str; 6] = [
    "pending",
    "running",
    "succeeded",
    "failed",
    "superseded",
    "completed_with_warnings",
];

/// Whether `state` is terminal.
pub fn op_state_is_terminal(state: &str) -> bool {
    !matches!(state, "pending" | "running")
}

/// A unit of work for one host's agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// Id.
    pub id: i64,
    /// One of [`OP_KINDS`].
    pub kind: String,
    /// Host that carries it out.
    pub host: String,
    /// One of [`OP_STATES`].
    pub state: String,
    /// 0..=1.
    pub progress: f64,
    /// Plan only, no action.
    pub dry_run: bool,
    /// Agent-supplied plan.
    pub plan: Option<Value>,
    /// Per-VM results (array).
    pub vms: Value,
    /// Error object, if failed.
    pub error: Option<Value>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The operation that replaced this one.
    pub superseded_by: Option<i64>,
    /// Token name of the requester.
    pub requested_by: String,
    /// Creation time.
    pub created_at: Micros,
    /// Last change.
    pub updated_at: Micros,
    /// Time it reached a terminal state.
    pub finished_at: Option<Micros>,
}

/// Fields an agent or admin may change on an operation; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct OperationPatch {
    /// New state (not `superseded`).
    pub state: Option<String>,
    /// New progress.
    pub progress: Option<f64>,
    /// New plan.
    pub plan: Option<Value>,
    /// New per-VM results.
    pub vms: Option<Value>,
    /// New error (`Some(None)` clears).
    pub error: Option<Option<Value>>,
    /// New warnings.
    pub warnings: Option<Vec<String>>,
}

/// Filters for listing operations.
#[derive(Clone, Debug, Default)]
pub struct OperationFilter {
    /// Only this host's.
    pub host: Option<String>,
    /// Only in this state.
    pub state: Option<String>,
    /// Only of this kind.
    pub kind: Option<String>,
    /// At most this many (newest first).
    pub limit: i64,
}

/// One entry of the change log.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Id (ascending in commit order).
    pub id: i64,
    /// Time.
    pub at: Micros,
    /// Store revision of the change; `None` for agent step events.
    pub revision: Option<i64>,
    /// Token name of who made it.
    pub actor: String,
    /// Kind, e.g. `aggregate.host_added`.
    pub kind: String,
    /// Aggregate name concerned.
    pub aggregate: Option<String>,
    /// Host concerned.
    pub host: Option<String>,
    /// Human text.
    pub message: String,
    /// Structured details.
    pub details: Value,
}

/// Filters for listing events.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only ids greater than this.
    pub since: i64,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this host.
    pub host: Option<String>,
    /// Only this aggregate name.
    pub aggregate: Option<String>,
    /// At most this many (oldest first).
    pub limit: i64,
}

/// A granted lease.
#[derive(Clone, Debug, PartialEq)]
pub struct Lease {
    /// Lease name.
    pub name: String,
    /// Holder.
    pub holder: String,
    /// Expiry.
    pub expires_at: Micros,
}

/// A member pool of a host with the members' records.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolView {
    /// The aggregate (has a `hypervisor_pool` key).
    pub aggregate: Aggregate,
    /// Its member hosts.
    pub members: Vec<Host>,
}

/// Everything one agent needs for one reconcile pass, read in one snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Revision of the snapshot.
    pub revision: i64,
    /// The host itself.
    pub host: Host,
    /// Aggregates it is in.
    pub aggregates: Vec<Aggregate>,
    /// Those that are pools, with members.
    pub pools: Vec<PoolView>,
    /// Its pending and running operations, oldest first.
    pub operations: Vec<Operation>,
}

/// An agent's status report for one aggregate.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Pool state word.
    pub operational_state: Option<String>,
    /// Status metadata keys to set (`None` deletes).
    pub metadata: BTreeMap<String, Option<String>>,
    /// This host's state and step.
    pub host_state: Option<(Option<String>, Option<String>)>,
    /// Error to record (`Some(None)` clears).
    pub error: Option<Option<Value>>,
}

/// Pool states an agent may report.
pub const OPERATIONAL_STATES: [&str; 5] = ["created", "changing", "active", "error", "dismissed"];
