//! `VM.*` calls with XAPI's checks: pool_migrate (in the order of the Corrections), boot-here
//! checks, start / start_on, clean and hard shutdown, memory limits.

use std::collections::BTreeMap;

use xenpool_xapi_types::{ErrorCode, PowerState};
use xenpool_xmlrpc::Value;

use crate::call::Call;
use crate::records;
use crate::state::{new_ref, Db, Disks, HostId, XResult, XapiError, MIB};

fn void() -> XResult<Value> {
    Ok(records::s(""))
}

fn bad_power(vm: &str, expected: &str, actual: PowerState) -> XapiError {
    XapiError::new(
        ErrorCode::VM_BAD_POWER_STATE,
        [vm, expected, actual.as_error_param()],
    )
}

/// Orders dotted version strings numerically (`8.10.0` > `8.2.1`).
pub fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `assert_can_boot_here` on `target`: live, enabled (unless `same_host`), storage visible,
/// and (when `memory`) enough free memory.
pub fn boot_here_checks(db: &Db, vm: &str, target: HostId, memory: bool) -> XResult<()> {
    let v = &db.vms[vm];
    let same_host = v.resident_on == Some(target);
    if !db.live(target) {
        return Err(XapiError::bare(ErrorCode::HOST_NOT_LIVE));
    }
    if !same_host && !db.hosts[target].enabled {
        return Err(XapiError::new(
            ErrorCode::HOST_DISABLED,
            [db.hosts[target].reference.clone()],
        ));
    }
    if let Disks::Local { sr, .. } = &v.disks {
        let visible = db.srs.get(sr).is_some_and(|s| s.host == target);
        if !visible {
            return Err(XapiError::new(ErrorCode::VM_REQUIRES_SR, [vm, sr.as_str()]));
        }
    }
    if memory && !same_host {
        let (needed, available) = (v.dynamic_min, db.memory_free(target));
        if needed > available {
            return Err(XapiError::new(
                ErrorCode::HOST_NOT_ENOUGH_FREE_MEMORY,
                [needed.to_string(), available.to_string()],
            ));
        }
    }
    Ok(())
}

/// The `pool_migrate` operation checks: blocked operations, power state, concurrent
/// operations, PCI pass-through.
pub fn migrate_op_checks(db: &Db, vm: &str) -> XResult<()> {
    let v = &db.vms[vm];
    if let Some(reason) = v.blocked_operations.get("pool_migrate") {
        return Err(XapiError::new(
            ErrorCode::OPERATION_BLOCKED,
            [vm, reason.as_str()],
        ));
    }
    if v.power_state != PowerState::Running {
        return Err(bad_power(vm, "running", v.power_state));
    }
    if let Some((task, op)) = v.current_operations.iter().next() {
        return Err(XapiError::new(
            ErrorCode::OTHER_OPERATION_IN_PROGRESS,
            ["VM", vm, op.as_str(), task.as_str()],
        ));
    }
    if v.pci.is_some() {
        return Err(XapiError::new(ErrorCode::VM_HAS_PCI_ATTACHED, [vm]));
    }
    Ok(())
}

/// Every `pool_migrate` check, in XAPI's order (CPU, operation checks, upgrade, boot-here).
pub fn migrate_checks(db: &Db, vm: &str, target: HostId, force: bool) -> XResult<()> {
    let v = &db.vms[vm];
    let src = v.resident_on;
    if let Some(src) = src {
        if !force
            && v.power_state != PowerState::Halted
            && db.hosts[src].knobs.cpu_vendor != db.hosts[target].knobs.cpu_vendor
        {
            return Err(XapiError::new(
                ErrorCode::VM_INCOMPATIBLE_WITH_THIS_HOST,
                [
                    vm,
                    db.hosts[target].reference.as_str(),
                    "VM last booted on a CPU with features this host's CPU does not have.",
                ],
            ));
        }
    }
    migrate_op_checks(db, vm)?;
    if let Some(src) = src {
        if version_key(&db.hosts[target].knobs.software_version)
            < version_key(&db.hosts[src].knobs.software_version)
        {
            return Err(XapiError::bare(ErrorCode::NOT_SUPPORTED_DURING_UPGRADE));
        }
    }
    boot_here_checks(db, vm, target, true)
}

/// Moves a running VM to `target` after the checks: memory is reserved on the target for the
/// transfer, which takes time proportional to the VM's memory.
pub async fn migrate(c: &Call, vm: &str, target: HostId, force: bool) -> XResult<()> {
    let op = c.task.clone().unwrap_or_else(new_ref);
    let bytes = {
        let mut db = c.shared.lock();
        migrate_checks(&db, vm, target, force)?;
        let v = db.vms.get_mut(vm).expect("checked");
        v.current_operations
            .insert(op.clone(), "pool_migrate".into());
        if v.resident_on != Some(target) {
            v.migrating_to = Some(target);
        }
        let bytes = v.static_max;
        db.touch_vm(vm);
        bytes
    };
    let total = c
        .shared
        .opts
        .timings
        .migrate_per_gib
        .mul_f64(bytes as f64 / (1024.0 * MIB as f64));
    const STEPS: u32 = 4;
    for step in 1..=STEPS {
        c.shared.sim_sleep(total / STEPS).await;
        c.progress(f64::from(step) / f64::from(STEPS + 1));
    }
    let mut db = c.shared.lock();
    if let Some(v) = db.vms.get_mut(vm) {
        v.current_operations.remove(&op);
        v.migrating_to = None;
        v.resident_on = Some(target);
        db.touch_vm(vm);
    }
    Ok(())
}

fn options(c: &Call, i: usize) -> XResult<BTreeMap<String, String>> {
    c.string_map(i)
}

/// `VM.pool_migrate(vm, host, options)`; `options.force = "true"` skips the CPU check.
pub async fn pool_migrate(c: Call) -> XResult<Value> {
    let (vm, target) = {
        let db = c.shared.lock();
        (c.vm_arg(&db, 0)?, c.host_arg(&db, 1)?)
    };
    let force = options(&c, 2)?.get("force").is_some_and(|f| f == "true");
    migrate(&c, &vm, target, force).await?;
    void()
}

/// `VM.assert_can_boot_here(vm, host)`.
pub async fn assert_can_boot_here(c: Call) -> XResult<Value> {
    let db = c.shared.lock();
    let (vm, target) = (c.vm_arg(&db, 0)?, c.host_arg(&db, 1)?);
    boot_here_checks(&db, &vm, target, true)?;
    void()
}

/// `VM.assert_can_migrate(vm, dest, live, vdi_map, vif_map, options [, vgpu_map])`: the
/// intra-pool form, `dest["host"]` naming a host of this pool; runs `pool_migrate`'s checks.
pub async fn assert_can_migrate(c: Call) -> XResult<Value> {
    let dest = c.string_map(1)?;
    let force = options(&c, 5)?.get("force").is_some_and(|f| f == "true");
    let db = c.shared.lock();
    let vm = c.vm_arg(&db, 0)?;
    let host_ref = dest.get("host").cloned().unwrap_or_default();
    let target = db
        .host_in_pool(&c.pool, &host_ref)
        .ok_or_else(|| XapiError::new(ErrorCode::HANDLE_INVALID, ["host".to_owned(), host_ref]))?;
    migrate_checks(&db, &vm, target, force)?;
    void()
}

/// Picks the host XAPI would start a VM on: its local-disk host, else the affinity host, else
/// the enabled live member with the most free memory.
fn choose_host(db: &Db, pool: &str, vm: &str) -> XResult<HostId> {
    let v = &db.vms[vm];
    if let Disks::Local { sr, .. } = &v.disks {
        let h = db
            .srs
            .get(sr)
            .map(|s| s.host)
            .ok_or_else(|| XapiError::new(ErrorCode::VM_REQUIRES_SR, [vm, sr.as_str()]))?;
        boot_here_checks(db, vm, h, true)?;
        return Ok(h);
    }
    let mut candidates: Vec<HostId> = db
        .members(pool)
        .into_iter()
        .filter(|&h| db.live(h) && db.hosts[h].enabled)
        .collect();
    if candidates.is_empty() {
        return Err(XapiError::bare(ErrorCode::NO_HOSTS_AVAILABLE));
    }
    candidates.sort_by_key(|&h| (Some(h) != v.affinity, std::cmp::Reverse(db.memory_free(h))));
    let best = candidates[0];
    candidates
        .into_iter()
        .find(|&h| boot_here_checks(db, vm, h, true).is_ok())
        .map_or_else(|| boot_here_checks(db, vm, best, true).map(|_| best), Ok)
}

async fn start_common(c: &Call, vm: &str, on: Option<HostId>, paused: bool) -> XResult<Value> {
    {
        let mut db = c.shared.lock();
        let v = &db.vms[vm];
        if let Some(reason) = v.blocked_operations.get("start") {
            return Err(XapiError::new(
                ErrorCode::OPERATION_BLOCKED,
                [vm, reason.as_str()],
            ));
        }
        if v.power_state != PowerState::Halted {
            return Err(bad_power(vm, "halted", v.power_state));
        }
        let h = match on {
            Some(h) => {
                boot_here_checks(&db, vm, h, true)?;
                h
            }
            None => choose_host(&db, &c.pool, vm)?,
        };
        let domid = 1 + db.vms.values().map(|v| v.domid).max().unwrap_or(0);
        let v = db.vms.get_mut(vm).expect("checked");
        v.power_state = if paused {
            PowerState::Paused
        } else {
            PowerState::Running
        };
        v.resident_on = Some(h);
        v.domid = domid;
        db.touch_vm(vm);
    }
    c.shared.sim_sleep(c.shared.opts.timings.vm_power_op).await;
    void()
}

/// `VM.start(vm, start_paused, force)`.
pub async fn start(c: Call) -> XResult<Value> {
    let vm = c.vm_arg(&c.shared.lock(), 0)?;
    let paused = c.bool(1)?;
    c.bool(2)?;
    start_common(&c, &vm, None, paused).await
}

/// `VM.start_on(vm, host, start_paused, force)`.
pub async fn start_on(c: Call) -> XResult<Value> {
    let (vm, h) = {
        let db = c.shared.lock();
        (c.vm_arg(&db, 0)?, c.host_arg(&db, 1)?)
    };
    let paused = c.bool(2)?;
    c.bool(3)?;
    start_common(&c, &vm, Some(h), paused).await
}

async fn shutdown(c: &Call, op: &str, allowed: &[PowerState]) -> XResult<Value> {
    {
        let mut db = c.shared.lock();
        let vm = c.vm_arg(&db, 0)?;
        let v = &db.vms[&vm];
        if let Some(reason) = v.blocked_operations.get(op) {
            return Err(XapiError::new(
                ErrorCode::OPERATION_BLOCKED,
                [vm.as_str(), reason.as_str()],
            ));
        }
        if !allowed.contains(&v.power_state) {
            return Err(bad_power(&vm, "running", v.power_state));
        }
        let v = db.vms.get_mut(&vm).expect("checked");
        v.power_state = PowerState::Halted;
        v.resident_on = None;
        v.domid = -1;
        db.touch_vm(&vm);
    }
    c.shared.sim_sleep(c.shared.opts.timings.vm_power_op).await;
    void()
}

/// `VM.clean_shutdown(vm)`: needs `Running`.
pub async fn clean_shutdown(c: Call) -> XResult<Value> {
    shutdown(&c, "clean_shutdown", &[PowerState::Running]).await
}

/// `VM.hard_shutdown(vm)`: from `Running`, `Paused` or `Suspended`.
pub async fn hard_shutdown(c: Call) -> XResult<Value> {
    shutdown(
        &c,
        "hard_shutdown",
        &[
            PowerState::Running,
            PowerState::Paused,
            PowerState::Suspended,
        ],
    )
    .await
}

/// `VM.set_memory_limits(vm, static_min, static_max, dynamic_min, dynamic_max)`: halted VMs
/// only; the limits must be ordered.
pub async fn set_memory_limits(c: Call) -> XResult<Value> {
    let mut db = c.shared.lock();
    let vm = c.vm_arg(&db, 0)?;
    let [smin, smax, dmin, dmax] = [c.int(1)?, c.int(2)?, c.int(3)?, c.int(4)?];
    if !(0 <= smin && smin <= dmin && dmin <= dmax && dmax <= smax) {
        return Err(XapiError::new(
            ErrorCode::MEMORY_CONSTRAINT_VIOLATION,
            ["Memory limits must satisfy: static_min <= dynamic_min <= dynamic_max <= static_max"],
        ));
    }
    let v = db.vms.get_mut(&vm).expect("checked");
    if v.power_state != PowerState::Halted {
        return Err(bad_power(&vm, "halted", v.power_state));
    }
    (v.static_min, v.static_max, v.dynamic_min, v.dynamic_max) =
        (smin as u64, smax as u64, dmin as u64, dmax as u64);
    db.touch_vm(&vm);
    void()
}
