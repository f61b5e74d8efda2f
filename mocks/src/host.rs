//! `host.*` calls: disable / enable (with `auto_enable` persistence), free memory, and
//! evacuation (§2.9: the plan, its per-VM blockers, and `host.evacuate` itself).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use tokio::task::JoinSet;
use xenpool_xapi_types::{ErrorCode, PowerState};
use xenpool_xmlrpc::{Struct, Value};

use crate::call::Call;
use crate::records;
use crate::state::{Db, HostId, XResult, XapiError};
use crate::vm;

/// XAPI's default `evacuation-batch-size`.
pub const DEFAULT_EVACUATION_BATCH: usize = 10;

fn void() -> XResult<Value> {
    Ok(records::s(""))
}

fn offline(db: &Db, h: HostId) -> XapiError {
    XapiError::new(ErrorCode::HOST_OFFLINE, [db.hosts[h].reference.clone()])
}

/// `host.compute_free_memory(host)` → bytes as a decimal string.
pub async fn compute_free_memory(c: Call) -> XResult<Value> {
    let db = c.shared.lock();
    let h = c.host_arg(&db, 0)?;
    Ok(records::int(db.memory_free(h) as i64))
}

/// `host.disable(host [, auto_enable=true])`: idempotent; `auto_enable=false` persists the
/// disable across restarts, but only when the host was enabled at the call.
pub async fn disable(c: Call) -> XResult<Value> {
    let auto_enable = if c.args.len() > 1 { c.bool(1)? } else { true };
    let mut db = c.shared.lock();
    let h = c.host_arg(&db, 0)?;
    if !db.live(h) {
        return Err(offline(&db, h));
    }
    if db.hosts[h].enabled {
        db.hosts[h].enabled = false;
        db.hosts[h].disabled_persist = !auto_enable;
        db.touch_host(h);
    }
    void()
}

/// `host.enable(host)`: idempotent; clears a persisted disable.
pub async fn enable(c: Call) -> XResult<Value> {
    let mut db = c.shared.lock();
    let h = c.host_arg(&db, 0)?;
    if !db.live(h) {
        return Err(offline(&db, h));
    }
    db.hosts[h].enabled = true;
    db.hosts[h].disabled_persist = false;
    db.touch_host(h);
    void()
}

/// `host.is_in_emergency_mode()`.
pub async fn is_in_emergency_mode(c: Call) -> XResult<Value> {
    Ok(Value::Bool(
        c.shared.lock().emergency_error(c.host).is_some(),
    ))
}

/// An evacuation plan: where each movable VM goes, and why the others cannot move.
#[derive(Debug, Default)]
pub struct Plan {
    /// VM ref → target host.
    pub moves: Vec<(String, HostId)>,
    /// VM ref → its blocker, in VM order.
    pub blocked: Vec<(String, XapiError)>,
}

/// `compute_evacuation_plan_no_wlb`: targets are enabled live members other than the source
/// whose software is not older; with HA on, unprotected VMs are blocked
/// (`HOST_EVACUATE_VM_NOT_HA_PROTECTED`); each VM is checked against every target; the movable
/// ones are packed by memory (largest first onto the target with the most free memory).
pub fn plan(db: &Db, pool: &str, src: HostId) -> Plan {
    let src_version = vm::version_key(&db.hosts[src].knobs.software_version);
    let targets: Vec<HostId> = db
        .members(pool)
        .into_iter()
        .filter(|&h| h != src && db.live(h) && db.hosts[h].enabled)
        .filter(|&h| vm::version_key(&db.hosts[h].knobs.software_version) >= src_version)
        .collect();
    let ha = db.pools.get(pool).is_some_and(|p| p.ha_enabled);
    let mut plan = Plan::default();
    let mut movable = Vec::new();
    let vms: Vec<String> = db
        .vms
        .iter()
        .filter(|(_, v)| v.resident_on == Some(src) && !v.is_control_domain)
        .map(|(r, _)| r.clone())
        .collect();
    for vm_ref in vms {
        if targets.is_empty() {
            plan.blocked.push((
                vm_ref.clone(),
                XapiError::new(ErrorCode::NO_HOSTS_AVAILABLE, [vm_ref]),
            ));
            continue;
        }
        if ha {
            // No VM is HA-protected in the model (ha_restart_priority is always "").
            let e = XapiError::new(
                ErrorCode::HOST_EVACUATE_VM_NOT_HA_PROTECTED,
                [vm_ref.as_str()],
            );
            plan.blocked.push((vm_ref, e));
            continue;
        }
        let blocker = targets
            .iter()
            .find_map(|&t| vm::boot_here_checks(db, &vm_ref, t, false).err())
            .or_else(|| vm::migrate_op_checks(db, &vm_ref).err());
        match blocker {
            Some(e) => plan.blocked.push((vm_ref, e)),
            None => movable.push(vm_ref),
        }
    }
    let mut free: BTreeMap<HostId, u64> = targets.iter().map(|&t| (t, db.memory_free(t))).collect();
    movable.sort_by_key(|r| Reverse(db.vms[r].dynamic_min));
    for vm_ref in movable {
        let need = db.vms[&vm_ref].dynamic_min;
        let best = free
            .iter()
            .filter(|(_, &f)| f >= need)
            .max_by_key(|(&h, &f)| (f, Reverse(h)))
            .map(|(&h, _)| h);
        match best {
            Some(t) => {
                *free.get_mut(&t).expect("target") -= need;
                plan.moves.push((vm_ref, t));
            }
            None => plan.blocked.push((
                vm_ref.clone(),
                XapiError::new(ErrorCode::HOST_NOT_ENOUGH_FREE_MEMORY, [vm_ref]),
            )),
        }
    }
    plan
}

/// `host.get_vms_which_prevent_evacuation(host)` → `{vm: [CODE, params…]}`.
pub async fn get_vms_which_prevent_evacuation(c: Call) -> XResult<Value> {
    let db = c.shared.lock();
    let h = c.host_arg(&db, 0)?;
    let blocked: Struct = plan(&db, &c.pool, h)
        .blocked
        .into_iter()
        .map(|(vm, e)| (vm, records::list(e.description())))
        .collect();
    Ok(Value::Struct(blocked))
}

/// `host.assert_can_evacuate(host)`: `CANNOT_EVACUATE_HOST ["C,p|C,p"]` when VMs are blocked.
pub async fn assert_can_evacuate(c: Call) -> XResult<Value> {
    let db = c.shared.lock();
    let h = c.host_arg(&db, 0)?;
    let blocked = plan(&db, &c.pool, h).blocked;
    if blocked.is_empty() {
        return void();
    }
    let joined: Vec<String> = blocked
        .iter()
        .map(|(_, e)| e.description().join(","))
        .collect();
    Err(XapiError::new(
        ErrorCode::CANNOT_EVACUATE_HOST,
        [joined.join("|")],
    ))
}

/// `host.evacuate(host [, network [, evacuate_batch_size]])`: raises the first blocked VM's
/// error before moving anything; then live-migrates with at most N in flight, aborting on the
/// first failure other than `VM_BAD_POWER_STATE`. Does not disable the host.
pub async fn evacuate(c: Call) -> XResult<Value> {
    let batch = match c.args.len() {
        3 => usize::try_from(c.int(2)?)
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_EVACUATION_BATCH),
        _ => DEFAULT_EVACUATION_BATCH,
    };
    let (h, moves) = {
        let db = c.shared.lock();
        let h = c.host_arg(&db, 0)?;
        if !db.live(h) {
            return Err(offline(&db, h));
        }
        let plan = plan(&db, &c.pool, h);
        if let Some((_, e)) = plan.blocked.into_iter().next() {
            return Err(e);
        }
        (h, plan.moves)
    };
    let total = moves.len().max(1);
    let mut pending = moves.into_iter();
    let mut running = JoinSet::new();
    let (mut done, mut failure) = (0usize, None);
    loop {
        while failure.is_none() && running.len() < batch {
            let Some((vm_ref, target)) = pending.next() else {
                break;
            };
            let sub = Call {
                task: None,
                ..c.clone()
            };
            running.spawn(async move { vm::migrate(&sub, &vm_ref, target, false).await });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        done += 1;
        c.progress(done as f64 / total as f64);
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.code == ErrorCode::VM_BAD_POWER_STATE => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(join) => {
                failure = failure.or(Some(XapiError::new(
                    ErrorCode::INTERNAL_ERROR,
                    [join.to_string()],
                )));
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let db = c.shared.lock();
    let left = db
        .vms
        .values()
        .filter(|v| {
            v.resident_on == Some(h) && !v.is_control_domain && v.power_state != PowerState::Halted
        })
        .count();
    if left > 0 {
        return Err(XapiError::new(
            ErrorCode::INTERNAL_ERROR,
            [format!(
                "evacuate: {left} VMs are still resident on {}",
                db.hosts[h].reference
            )],
        ));
    }
    void()
}
