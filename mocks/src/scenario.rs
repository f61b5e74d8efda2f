//! Scenario files (TOML): which hosts the farm has, their versions, hardware and licence
//! knobs, and their VMs. `mocks/README.md` documents the format; `mocks/scenarios/` has examples.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Deserialize;
use xenpool_xapi_types::PowerState;

use crate::farm::FarmOptions;
use crate::lifecycle;
use crate::pool;
use crate::state::{new_ref, new_uuid, Db, Disks, Host, HostKnobs, Role, Vm, MIB};

/// A scenario file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The hosts, in farm order (the first gets 127.0.0.2). Empty: the `--hosts` defaults.
    #[serde(default)]
    pub hosts: Vec<HostSpec>,
}

/// One `[[hosts]]` table. Every key but `name` is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Host name (required).
    pub name: String,
    /// Total memory, MiB.
    pub memory_mib: Option<u64>,
    /// Memory dom0 takes, MiB.
    pub dom0_memory_mib: Option<u64>,
    /// `software_version.product_version`.
    pub software_version: Option<String>,
    /// CPU vendor.
    pub cpu_vendor: Option<String>,
    /// `software_version.platform_version`.
    pub platform_version: Option<String>,
    /// `software_version.product_brand`.
    pub product_brand: Option<String>,
    /// `"major.minor"`.
    pub api_version: Option<String>,
    /// Licence edition.
    pub edition: Option<String>,
    /// Pooling licensed (default true).
    pub pooling_licensed: Option<bool>,
    /// Restricted edition: pools of at most 3 hosts.
    pub pool_size_restricted: Option<bool>,
    /// Management interface missing (still booting).
    pub booting: Option<bool>,
    /// HA enabled on its pool.
    pub ha_enabled: Option<bool>,
    /// A shared SR attached.
    pub shared_sr: Option<bool>,
    /// Bonds configured.
    pub bonds: Option<bool>,
    /// Tunnels configured.
    pub tunnels: Option<bool>,
    /// Network SR-IOV configured.
    pub sriovs: Option<bool>,
    /// Non-management VLANs configured.
    pub non_management_vlans: Option<bool>,
    /// Management VLAN tag (-1 untagged).
    pub management_vlan: Option<i64>,
    /// `pool.tls_verification_enabled`.
    pub tls_verification: Option<bool>,
    /// Applied updates (homogeneity check, not skipped by force).
    pub updates: Option<Vec<String>>,
    /// Whether `host.disable` takes `auto_enable` (default true).
    pub supports_auto_enable: Option<bool>,
    /// Clustering enabled.
    pub clustering: Option<bool>,
    /// Mandatory update guidance pending.
    pub pending_guidance: Option<bool>,
    /// External auth type (`""` none, `"AD"`).
    pub external_auth: Option<String>,
    /// `openvswitch` (default) or `bridge`.
    pub network_backend: Option<String>,
    /// Database schema `major.minor`.
    pub db_schema: Option<String>,
    /// `apply_updates` in progress.
    pub upgrading: Option<bool>,
    /// Start as a member of this (earlier, standalone) host's pool.
    pub member_of: Option<String>,
    /// `other_config`.
    pub other_config: Option<BTreeMap<String, String>>,
    /// VMs; absent: `--vms-per-host` default VMs; `[]`: none.
    pub vms: Option<Vec<VmSpec>>,
}

/// One `[[hosts.vms]]` table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    /// `name_label` (required).
    pub name: String,
    /// Memory, MiB (static max = dynamic min = dynamic max).
    pub memory_mib: Option<u64>,
    /// `Running` (default), `Halted`, `Suspended` or `Paused`.
    pub power_state: Option<String>,
    /// `none` (default, diskless) or `local` (a VDI on the host's local SR).
    pub disks: Option<String>,
    /// A PCI device passed through.
    pub pci: Option<bool>,
    /// `blocked_operations` (op → reason).
    pub blocked_operations: Option<BTreeMap<String, String>>,
    /// `other_config`.
    pub other_config: Option<BTreeMap<String, String>>,
}

/// A scenario that cannot be used, with the reason.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("scenario {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("scenario: {0}")]
    Parse(String),
    /// A value is out of range or inconsistent.
    #[error("scenario: {0}")]
    Invalid(String),
}

impl Scenario {
    /// Parses scenario TOML.
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))
    }

    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::from_toml(&text)
    }
}

fn invalid(msg: String) -> ScenarioError {
    ScenarioError::Invalid(msg)
}

/// The host list the options describe: the scenario's, or `hosts` default hosts.
fn host_specs(opts: &FarmOptions) -> Vec<HostSpec> {
    match &opts.scenario {
        Some(s) if !s.hosts.is_empty() => s.hosts.clone(),
        _ => (1..=opts.hosts)
            .map(|i| HostSpec {
                name: format!("xs{i}"),
                ..HostSpec::default()
            })
            .collect(),
    }
}

/// The loopback address of the farm's `i`-th host: 127.0.0.2, 127.0.0.3, …
pub fn host_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + i as u32)
}

/// Largest farm: stays inside 127.0.0.0/8.
pub const MAX_HOSTS: usize = 60_000;

fn knobs(spec: &HostSpec) -> Result<HostKnobs, ScenarioError> {
    let d = HostKnobs::default();
    let api_version = match &spec.api_version {
        None => d.api_version,
        Some(v) => {
            let parsed = v
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
            parsed.ok_or_else(|| {
                invalid(format!(
                    "host {}: api_version {v:?} is not \"major.minor\"",
                    spec.name
                ))
            })?
        }
    };
    Ok(HostKnobs {
        software_version: spec.software_version.clone().unwrap_or(d.software_version),
        cpu_vendor: spec.cpu_vendor.clone().unwrap_or(d.cpu_vendor),
        platform_version: spec.platform_version.clone().unwrap_or(d.platform_version),
        product_brand: spec.product_brand.clone().unwrap_or(d.product_brand),
        api_version,
        edition: spec.edition.clone().unwrap_or(d.edition),
        pooling_licensed: spec.pooling_licensed.unwrap_or(d.pooling_licensed),
        pool_size_restricted: spec.pool_size_restricted.unwrap_or(d.pool_size_restricted),
        management_ip: !spec.booting.unwrap_or(false),
        ha_enabled: spec.ha_enabled.unwrap_or(d.ha_enabled),
        shared_sr: spec.shared_sr.unwrap_or(d.shared_sr),
        bonds: spec.bonds.unwrap_or(d.bonds),
        tunnels: spec.tunnels.unwrap_or(d.tunnels),
        sriovs: spec.sriovs.unwrap_or(d.sriovs),
        non_management_vlans: spec.non_management_vlans.unwrap_or(d.non_management_vlans),
        management_vlan: spec.management_vlan.unwrap_or(d.management_vlan),
        tls_verification: spec.tls_verification.unwrap_or(d.tls_verification),
        updates: spec.updates.clone().unwrap_or(d.updates),
        supports_auto_enable: spec.supports_auto_enable.unwrap_or(d.supports_auto_enable),
        cluster_host: spec.clustering.unwrap_or(false).then(new_ref),
        pending_guidance: spec.pending_guidance.unwrap_or(d.pending_guidance),
        external_auth: spec.external_auth.clone().unwrap_or(d.external_auth),
        network_backend: spec.network_backend.clone().unwrap_or(d.network_backend),
        db_schema: spec.db_schema.clone().unwrap_or(d.db_schema),
        upgrading: spec.upgrading.unwrap_or(d.upgrading),
    })
}

fn default_vms(opts: &FarmOptions, host: &str) -> Vec<VmSpec> {
    (1..=opts.vms_per_host)
        .map(|k| VmSpec {
            name: format!("{host}-vm{k}"),
            memory_mib: Some(opts.vm_memory_mib),
            ..VmSpec::default()
        })
        .collect()
}

/// Builds the farm's initial database: every host a fresh standalone master with its VMs,
/// then the scenario's `member_of` hosts joined (without prechecks) to their masters.
pub fn build(opts: &FarmOptions) -> Result<Db, ScenarioError> {
    let specs = host_specs(opts);
    if specs.is_empty() || specs.len() > MAX_HOSTS {
        return Err(invalid(format!(
            "the farm needs 1 to {MAX_HOSTS} hosts, got {}",
            specs.len()
        )));
    }
    let mut db = Db::default();
    for (i, spec) in specs.iter().enumerate() {
        if spec.name.is_empty() {
            return Err(invalid(format!("host #{} has no name", i + 1)));
        }
        if specs[..i].iter().any(|s| s.name == spec.name) {
            return Err(invalid(format!("host name {:?} is used twice", spec.name)));
        }
        db.hosts.push(Host {
            name: spec.name.clone(),
            name_label: spec.name.clone(),
            address: host_address(i),
            uuid: String::new(),
            reference: String::new(),
            metrics: String::new(),
            pool: None,
            role: Role::Master,
            enabled: true,
            disabled_persist: false,
            xapi_up: true,
            syncing: false,
            frozen_by: None,
            epoch: 0,
            memory_total_mib: spec.memory_mib.unwrap_or(opts.host_memory_mib),
            dom0_mib: spec.dom0_memory_mib.unwrap_or(opts.dom0_memory_mib),
            knobs: knobs(spec)?,
            other_config: BTreeMap::new(),
            local_sr: String::new(),
            dom0: String::new(),
            proposed_master: None,
            chain: 0,
            gen: 0,
            created_gen: 0,
        });
        lifecycle::fresh_install(&mut db, i);
        db.hosts[i].other_config = spec.other_config.clone().unwrap_or_default();
        let vms = spec
            .vms
            .clone()
            .unwrap_or_else(|| default_vms(opts, &spec.name));
        for vm in &vms {
            add_vm(&mut db, i, vm, opts)?;
        }
        let (used, total) = (db.memory_used(i), db.hosts[i].memory_total_mib * MIB);
        if used > total {
            return Err(invalid(format!(
                "host {}: dom0 and running VMs need {} MiB but the host has {} MiB",
                spec.name,
                used / MIB,
                total / MIB
            )));
        }
    }
    for (i, spec) in specs.iter().enumerate() {
        let Some(master) = &spec.member_of else {
            continue;
        };
        let m = db.host_by_name(master).filter(|&m| m < i).ok_or_else(|| {
            invalid(format!(
                "host {}: member_of {master:?} names no earlier host",
                spec.name
            ))
        })?;
        if specs[m].member_of.is_some() {
            return Err(invalid(format!(
                "host {}: member_of {master:?}, which is itself a member",
                spec.name
            )));
        }
        pool::commit_join(&mut db, i, m);
        db.hosts[i].enabled = true;
        db.hosts[i].syncing = false;
    }
    Ok(db)
}

fn add_vm(db: &mut Db, h: usize, spec: &VmSpec, opts: &FarmOptions) -> Result<(), ScenarioError> {
    let (host_name, local_sr, pool) = (
        db.hosts[h].name.clone(),
        db.hosts[h].local_sr.clone(),
        db.hosts[h].pool.clone().unwrap_or_default(),
    );
    let where_ = format!("host {host_name} VM {:?}", spec.name);
    if spec.name.is_empty() {
        return Err(invalid(format!("host {host_name}: a VM has no name")));
    }
    let power_state: PowerState = spec
        .power_state
        .as_deref()
        .unwrap_or("Running")
        .parse()
        .map_err(|e| {
            invalid(format!(
                "{where_}: {e} (use Running, Halted, Suspended or Paused)"
            ))
        })?;
    let disks = match spec.disks.as_deref().unwrap_or("none") {
        "none" => Disks::None,
        "local" => Disks::Local {
            sr: local_sr,
            vbd: new_ref(),
        },
        other => {
            return Err(invalid(format!(
                "{where_}: disks {other:?} (use \"none\" or \"local\")"
            )))
        }
    };
    let bytes = spec.memory_mib.unwrap_or(opts.vm_memory_mib) * MIB;
    let resident = matches!(power_state, PowerState::Running | PowerState::Paused);
    let gen = db.bump();
    let vm = Vm {
        uuid: new_uuid(),
        name: spec.name.clone(),
        pool,
        power_state,
        resident_on: resident.then_some(h),
        affinity: Some(h),
        static_min: bytes,
        static_max: bytes,
        dynamic_min: bytes,
        dynamic_max: bytes,
        vcpus: 2,
        disks,
        pci: spec.pci.unwrap_or(false).then(new_ref),
        is_control_domain: false,
        other_config: spec.other_config.clone().unwrap_or_default(),
        blocked_operations: spec.blocked_operations.clone().unwrap_or_default(),
        current_operations: BTreeMap::new(),
        migrating_to: None,
        domid: if resident {
            (db.vms.len() + 1) as i64
        } else {
            -1
        },
        gen,
        created_gen: gen,
    };
    db.vms.insert(new_ref(), vm);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let e = Scenario::from_toml("[[hosts]]\nname = \"xs1\"\nmemroy_mib = 4\n").unwrap_err();
        assert!(e.to_string().contains("memroy_mib"), "{e}");
    }

    #[test]
    fn bad_power_states_and_disks_are_named() {
        let opts = |s: &str| FarmOptions {
            scenario: Some(Scenario::from_toml(s).unwrap()),
            ..FarmOptions::default()
        };
        let e = build(&opts(
            "[[hosts]]\nname=\"a\"\n[[hosts.vms]]\nname=\"v\"\npower_state=\"running\"\n",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("\"running\""), "{e}");
        let e = build(&opts(
            "[[hosts]]\nname=\"a\"\n[[hosts.vms]]\nname=\"v\"\ndisks=\"nfs\"\n",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("nfs"), "{e}");
    }

    #[test]
    fn defaults_give_named_running_diskless_vms() {
        let db = build(&FarmOptions::default()).unwrap();
        assert_eq!(db.hosts.len(), 3);
        assert_eq!(db.hosts[1].address, Ipv4Addr::new(127, 0, 0, 3));
        let names: Vec<&str> = db
            .vms
            .values()
            .filter(|v| !v.is_control_domain)
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(names.len(), 6);
        assert!(names.contains(&"xs2-vm1"));
        assert!(db
            .vms
            .values()
            .all(|v| v.power_state == PowerState::Running && v.disks == Disks::None));
        assert_eq!(db.memory_free(0), (16384 - 1024 - 2048) * MIB);
    }

    #[test]
    fn the_example_scenarios_build() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let opts = FarmOptions {
                scenario: Some(scenario),
                ..FarmOptions::default()
            };
            build(&opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
        assert!(seen >= 3, "examples in {}", dir.display());
    }

    #[test]
    fn member_of_builds_a_pool() {
        let s = "[[hosts]]\nname=\"a\"\n[[hosts]]\nname=\"b\"\nmember_of=\"a\"\n";
        let opts = FarmOptions {
            scenario: Some(Scenario::from_toml(s).unwrap()),
            ..FarmOptions::default()
        };
        let db = build(&opts).unwrap();
        assert_eq!(db.pools.len(), 1);
        assert_eq!(db.hosts[1].role, Role::Slave(db.hosts[0].address));
        assert!(db.hosts[1].enabled);
    }
}
