//! Rebalance plans: moving VMs back to their home hosts when maintenance ends.
//!
//! Moves are grouped into waves. Every move of a wave fits on its destination at the same time
//! as the others of that wave, counting only memory that is free before the wave starts; memory
//! a wave frees on its sources is counted from the next wave on. Run the waves in order (the
//! moves of one wave concurrently, within the agent's bounds) and no migration can be refused
//! for memory another migration was about to free, so the plan cannot deadlock. VMs that still
//! cannot go home are leftovers: warnings, not failures.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use xenpool_xapi_types::PowerState;

use super::evacuation::VmId;
use super::facts::{HostFacts, VmFacts};
use super::mib;
use super::schedule::Move;

/// A VM xenpool shut down for maintenance, to be started on its home host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Start {
    /// The VM.
    pub vm: VmId,
    /// Its home host.
    pub on: String,
    /// Bytes it will occupy there.
    pub memory: u64,
}

/// Why a VM stays away from home for now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeftoverReason {
    /// The home host is not an enabled, live member (or the VM may not run there).
    HomeUnavailable,
    /// The VM is neither Running nor halted by xenpool, so it is left alone.
    NotRunning {
        /// Its power state.
        state: PowerState,
    },
    /// The home host has too little free memory, even after every other move.
    NotEnoughMemory {
        /// Bytes the VM needs.
        needed: u64,
        /// Bytes the home host has left after the plan.
        free: u64,
    },
}

/// A VM that stays where it is, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    /// The VM.
    pub vm: VmId,
    /// Where it belongs.
    pub home: String,
    /// Where it is (`None` when halted).
    pub now_on: Option<String>,
    /// Why it stays.
    pub reason: LeftoverReason,
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = self.now_on.as_deref().unwrap_or("no host");
        write!(
            f,
            "{} stays on {place} instead of {}: ",
            self.vm.name, self.home
        )?;
        match &self.reason {
            LeftoverReason::HomeUnavailable => write!(
                f,
                "{} is not an enabled, live member it may run on",
                self.home
            ),
            LeftoverReason::NotRunning { state } => write!(f, "it is {state}"),
            LeftoverReason::NotEnoughMemory { needed, free } => {
                write!(
                    f,
                    "it needs {} and {} has {} free",
                    mib(*needed),
                    self.home,
                    mib(*free)
                )
            }
        }
    }
}

/// What bringing VMs home takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RebalancePlan {
    /// Migrations, wave by wave.
    pub waves: Vec<Vec<Move>>,
    /// VMs to start on their home host after the waves.
    pub starts: Vec<Start>,
    /// VMs that stay away from home.
    pub leftovers: Vec<Leftover>,
}

impl RebalancePlan {
    /// Every migration of the plan, in wave order.
    pub fn moves(&self) -> impl Iterator<Item = &Move> {
        self.waves.iter().flatten()
    }
}

/// Plans moving every VM whose `home` is set back there: Running VMs away from home migrate
/// home, VMs halted for maintenance start at home, anything else is a leftover. Within a wave,
/// larger VMs go first so the scarce room goes to the hardest placements.
pub fn plan_rebalance(hosts: &[HostFacts], vms: &[VmFacts]) -> RebalancePlan {
    let mut free: BTreeMap<&str, u64> = hosts
        .iter()
        .filter(|h| h.enabled && h.live)
        .map(|h| (h.name.as_str(), h.free_memory))
        .collect();
    let mut plan = RebalancePlan::default();
    let mut pending: Vec<&VmFacts> = Vec::new();
    let mut to_start: Vec<&VmFacts> = Vec::new();

    let mut candidates: Vec<&VmFacts> = vms
        .iter()
        .filter(|vm| vm.home.is_some() && vm.home != vm.resident_on)
        .collect();
    candidates.sort_by(|a, b| {
        b.memory
            .cmp(&a.memory)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.uuid.cmp(&b.uuid))
    });
    for vm in candidates {
        let home = vm.home.as_deref().unwrap_or_default();
        let leftover = |reason| Leftover {
            vm: id(vm),
            home: home.to_owned(),
            now_on: vm.resident_on.clone(),
            reason,
        };
        if !free.contains_key(home) || !vm.may_run_on(home) {
            plan.leftovers
                .push(leftover(LeftoverReason::HomeUnavailable));
        } else if vm.power_state == PowerState::Running && vm.resident_on.is_some() {
            pending.push(vm);
        } else if vm.power_state == PowerState::Halted && vm.halted_for_maintenance {
            to_start.push(vm);
        } else {
            plan.leftovers.push(leftover(LeftoverReason::NotRunning {
                state: vm.power_state,
            }));
        }
    }

    while !pending.is_empty() {
        let mut wave = Vec::new();
        let mut freed: Vec<(&str, u64)> = Vec::new();
        pending.retain(|vm| {
            let home = vm.home.as_deref().unwrap_or_default();
            let room = free.get_mut(home).expect("home checked above");
            if *room < vm.memory {
                return true;
            }
            *room -= vm.memory;
            let from = vm.resident_on.as_deref().unwrap_or_default();
            freed.push((from, vm.memory));
            wave.push(Move {
                vm: vm.name.clone(),
                vm_uuid: vm.uuid.clone(),
                from: from.to_owned(),
                to: home.to_owned(),
                memory: vm.memory,
            });
            false
        });
        if wave.is_empty() {
            break;
        }
        for (host, bytes) in freed {
            if let Some(room) = free.get_mut(host) {
                *room += bytes;
            }
        }
        plan.waves.push(wave);
    }
    for vm in to_start {
        let home = vm.home.as_deref().unwrap_or_default();
        let room = free.get_mut(home).expect("home checked above");
        if *room >= vm.memory {
            *room -= vm.memory;
            plan.starts.push(Start {
                vm: id(vm),
                on: home.to_owned(),
                memory: vm.memory,
            });
        } else {
            pending.push(vm);
        }
    }
    for vm in pending {
        let home = vm.home.clone().unwrap_or_default();
        let room = free.get(home.as_str()).copied().unwrap_or(0);
        plan.leftovers.push(Leftover {
            vm: id(vm),
            now_on: vm.resident_on.clone(),
            reason: LeftoverReason::NotEnoughMemory {
                needed: vm.memory,
                free: room,
            },
            home,
        });
    }
    plan.leftovers.sort_by(|a, b| {
        a.vm.name
            .cmp(&b.vm.name)
            .then_with(|| a.vm.uuid.cmp(&b.vm.uuid))
    });
    plan
}

fn id(vm: &VmFacts) -> VmId {
    VmId {
        name: vm.name.clone(),
        uuid: vm.uuid.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::facts::EvacuationPolicy;
    use proptest::prelude::*;

    const GIB: u64 = 1 << 30;

    fn host(name: &str, free_gib: u64) -> HostFacts {
        HostFacts {
            name: name.into(),
            enabled: true,
            live: true,
            free_memory: free_gib * GIB,
        }
    }

    fn vm(name: &str, on: Option<&str>, home: &str, gib: u64) -> VmFacts {
        VmFacts {
            name: name.into(),
            uuid: format!("uuid-{name}"),
            resident_on: on.map(Into::into),
            power_state: if on.is_some() {
                PowerState::Running
            } else {
                PowerState::Halted
            },
            memory: gib * GIB,
            policy: EvacuationPolicy::Migrate,
            blockers: vec![],
            allowed_hosts: None,
            home: Some(home.into()),
            halted_for_maintenance: on.is_none(),
        }
    }

    #[test]
    fn brings_everything_home_that_fits() {
        let hosts = [host("h1", 8), host("h2", 1), host("h3", 1)];
        let vms = [
            vm("a", Some("h2"), "h1", 2),
            vm("b", Some("h3"), "h1", 2),
            vm("at-home", Some("h1"), "h1", 2),
            vm("stopped", None, "h1", 1),
        ];
        let plan = plan_rebalance(&hosts, &vms);
        assert_eq!(plan.waves.len(), 1);
        assert_eq!(
            plan.moves().map(|m| m.vm.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(plan.starts[0].vm.name, "stopped");
        assert!(plan.leftovers.is_empty());
    }

    #[test]
    fn swaps_between_full_hosts_go_in_waves_instead_of_deadlocking() {
        // h1 holds h2's VM and h2 holds h1's; neither home has room for the big one. Only once
        // `x` has left h1 can `big` go home, and only once `big` has left h2 can `y` go home.
        let hosts = [host("h1", 1), host("h2", 1), host("h3", 0)];
        let vms = [
            vm("x", Some("h1"), "h2", 1),
            vm("big", Some("h2"), "h1", 2),
            vm("y", Some("h3"), "h2", 2),
        ];
        let plan = plan_rebalance(&hosts, &vms);
        let waves: Vec<Vec<&str>> = plan
            .waves
            .iter()
            .map(|w| w.iter().map(|m| m.vm.as_str()).collect())
            .collect();
        assert_eq!(waves, [vec!["x"], vec!["big"], vec!["y"]]);
        assert!(plan.leftovers.is_empty());
    }

    #[test]
    fn leftovers_say_why() {
        let mut disabled = host("h9", 64);
        disabled.enabled = false;
        let hosts = [host("h1", 1), host("h2", 0), disabled];
        let mut paused = vm("paused", Some("h2"), "h1", 1);
        paused.power_state = PowerState::Paused;
        let vms = [
            vm("huge", Some("h2"), "h1", 4),
            vm("orphan", Some("h2"), "h9", 1),
            paused,
        ];
        let plan = plan_rebalance(&hosts, &vms);
        assert!(plan.waves.is_empty());
        let text: Vec<String> = plan.leftovers.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "huge stays on h2 instead of h1: it needs 4096 MiB and h1 has 1024 MiB free",
                "orphan stays on h2 instead of h9: h9 is not an enabled, live member it may run on",
                "paused stays on h2 instead of h1: it is Paused",
            ]
        );
    }

    proptest! {
        #[test]
        fn waves_never_overcommit_and_every_vm_is_accounted_for(
            frees in prop::collection::vec(0u64..8, 2..5),
            placements in prop::collection::vec((0usize..5, 0usize..5, 1u64..4), 0..20),
        ) {
            let hosts: Vec<HostFacts> = frees.iter().enumerate().map(|(i, f)| host(&format!("h{i}"), *f)).collect();
            let n = hosts.len();
            let vms: Vec<VmFacts> = placements.iter().enumerate()
                .map(|(i, (on, home, mem))| vm(&format!("vm{i}"), Some(&format!("h{}", on % n)), &format!("h{}", home % n), *mem))
                .collect();
            let plan = plan_rebalance(&hosts, &vms);
            let away = vms.iter().filter(|v| v.home != v.resident_on).count();
            prop_assert_eq!(plan.moves().count() + plan.starts.len() + plan.leftovers.len(), away);

            let mut free: BTreeMap<String, i128> = hosts.iter().map(|h| (h.name.clone(), h.free_memory as i128)).collect();
            for wave in &plan.waves {
                for m in wave {
                    *free.get_mut(&m.to).unwrap() -= m.memory as i128;
                    prop_assert!(free[&m.to] >= 0, "{} overcommitted in a wave", m.to);
                }
                for m in wave {
                    *free.get_mut(&m.from).unwrap() += m.memory as i128;
                }
            }
            for left in &plan.leftovers {
                if let LeftoverReason::NotEnoughMemory { needed, .. } = left.reason {
                    prop_assert!(free[&left.home] < needed as i128, "{} would have fitted", left.vm.name);
                }
            }
        }
    }
}
