//! The native API's wire types (request and response bodies), with their OpenAPI schemas.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::timefmt::native as ts;
use crate::store;

/// Reads a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A host aggregate.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Aggregate {
    /// Numeric id.
    pub id: i64,
    /// uuid4.
    pub uuid: String,
    /// Unique name.
    pub name: String,
    /// Availability zone or null.
    pub availability_zone: Option<String>,
    /// Member hosts in the order they were added.
    pub hosts: Vec<String>,
    /// Metadata, including `availability_zone` when set.
    pub metadata: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: String,
    /// Last change of any kind.
    pub updated_at: String,
    /// Agent-reported pool status, or null.
    pub status: Option<PoolStatus>,
}

/// Agent-reported status of a pool.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PoolStatus {
    /// `created`, `changing`, `active`, `error` or `dismissed`.
    pub operational_state: Option<String>,
    /// Each member's state and step.
    pub hosts: BTreeMap<String, HostPoolState>,
    /// Last error, or null.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// Time of the last report.
    pub updated_at: String,
}

/// One member's state in a pool.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HostPoolState {
    /// State word.
    pub state: Option<String>,
    /// Current step.
    pub step: Option<String>,
    /// Time of the report.
    pub updated_at: String,
}

impl From<&store::Aggregate> for Aggregate {
    fn from(a: &store::Aggregate) -> Aggregate {
        Aggregate {
            id: a.id,
            uuid: a.uuid.clone(),
            name: a.name.clone(),
            availability_zone: a.availability_zone.clone(),
            hosts: a.hosts.clone(),
            metadata: a.metadata_with_zone(),
            created_at: ts(a.created_at),
            updated_at: ts(a.changed_at),
            status: a.status.as_ref().map(|s| PoolStatus {
                operational_state: s.operational_state.clone(),
                hosts: s
                    .hosts
                    .iter()
                    .map(|(h, st)| {
                        (
                            h.clone(),
                            HostPoolState {
                                state: st.state.clone(),
                                step: st.step.clone(),
                                updated_at: ts(st.updated_at),
                            },
                        )
                    })
                    .collect(),
                error: s.error.clone(),
                updated_at: ts(s.updated_at),
            }),
        }
    }
}

/// `{"aggregates": [...]}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AggregateList {
    /// Aggregates in id order.
    pub aggregates: Vec<Aggregate>,
}

/// Body of `POST /v1/aggregates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAggregate {
    /// Name.
    pub name: String,
    /// Zone, optional.
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// Initial metadata (not `availability_zone`).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// Body of `PATCH /v1/aggregates/{agg}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAggregate {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New zone; null clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub availability_zone: Option<Option<String>>,
}

/// A registered host.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Host {
    /// Name.
    pub host_name: String,
    /// Availability zone.
    pub zone: String,
    /// `up` or `down` (heartbeat within `service_down_time`).
    pub state: String,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// Maintenance intent.
    pub maintenance: bool,
    /// XAPI URL.
    pub xapi_url: Option<String>,
    /// XenServer host UUID.
    pub xapi_uuid: Option<String>,
    /// Aggregates it is in.
    pub aggregates: Vec<String>,
    /// Last heartbeat.
    pub last_heartbeat_at: Option<String>,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Nova service id before 2.53.
    pub service_id: i64,
    /// Nova service id from 2.53.
    pub service_uuid: String,
    /// Registration time.
    pub created_at: String,
    /// Last change.
    pub updated_at: Option<String>,
}

impl Host {
    /// The wire form of `h`, with `up` computed by the caller.
    pub fn new(h: &store::Host, zone: String, up: bool) -> Host {
        Host {
            host_name: h.name.clone(),
            zone,
            state: if up { "up" } else { "down" }.to_string(),
            status: if h.disabled { "disabled" } else { "enabled" }.to_string(),
            disabled_reason: h.disabled_reason.clone(),
            maintenance: h.maintenance,
            xapi_url: h.xapi_url.clone(),
            xapi_uuid: h.xapi_uuid.clone(),
            aggregates: h.aggregates.clone(),
            last_heartbeat_at: h.last_heartbeat_at.map(ts),
            agent_version: h.agent_version.clone(),
            service_id: h.id,
            service_uuid: h.service_uuid.clone(),
            created_at: ts(h.created_at),
            updated_at: h.updated_at.map(ts),
        }
    }
}

/// `{"hosts": [...]}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HostList {
    /// Hosts by name.
    pub hosts: Vec<Host>,
}

/// Body of `POST /v1/hosts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterHost {
    /// Name.
    pub host_name: String,
    /// XAPI URL.
    #[serde(default)]
    pub xapi_url: Option<String>,
}

/// Body of `PATCH /v1/hosts/{host}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateHost {
    /// `enabled` or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// Reason; null clears.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub disabled_reason: Option<Option<String>>,
    /// XAPI URL.
    #[serde(default)]
    pub xapi_url: Option<String>,
}

/// Body of `PUT /v1/hosts/{host}/maintenance`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Enter (`true`) or leave (`false`) maintenance.
    pub enabled: bool,
    /// Only plan.
    #[serde(default)]
    pub dry_run: bool,
}

/// An availability zone.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Zone {
    /// Name.
    pub name: String,
    /// Hosts in it.
    pub hosts: Vec<String>,
    /// Some host in it is enabled.
    pub available: bool,
}

/// `{"zones": [...]}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ZoneList {
    /// Available zones by name, then unavailable ones.
    pub zones: Vec<Zone>,
}

/// Host capacity reported at registration.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Physical CPUs.
    pub cpu: i64,
    /// Memory in MiB.
    pub memory_mb: i64,
    /// Disk in GiB.
    pub disk_gb: i64,
}

/// Body of `POST /v1/agents/{host}/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRegister {
    /// XAPI URL of the host.
    pub xapi_url: String,
    /// XenServer host UUID.
    #[serde(default)]
    pub xapi_uuid: Option<String>,
    /// Agent version.
    pub agent_version: String,
    /// Capacity (shown by `os-hosts` show).
    #[serde(default)]
    pub resources: Option<Resources>,
}

/// A pool the host is in, with its members.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PoolView {
    /// The aggregate.
    pub aggregate: Aggregate,
    /// Its members.
    pub members: Vec<Host>,
}

/// Desired state for one host.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Desired {
    /// Store revision of this snapshot.
    pub revision: i64,
    /// The host.
    pub host: Host,
    /// Its aggregates.
    pub aggregates: Vec<Aggregate>,
    /// Its pools.
    pub pools: Vec<PoolView>,
    /// Its pending and running operations.
    pub operations: Vec<Operation>,
}

/// A host's state in one pool.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostState {
    /// State word.
    #[serde(default)]
    pub state: Option<String>,
    /// Current step.
    #[serde(default)]
    pub step: Option<String>,
}

/// Body of `POST /v1/agents/{host}/report`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Aggregate id, uuid or name.
    pub aggregate: String,
    /// Pool state.
    #[serde(default)]
    pub operational_state: Option<String>,
    /// Status metadata (`null` deletes).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: BTreeMap<String, Option<String>>,
    /// This host's state and step.
    #[serde(default)]
    pub host_state: Option<HostState>,
    /// Error (`null` clears).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<Option<Value>>,
}

/// Answer of `GET /v1/watch`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Watch {
    /// Current revision.
    pub revision: i64,
    /// Whether it exceeds `since`.
    pub changed: bool,
}

/// Body of `POST /v1/leases/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    /// Who holds it.
    pub holder: String,
    /// Lifetime, 1–3600 s.
    pub ttl_seconds: i64,
}

/// A granted lease.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Lease {
    /// Name.
    pub name: String,
    /// Holder.
    pub holder: String,
    /// Expiry.
    pub expires_at: String,
}

/// An operation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Operation {
    /// Id.
    pub id: i64,
    /// `maintenance_enable`, `maintenance_disable` or `plan`.
    pub kind: String,
    /// Host.
    pub host: String,
    /// State.
    pub state: String,
    /// 0..1.
    pub progress: f64,
    /// Plan only.
    pub dry_run: bool,
    /// Agent-supplied plan.
    #[schema(value_type = Option<Object>)]
    pub plan: Option<Value>,
    /// Per-VM results.
    #[schema(value_type = Vec<Object>)]
    pub vms: Value,
    /// Error.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The operation that replaced this one.
    pub superseded_by: Option<i64>,
    /// Requester's token name.
    pub requested_by: String,
    /// Creation.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Terminal time.
    pub finished_at: Option<String>,
}

impl From<&store::Operation> for Operation {
    fn from(o: &store::Operation) -> Operation {
        Operation {
            id: o.id,
            kind: o.kind.clone(),
            host: o.host.clone(),
            state: o.state.clone(),
            progress: o.progress,
            dry_run: o.dry_run,
            plan: o.plan.clone(),
            vms: o.vms.clone(),
            error: o.error.clone(),
            warnings: o.warnings.clone(),
            superseded_by: o.superseded_by,
            requested_by: o.requested_by.clone(),
            created_at: ts(o.created_at),
            updated_at: ts(o.updated_at),
            finished_at: o.finished_at.map(ts),
        }
    }
}

/// `{"operations": [...]}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperationList {
    /// Newest first.
    pub operations: Vec<Operation>,
}

/// Per-VM result of an operation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VmResult {
    /// VM name.
    pub name: String,
    /// Source host.
    #[serde(default)]
    pub from: Option<String>,
    /// Destination host.
    #[serde(default)]
    pub to: Option<String>,
    /// Outcome word.
    #[serde(default)]
    pub result: Option<String>,
    /// Error text.
    #[serde(default)]
    pub error: Option<String>,
}

/// Body of `PATCH /v1/operations/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationUpdate {
    /// New state.
    #[serde(default)]
    pub state: Option<String>,
    /// New progress.
    #[serde(default)]
    pub progress: Option<f64>,
    /// Plan.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub plan: Option<Value>,
    /// Per-VM results.
    #[serde(default)]
    pub vms: Option<Vec<VmResult>>,
    /// Error (`null` clears).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<Option<Value>>,
    /// Warnings.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// One change-log entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Id.
    pub id: i64,
    /// Time.
    pub at: String,
    /// Store revision, null for agent step events.
    pub revision: Option<i64>,
    /// Who.
    pub actor: String,
    /// Kind.
    pub kind: String,
    /// Aggregate name.
    pub aggregate: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Text.
    pub message: String,
    /// Details.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<&store::Event> for Event {
    fn from(e: &store::Event) -> Event {
        Event {
            id: e.id,
            at: ts(e.at),
            revision: e.revision,
            actor: e.actor.clone(),
            kind: e.kind.clone(),
            aggregate: e.aggregate.clone(),
            host: e.host.clone(),
            message: e.message.clone(),
            details: e.details.clone(),
        }
    }
}

/// `{"events": [...]}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    /// Oldest first.
    pub events: Vec<Event>,
}

/// Body of `POST /v1/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// Kind (`a–z 0–9 . _`, 1–64).
    pub kind: String,
    /// Aggregate name.
    #[serde(default)]
    pub aggregate: Option<String>,
    /// Host (admin only; agents' events carry their own host).
    #[serde(default)]
    pub host: Option<String>,
    /// Text.
    pub message: String,
    /// Details.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

/// The error envelope.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error itself.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code.
    pub code: String,
    /// Human text naming the thing and the fix.
    pub message: String,
    /// Structured details.
    #[schema(value_type = Object)]
    pub details: Value,
}
