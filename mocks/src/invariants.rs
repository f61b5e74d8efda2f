//! The invariant checker: every running VM resident on exactly one live host of its pool, no
//! host over its memory, every pool with exactly one master, and members agreeing on who it is.

use serde::{Deserialize, Serialize};

use crate::state::{Db, Role, MIB};

/// The checker's verdict (`GET /invariants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invariants {
    /// No violations.
    pub ok: bool,
    /// One sentence per violation, naming hosts and VMs.
    pub violations: Vec<String>,
}

/// Checks the farm.
pub fn check(db: &Db) -> Invariants {
    let mut v = Vec::new();
    let name = |h: usize| db.hosts[h].name.as_str();
    for vm in db.vms.values().filter(|vm| !vm.is_control_domain) {
        match (vm.holds_memory(), vm.resident_on) {
            (true, None) => v.push(format!(
                "VM {} is {} but resident on no host",
                vm.name, vm.power_state
            )),
            (false, Some(h)) => v.push(format!(
                "VM {} is {} but still resident on {}",
                vm.name,
                vm.power_state,
                name(h)
            )),
            (true, Some(h)) => {
                if db.hosts[h].pool.as_deref() != Some(vm.pool.as_str()) {
                    v.push(format!(
                        "VM {} is resident on {}, which is not in the VM's pool",
                        vm.name,
                        name(h)
                    ));
                } else if !db.live(h) {
                    v.push(format!(
                        "VM {} is resident on {}, which is not live",
                        vm.name,
                        name(h)
                    ));
                }
            }
            (false, None) => {}
        }
    }
    for h in 0..db.hosts.len() {
        let (used, total) = (db.memory_used(h), db.hosts[h].memory_total_mib * MIB);
        if used > total {
            v.push(format!(
                "host {} uses {} MiB of its {} MiB",
                name(h),
                used / MIB,
                total / MIB
            ));
        }
    }
    for (pool_ref, pool) in &db.pools {
        let members = db.members(pool_ref);
        let label = if pool.name_label.is_empty() {
            pool.uuid.as_str()
        } else {
            pool.name_label.as_str()
        };
        if !members.contains(&pool.master) {
            v.push(format!(
                "pool {label}: its master {} is not a member",
                name(pool.master)
            ));
            continue;
        }
        let acting: Vec<&str> = members
            .iter()
            .copied()
            .filter(|&h| db.online(h) && db.hosts[h].role == Role::Master)
            .map(name)
            .collect();
        let recorded = db.hosts[pool.master].role == Role::Master || !db.online(pool.master);
        if acting.len() > 1 || !recorded {
            v.push(format!(
                "pool {label}: recorded master {}, hosts acting as master: [{}]",
                name(pool.master),
                acting.join(", ")
            ));
        }
        let master_addr = db.hosts[pool.master].address;
        for &m in &members {
            if let Role::Slave(addr) = db.hosts[m].role {
                if addr != master_addr && db.online(m) {
                    v.push(format!(
                        "pool {label}: {} follows {addr}, but the master is {} ({master_addr})",
                        name(m),
                        name(pool.master)
                    ));
                }
            }
        }
    }
    Invariants {
        ok: v.is_empty(),
        violations: v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::farm::FarmOptions;
    use crate::scenario::build;

    #[test]
    fn a_fresh_farm_is_consistent_and_corruptions_are_named() {
        let mut db = build(&FarmOptions::default()).unwrap();
        assert_eq!(
            check(&db),
            Invariants {
                ok: true,
                violations: vec![]
            }
        );
        let vm = db
            .vms
            .iter()
            .find(|(_, v)| v.name == "xs1-vm1")
            .map(|(r, _)| r.clone())
            .unwrap();
        db.vms.get_mut(&vm).unwrap().resident_on = Some(1);
        db.hosts[2].memory_total_mib = 1000;
        db.hosts[0].role = Role::Slave(db.hosts[1].address);
        let v = check(&db).violations;
        assert!(
            v.iter()
                .any(|s| s.contains("xs1-vm1") && s.contains("not in the VM's pool")),
            "{v:?}"
        );
        assert!(v.iter().any(|s| s.contains("host xs3 uses")), "{v:?}");
        assert!(v.iter().any(|s| s.contains("recorded master xs1")), "{v:?}");
    }
}
