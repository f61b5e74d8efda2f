//! Object records in XAPI's wire shape (`get_record`, `get_all_records`, event snapshots):
//! strings bare, int64 as decimal strings, refs `OpaqueRef:…`, null refs `OpaqueRef:NULL`.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use xenpool_xapi_types::{TaskStatus, NULL_REF};
use xenpool_xmlrpc::{DateTime, Struct, Value};

use crate::state::{Db, Disks, HostId, Task, MIB};

/// A string value.
pub fn s(x: impl Into<String>) -> Value {
    Value::String(x.into())
}

/// An XAPI `int`: a decimal string.
pub fn int(n: i64) -> Value {
    Value::String(n.to_string())
}

/// A `(string → string) map`.
pub fn map(m: &BTreeMap<String, String>) -> Value {
    Value::Struct(m.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect())
}

/// A `string set` / `ref set`.
pub fn list<I: IntoIterator<Item = String>>(items: I) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// An empty map.
pub fn empty_map() -> Value {
    Value::Struct(Struct::new())
}

/// A host's ref, or `OpaqueRef:NULL`.
pub fn host_ref(db: &Db, h: Option<HostId>) -> Value {
    s(h.map_or(NULL_REF.to_owned(), |h| db.hosts[h].reference.clone()))
}

/// XAPI's `datetime` for a system time (UTC).
pub fn datetime(t: SystemTime) -> Value {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
    Value::DateTime(DateTime {
        year,
        month,
        day,
        hour: (rem / 3600) as u8,
        minute: (rem % 3600 / 60) as u8,
        second: (rem % 60) as u8,
        utc: true,
    })
}

fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Struct(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// `SR.get_record`: a host's local SR, named as XAPI names it.
pub fn sr(db: &Db, sr_ref: &str) -> Value {
    let host = db.srs[sr_ref].host;
    let uuid = sr_ref.strip_prefix("OpaqueRef:").unwrap_or(sr_ref);
    record(vec![
        ("uuid", s(uuid)),
        ("name_label", s("Local storage")),
        (
            "name_description",
            s(format!("Local storage on {}", db.hosts[host].name)),
        ),
        ("shared", Value::Bool(false)),
        ("type", s("ext")),
        ("content_type", s("user")),
    ])
}

/// `host.get_record`.
pub fn host(db: &Db, h: HostId) -> Value {
    let host = &db.hosts[h];
    let k = &host.knobs;
    let mut sw = BTreeMap::new();
    sw.insert("product_version".to_owned(), k.software_version.clone());
    sw.insert("product_brand".to_owned(), k.product_brand.clone());
    sw.insert("platform_name".to_owned(), "XCP".to_owned());
    sw.insert("platform_version".to_owned(), k.platform_version.clone());
    sw.insert(
        "xapi".to_owned(),
        format!("{}.{}", k.api_version.0, k.api_version.1),
    );
    sw.insert("xapi_build".to_owned(), k.software_version.clone());
    sw.insert("network_backend".to_owned(), k.network_backend.clone());
    let mut cpu = BTreeMap::new();
    cpu.insert("vendor".to_owned(), k.cpu_vendor.clone());
    cpu.insert("cpu_count".to_owned(), "16".to_owned());
    record(vec![
        ("uuid", s(&host.uuid)),
        ("name_label", s(&host.name_label)),
        ("name_description", s("")),
        ("hostname", s(&host.name)),
        ("address", s(host.address.to_string())),
        ("enabled", Value::Bool(host.enabled)),
        ("resident_VMs", list(db.resident_vms(h))),
        ("metrics", s(&host.metrics)),
        ("API_version_major", int(i64::from(k.api_version.0))),
        ("API_version_minor", int(i64::from(k.api_version.1))),
        ("API_version_vendor", s("XenSource")),
        ("software_version", map(&sw)),
        ("cpu_info", map(&cpu)),
        ("edition", s(&k.edition)),
        ("other_config", map(&host.other_config)),
        ("current_operations", empty_map()),
        (
            "allowed_operations",
            list(["evacuate".to_owned(), "provision".to_owned()]),
        ),
        ("control_domain", s(&host.dom0)),
        ("memory_overhead", int(0)),
        ("PBDs", list([])),
        ("PIFs", list([])),
        ("local_cache_sr", s(&host.local_sr)),
        ("tags", list([])),
    ])
}

/// `host_metrics.get_record`.
pub fn host_metrics(db: &Db, h: HostId) -> Value {
    let host = &db.hosts[h];
    record(vec![
        ("uuid", s(&host.uuid)),
        ("live", Value::Bool(db.live(h))),
        ("memory_total", int((host.memory_total_mib * MIB) as i64)),
        ("memory_free", int(db.memory_free(h) as i64)),
        ("other_config", empty_map()),
    ])
}

/// `pool.get_record`.
pub fn pool(db: &Db, pool_ref: &str) -> Value {
    let p = &db.pools[pool_ref];
    let master = &db.hosts[p.master];
    let mut cpu = BTreeMap::new();
    cpu.insert("vendor".to_owned(), master.knobs.cpu_vendor.clone());
    record(vec![
        ("uuid", s(&p.uuid)),
        ("name_label", s(&p.name_label)),
        ("name_description", s("")),
        ("master", s(&master.reference)),
        ("default_SR", s(&master.local_sr)),
        ("suspend_image_SR", s(&master.local_sr)),
        ("crash_dump_SR", s(&master.local_sr)),
        ("other_config", map(&p.other_config)),
        ("ha_enabled", Value::Bool(p.ha_enabled)),
        ("ha_host_failures_to_tolerate", int(0)),
        ("tags", list([])),
        ("cpu_info", map(&cpu)),
        ("tls_verification_enabled", Value::Bool(p.tls_verification)),
        ("current_operations", map(&p.current_operations)),
        ("allowed_operations", list([])),
        ("migration_compression", Value::Bool(false)),
    ])
}

/// `VM.get_record`.
pub fn vm(db: &Db, vm_ref: &str) -> Value {
    let v = &db.vms[vm_ref];
    let vbds = match &v.disks {
        Disks::None => vec![],
        Disks::Local { vbd, .. } => vec![vbd.clone()],
    };
    let allowed: Vec<String> = match v.power_state {
        xenpool_xapi_types::PowerState::Running => {
            ["pool_migrate", "clean_shutdown", "hard_shutdown"]
                .map(String::from)
                .to_vec()
        }
        xenpool_xapi_types::PowerState::Halted => ["start", "start_on"].map(String::from).to_vec(),
        _ => vec!["hard_shutdown".to_owned()],
    };
    record(vec![
        ("uuid", s(&v.uuid)),
        ("name_label", s(&v.name)),
        ("name_description", s("")),
        ("power_state", s(v.power_state.as_str())),
        ("resident_on", host_ref(db, v.resident_on)),
        (
            "affinity",
            host_ref(
                db,
                v.affinity
                    .filter(|&h| db.hosts[h].pool.as_deref() == Some(&v.pool)),
            ),
        ),
        ("is_a_template", Value::Bool(false)),
        ("is_a_snapshot", Value::Bool(false)),
        ("is_control_domain", Value::Bool(v.is_control_domain)),
        ("memory_static_min", int(v.static_min as i64)),
        ("memory_static_max", int(v.static_max as i64)),
        ("memory_dynamic_min", int(v.dynamic_min as i64)),
        ("memory_dynamic_max", int(v.dynamic_max as i64)),
        ("memory_overhead", int(0)),
        ("VCPUs_max", int(i64::from(v.vcpus))),
        ("VCPUs_at_startup", int(i64::from(v.vcpus))),
        ("other_config", map(&v.other_config)),
        ("blocked_operations", map(&v.blocked_operations)),
        ("current_operations", map(&v.current_operations)),
        ("allowed_operations", list(allowed)),
        ("ha_restart_priority", s("")),
        ("VBDs", list(vbds)),
        ("VIFs", list([])),
        ("attached_PCIs", list(v.pci.clone())),
        ("domid", int(v.domid)),
        ("platform", empty_map()),
        ("tags", list([])),
    ])
}

/// `task.get_record`.
pub fn task(db: &Db, task_ref: &str) -> Value {
    let t = &db.tasks[task_ref];
    task_of(t, &db.hosts[t.host].reference)
}

/// A task record with no task behind it: the field list `task.get_<field>` accepts.
pub fn sample_task() -> Value {
    let t = Task {
        uuid: String::new(),
        pool: String::new(),
        host: 0,
        name_label: String::new(),
        status: TaskStatus::Pending,
        progress: 0.0,
        result: String::new(),
        error_info: Vec::new(),
        created: UNIX_EPOCH,
        finished: None,
        gen: 0,
        created_gen: 0,
    };
    task_of(&t, NULL_REF)
}

fn task_of(t: &Task, host_ref: &str) -> Value {
    record(vec![
        ("uuid", s(&t.uuid)),
        ("name_label", s(&t.name_label)),
        ("name_description", s("")),
        ("status", s(t.status.as_str())),
        ("progress", Value::Double(t.progress)),
        ("result", s(&t.result)),
        ("error_info", list(t.error_info.clone())),
        ("created", datetime(t.created)),
        ("finished", datetime(t.finished.unwrap_or(UNIX_EPOCH))),
        ("resident_on", s(host_ref)),
        ("type", s("")),
        ("other_config", empty_map()),
        ("subtasks", list([])),
        ("allowed_operations", list([])),
        ("current_operations", empty_map()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_utc_civil_dates() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_710_821_784); // 2024-03-19T04:16:24Z
        let Value::DateTime(d) = datetime(t) else {
            panic!("not a datetime")
        };
        assert_eq!(
            (d.year, d.month, d.day, d.hour, d.minute, d.second),
            (2024, 3, 19, 4, 16, 24)
        );
        assert!(d.utc);
    }
}
