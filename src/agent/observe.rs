//! Reading XAPI's facts for one reconcile pass: the pool, its hosts (with liveness and free
//! memory) and its guest VMs, mapped from refs to names. Nothing here is cached between passes.

use std::collections::BTreeMap;

use tracing::debug;

use crate::planner::{Blocker, EvacuationPolicy, Fact, HostFacts, VmFacts};
use crate::xenapi::{
    ErrorCode, HostRecord, PoolRecord, PowerState, Ref, Result, Session, VmRecord,
};

/// `other_config` key on a VM: the host it belongs on while it is away for maintenance.
pub const HOME_KEY: &str = "xenpool_home";
/// `other_config` key on a VM: set when xenpool shut it down for maintenance.
pub const HALTED_KEY: &str = "xenpool_halted_for_maintenance";
/// `other_config` key on a VM or aggregate metadata key: `migrate`, `shutdown` or `block`.
pub const POLICY_KEY: &str = "xenpool_evacuation";
/// `other_config` key on a host: xenpool disabled it for maintenance.
pub const MAINTENANCE_KEY: &str = "xenpool_maintenance";

/// Who this agent is in XAPI's terms.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The control plane's name for this host.
    pub name: String,
    /// The host part of this host's `xapi_url` (its management address).
    pub address: String,
}

/// One host of the pool as read this pass.
#[derive(Debug, Clone)]
pub struct ObservedHost {
    /// Its ref (valid for this session).
    pub reference: Ref,
    /// The control plane's name for it (its `name_label` when the control plane has none).
    pub name: String,
    /// Its record.
    pub record: HostRecord,
    /// `host_metrics.live`.
    pub live: bool,
    /// `host.compute_free_memory`, bytes.
    pub free_memory: u64,
}

/// Everything read this pass.
#[derive(Debug, Clone)]
pub struct Observation {
    /// This host's name.
    pub me: String,
    /// The pool's ref and record.
    pub pool: (Ref, PoolRecord),
    /// The pool's hosts, this one first.
    pub hosts: Vec<ObservedHost>,
    /// Guest VMs (no templates, snapshots or control domains) of the whole pool.
    pub vms: Vec<(Ref, VmRecord)>,
}

/// Names for the refs of one observation, to put in messages instead of opaque refs.
#[derive(Debug, Clone, Default)]
pub struct RefNames(BTreeMap<String, String>);

impl RefNames {
    /// Adds the names of the pool's storage repositories (`SR.get_all_records`), for errors
    /// such as `VM_REQUIRES_SR` that name an SR. A pool whose SRs cannot be read keeps refs.
    pub async fn with_storage(mut self, session: &Session) -> RefNames {
        #[derive(serde::Deserialize)]
        struct SrName {
            #[serde(default)]
            name_label: String,
        }
        if let Ok(srs) = session
            .call_as::<BTreeMap<Ref, SrName>>("SR.get_all_records", vec![])
            .await
        {
            self.0.extend(
                srs.into_iter()
                    .map(|(r, sr)| (r.to_string(), sr.name_label)),
            );
        }
        self
    }

    /// The name of the host or VM that ref `value` names, or `value` itself.
    pub fn name(&self, value: &str) -> String {
        self.0
            .get(value)
            .cloned()
            .unwrap_or_else(|| value.to_owned())
    }

    /// An XAPI error as `CODE [params]` with refs replaced by names; other errors as they are.
    pub fn describe(&self, error: &crate::xenapi::XenApiError) -> String {
        match error.code() {
            Some(code) => {
                let params: Vec<String> = error.params().iter().map(|p| self.name(p)).collect();
                format!("{code} [{}]", params.join(", "))
            }
            None => error.to_string(),
        }
    }
}

impl Observation {
    /// Names for every host and VM ref of this observation.
    pub fn ref_names(&self) -> RefNames {
        let hosts = self
            .hosts
            .iter()
            .map(|h| (h.reference.to_string(), h.name.clone()));
        let vms = self
            .vms
            .iter()
            .map(|(r, v)| (r.to_string(), v.name_label.clone()));
        RefNames(hosts.chain(vms).collect())
    }

    /// This host.
    pub fn my_host(&self) -> &ObservedHost {
        &self.hosts[0]
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&ObservedHost> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// A host's name for messages: its name if it is one of the pool's, else the ref itself.
    pub fn host_name(&self, reference: &Ref) -> String {
        self.hosts
            .iter()
            .find(|h| h.reference == *reference)
            .map(|h| h.name.clone())
            .unwrap_or_else(|| reference.to_string())
    }

    /// The master's name.
    pub fn master_name(&self) -> String {
        self.host_name(&self.pool.1.master)
    }

    /// The VM with uuid `uuid`.
    pub fn vm(&self, uuid: &str) -> Option<&(Ref, VmRecord)> {
        self.vms.iter().find(|(_, v)| v.uuid == uuid)
    }

    /// Running guests resident on this host.
    pub fn my_running_vms(&self) -> impl Iterator<Item = &(Ref, VmRecord)> {
        let me = self.my_host().reference.clone();
        self.vms
            .iter()
            .filter(move |(_, v)| v.resident_on == me && v.power_state != PowerState::Halted)
    }

    /// The planner's view of the pool's hosts.
    pub fn host_facts(&self) -> Vec<HostFacts> {
        self.hosts
            .iter()
            .map(|h| HostFacts {
                name: h.name.clone(),
                enabled: h.record.enabled,
                live: h.live,
                free_memory: h.free_memory,
            })
            .collect()
    }

    /// The planner's view of the pool's guests. `default_policy` applies where the VM's
    /// `other_config` names none; `blockers` holds XAPI's per-VM evacuation blockers by uuid.
    pub fn vm_facts(
        &self,
        default_policy: EvacuationPolicy,
        blockers: &BTreeMap<String, Blocker>,
    ) -> Vec<VmFacts> {
        self.vms
            .iter()
            .map(|(_, v)| VmFacts {
                name: v.name_label.clone(),
                uuid: v.uuid.clone(),
                resident_on: (!v.resident_on.is_null()).then(|| self.host_name(&v.resident_on)),
                power_state: v.power_state,
                memory: vm_memory(v),
                policy: v
                    .other_config
                    .get(POLICY_KEY)
                    .and_then(|p| EvacuationPolicy::parse(p))
                    .unwrap_or(default_policy),
                blockers: blockers.get(&v.uuid).cloned().into_iter().collect(),
                allowed_hosts: None,
                home: v.other_config.get(HOME_KEY).cloned(),
                halted_for_maintenance: v.other_config.get(HALTED_KEY).is_some_and(|x| x == "true"),
            })
            .collect()
    }

    /// The pool step decider's view of this pass. `awaiting_sync`, `named_by_xenpool` and
    /// `managed` come from the journal.
    pub fn fact(&self, awaiting_sync: bool, named_by_xenpool: bool, managed: bool) -> Fact {
        Fact {
            host: self.me.clone(),
            pool_name: self.pool.1.name_label.clone(),
            master: self.master_name(),
            members: self.host_facts(),
            running_vms: self
                .my_running_vms()
                .map(|(_, v)| v.name_label.clone())
                .collect(),
            maintenance_marker: self
                .my_host()
                .record
                .other_config
                .get(MAINTENANCE_KEY)
                .is_some_and(|x| x == "true"),
            awaiting_sync: awaiting_sync && !self.my_host().record.enabled,
            named_by_xenpool,
            managed,
        }
    }
}

/// Bytes a migration target must have free for `vm`: XAPI checks `memory_dynamic_min` (plus
/// shadow overhead); records without it fall back to `memory_static_max`.
pub fn vm_memory(vm: &VmRecord) -> u64 {
    let min = vm.memory_dynamic_min.max(0) as u64;
    if min > 0 {
        min
    } else {
        vm.memory_static_max.max(0) as u64
    }
}

/// Reads the pool this session sees. `names` maps XAPI host uuids to control-plane names.
pub async fn observe(
    session: &Session,
    me: &Identity,
    names: &BTreeMap<String, String>,
) -> Result<Observation> {
    let pools = session.pool_get_all_records().await?;
    let pool = pools
        .into_iter()
        .next()
        .ok_or_else(|| crate::xenapi::XenApiError::Protocol {
            method: "pool.get_all_records".into(),
            host_url: session.url().to_string(),
            message: "no pool object".into(),
        })?;
    let records = session.host_get_all_records().await?;
    let mut hosts = Vec::with_capacity(records.len());
    for (reference, record) in records {
        let live = if record.metrics.is_null() {
            true
        } else {
            session
                .host_metrics_get_record(&record.metrics)
                .await
                .map(|m| m.live)
                .unwrap_or(false)
        };
        let free_memory = match session.host_compute_free_memory(&reference).await {
            Ok(bytes) => bytes.max(0) as u64,
            // The host left the pool since the listing (an eject under way): not a member.
            Err(e) if e.is(&ErrorCode::HANDLE_INVALID) => continue,
            Err(e) => return Err(e),
        };
        let name = names
            .get(&record.uuid)
            .cloned()
            .unwrap_or_else(|| record.name_label.clone());
        hosts.push(ObservedHost {
            reference,
            name,
            record,
            live,
            free_memory,
        });
    }
    let mine = hosts
        .iter()
        .position(|h| h.record.address == me.address)
        .or_else(|| hosts.iter().position(|h| h.name == me.name))
        .ok_or_else(|| crate::xenapi::XenApiError::Protocol {
            method: "host.get_all_records".into(),
            host_url: session.url().to_string(),
            message: format!(
                "no host of this pool has address {} or name {}; check xapi_url and host in the agent config",
                me.address, me.name
            ),
        })?;
    hosts.swap(0, mine);
    hosts[0].name = me.name.clone();
    let vms = session
        .vm_get_all_records()
        .await?
        .into_iter()
        .filter(|(_, v)| v.is_guest())
        .collect();
    debug!(hosts = hosts.len(), "observed pool");
    Ok(Observation {
        me: me.name.clone(),
        pool,
        hosts,
        vms,
    })
}
