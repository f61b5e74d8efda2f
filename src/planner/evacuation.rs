//! Evacuation plans: where every VM of a host goes before the host is disabled or ejected.

use std::fmt;

use serde::{Deserialize, Serialize};
use xenpool_xapi_types::PowerState;

use super::facts::{Blocker, EvacuationPolicy, HostFacts, VmFacts};
use super::mib;
use super::schedule::Move;

/// A VM named by both its name and its uuid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmId {
    /// `name_label`.
    pub name: String,
    /// `uuid`.
    pub uuid: String,
}

/// Why a VM cannot leave the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UnplaceableReason {
    /// XAPI refuses to move it (local disk, PCI device, blocked operation, …).
    Blocked(Blocker),
    /// Its evacuation policy is `block`.
    PolicyBlock,
    /// It is in a power state that cannot be live-migrated.
    BadPowerState {
        /// The state it is in.
        state: PowerState,
    },
    /// No enabled, live member it may run on other than its current host.
    NoHostsAvailable,
    /// No permitted destination has enough free memory left.
    NotEnoughMemory {
        /// Bytes it needs.
        needed: u64,
        /// The most free memory any permitted destination has left after the other placements.
        largest_free: u64,
    },
}

impl UnplaceableReason {
    /// The XAPI-style code for this reason (XAPI's own code where XAPI gave one).
    pub fn code(&self) -> &str {
        match self {
            UnplaceableReason::Blocked(b) => &b.code,
            UnplaceableReason::PolicyBlock => "EVACUATION_BLOCKED_BY_POLICY",
            UnplaceableReason::BadPowerState { .. } => "VM_BAD_POWER_STATE",
            UnplaceableReason::NoHostsAvailable => "NO_HOSTS_AVAILABLE",
            UnplaceableReason::NotEnoughMemory { .. } => "HOST_NOT_ENOUGH_FREE_MEMORY",
        }
    }

    /// What the operator can do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            UnplaceableReason::Blocked(b) => match b.code.as_str() {
                "VM_REQUIRES_SR" => "move its disks to shared storage, or set other_config xenpool_evacuation=shutdown on the VM",
                "VM_REQUIRES_NETWORK" => "attach the network to every member, or set xenpool_evacuation=shutdown",
                "VM_HAS_PCI_ATTACHED" | "VM_HAS_VGPU" | "VM_HAS_SRIOV_VIF" => {
                    "detach the device, or set xenpool_evacuation=shutdown on the VM"
                }
                "OPERATION_BLOCKED" => "remove pool_migrate from the VM's blocked_operations",
                _ => "clear the cause XAPI names, or set xenpool_evacuation=shutdown on the VM",
            },
            UnplaceableReason::PolicyBlock => {
                "move or stop the VM by hand, or change its xenpool_evacuation policy"
            }
            UnplaceableReason::BadPowerState { .. } => "resume or shut the VM down first",
            UnplaceableReason::NoHostsAvailable => "add or enable another member of the pool",
            UnplaceableReason::NotEnoughMemory { .. } => {
                "free memory on another member, add a member, or shut some VMs down"
            }
        }
    }
}

impl fmt::Display for UnplaceableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnplaceableReason::Blocked(b) => write!(f, "{} [{}]", b.code, b.params.join(", ")),
            UnplaceableReason::PolicyBlock => write!(f, "its evacuation policy is block"),
            UnplaceableReason::BadPowerState { state } => {
                write!(
                    f,
                    "VM_BAD_POWER_STATE: it is {state}, only Running VMs migrate live"
                )
            }
            UnplaceableReason::NoHostsAvailable => {
                write!(
                    f,
                    "NO_HOSTS_AVAILABLE: no other enabled, live member may run it"
                )
            }
            UnplaceableReason::NotEnoughMemory {
                needed,
                largest_free,
            } => write!(
                f,
                "HOST_NOT_ENOUGH_FREE_MEMORY: needs {}, the most any destination has left is {}",
                mib(*needed),
                mib(*largest_free)
            ),
        }
    }
}

/// A VM that cannot leave, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unplaceable {
    /// The VM.
    pub vm: VmId,
    /// Why.
    pub reason: UnplaceableReason,
}

impl fmt::Display for Unplaceable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}; fix: {}",
            self.vm.name,
            self.reason,
            self.reason.fix()
        )
    }
}

/// What evacuating one host takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvacuationPlan {
    /// The host being emptied.
    pub source: String,
    /// Live migrations, in the order to start them (largest first, which keeps the longest
    /// transfers from being last).
    pub moves: Vec<Move>,
    /// VMs to shut down because their policy says so.
    pub shutdowns: Vec<VmId>,
    /// VMs that cannot leave. A plan with any of these must not be started.
    pub unplaceable: Vec<Unplaceable>,
}

impl EvacuationPlan {
    /// Whether every VM on the source has somewhere to go (or is to be shut down).
    pub fn is_complete(&self) -> bool {
        self.unplaceable.is_empty()
    }
}

/// Plans the evacuation of `source`: every VM resident there that is not Halted is migrated,
/// shut down, or reported unplaceable. Destinations are the other enabled, live hosts a VM may
/// run on; VMs are placed largest first onto the destination with the most free memory left
/// (spreading load and transfers), ties by host name, and no destination ever receives more
/// than its free memory.
pub fn plan_evacuation(source: &str, hosts: &[HostFacts], vms: &[VmFacts]) -> EvacuationPlan {
    let mut free: Vec<(&str, u64)> = hosts
        .iter()
        .filter(|h| h.name != source && h.enabled && h.live)
        .map(|h| (h.name.as_str(), h.free_memory))
        .collect();
    free.sort_by(|a, b| a.0.cmp(b.0));

    let mut resident: Vec<&VmFacts> = vms
        .iter()
        .filter(|vm| {
            vm.resident_on.as_deref() == Some(source) && vm.power_state != PowerState::Halted
        })
        .collect();
    resident.sort_by(|a, b| {
        b.memory
            .cmp(&a.memory)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.uuid.cmp(&b.uuid))
    });

    let mut plan = EvacuationPlan {
        source: source.to_owned(),
        moves: Vec::new(),
        shutdowns: Vec::new(),
        unplaceable: Vec::new(),
    };
    for vm in resident {
        let id = VmId {
            name: vm.name.clone(),
            uuid: vm.uuid.clone(),
        };
        let refuse = |reason| Unplaceable {
            vm: id.clone(),
            reason,
        };
        match vm.policy {
            EvacuationPolicy::Block => {
                plan.unplaceable
                    .push(refuse(UnplaceableReason::PolicyBlock));
                continue;
            }
            EvacuationPolicy::Shutdown => {
                plan.shutdowns.push(id);
                continue;
            }
            EvacuationPolicy::Migrate => {}
        }
        if let Some(blocker) = vm.blockers.first() {
            plan.unplaceable
                .push(refuse(UnplaceableReason::Blocked(blocker.clone())));
            continue;
        }
        if vm.power_state != PowerState::Running {
            plan.unplaceable
                .push(refuse(UnplaceableReason::BadPowerState {
                    state: vm.power_state,
                }));
            continue;
        }
        let permitted = free.iter_mut().filter(|(name, _)| vm.may_run_on(name));
        let mut best: Option<&mut (&str, u64)> = None;
        let mut largest_free = 0;
        let mut any = false;
        for slot in permitted {
            any = true;
            largest_free = largest_free.max(slot.1);
            if slot.1 >= vm.memory && best.as_ref().is_none_or(|b| slot.1 > b.1) {
                best = Some(slot);
            }
        }
        match best {
            Some(slot) => {
                slot.1 -= vm.memory;
                plan.moves.push(Move {
                    vm: vm.name.clone(),
                    vm_uuid: vm.uuid.clone(),
                    from: source.to_owned(),
                    to: slot.0.to_owned(),
                    memory: vm.memory,
                });
            }
            None if !any => plan
                .unplaceable
                .push(refuse(UnplaceableReason::NoHostsAvailable)),
            None => plan
                .unplaceable
                .push(refuse(UnplaceableReason::NotEnoughMemory {
                    needed: vm.memory,
                    largest_free,
                })),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::facts::{Blocker, EvacuationPolicy};
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

    fn vm(name: &str, on: &str, gib: u64) -> VmFacts {
        VmFacts {
            name: name.into(),
            uuid: format!("uuid-{name}"),
            resident_on: Some(on.into()),
            power_state: PowerState::Running,
            memory: gib * GIB,
            policy: EvacuationPolicy::Migrate,
            blockers: vec![],
            allowed_hosts: None,
            home: None,
            halted_for_maintenance: false,
        }
    }

    #[test]
    fn spreads_vms_over_the_members_with_most_room_largest_first() {
        let hosts = [host("h1", 0), host("h2", 8), host("h3", 6)];
        let vms = [
            vm("small", "h1", 1),
            vm("big", "h1", 4),
            vm("mid", "h1", 3),
            vm("elsewhere", "h2", 1),
        ];
        let plan = plan_evacuation("h1", &hosts, &vms);
        let placed: Vec<(&str, &str)> = plan
            .moves
            .iter()
            .map(|m| (m.vm.as_str(), m.to.as_str()))
            .collect();
        // big → h2 (8 left → 4), mid → h3 (6 → 3), small → h2 (4 → 3, beats h3's 3 by name).
        assert_eq!(placed, [("big", "h2"), ("mid", "h3"), ("small", "h2")]);
        assert!(plan.is_complete());
    }

    #[test]
    fn never_targets_disabled_dead_or_forbidden_hosts() {
        let mut hosts = vec![
            host("h1", 0),
            host("h2", 64),
            host("h3", 64),
            host("h4", 64),
        ];
        hosts[1].enabled = false;
        hosts[2].live = false;
        let mut pinned = vm("pinned", "h1", 1);
        pinned.allowed_hosts = Some(vec!["h2".into()]);
        let plan = plan_evacuation("h1", &hosts, &[vm("free", "h1", 1), pinned]);
        assert_eq!(plan.moves.len(), 1);
        assert_eq!(plan.moves[0].to, "h4");
        assert_eq!(plan.unplaceable[0].vm.name, "pinned");
        assert_eq!(
            plan.unplaceable[0].reason,
            UnplaceableReason::NoHostsAvailable
        );
    }

    #[test]
    fn names_every_vm_that_cannot_leave_with_xapis_reason() {
        let hosts = [host("h1", 0), host("h2", 2)];
        let mut local = vm("local-disk", "h1", 1);
        local.blockers = vec![Blocker {
            code: "VM_REQUIRES_SR".into(),
            params: vec!["local-disk".into(), "Local storage on h1".into()],
        }];
        let mut paused = vm("paused", "h1", 1);
        paused.power_state = PowerState::Paused;
        let mut blocked = vm("precious", "h1", 1);
        blocked.policy = EvacuationPolicy::Block;
        let mut stop = vm("batch", "h1", 1);
        stop.policy = EvacuationPolicy::Shutdown;
        let mut halted = vm("halted", "h1", 1);
        halted.power_state = PowerState::Halted;
        let vms = [
            vm("huge", "h1", 3),
            local,
            paused,
            blocked,
            stop,
            halted,
            vm("fits", "h1", 2),
        ];
        let plan = plan_evacuation("h1", &hosts, &vms);

        assert_eq!(
            plan.moves.iter().map(|m| m.vm.as_str()).collect::<Vec<_>>(),
            ["fits"]
        );
        assert_eq!(
            plan.shutdowns
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>(),
            ["batch"]
        );
        let reasons: Vec<(String, String)> = plan
            .unplaceable
            .iter()
            .map(|u| (u.vm.name.clone(), u.reason.code().to_owned()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("huge".to_owned(), "HOST_NOT_ENOUGH_FREE_MEMORY".to_owned()),
                ("local-disk".to_owned(), "VM_REQUIRES_SR".to_owned()),
                ("paused".to_owned(), "VM_BAD_POWER_STATE".to_owned()),
                (
                    "precious".to_owned(),
                    "EVACUATION_BLOCKED_BY_POLICY".to_owned()
                ),
            ]
        );
        let text = plan.unplaceable[1].to_string();
        assert!(
            text.contains("VM_REQUIRES_SR [local-disk, Local storage on h1]"),
            "{text}"
        );
        assert!(text.contains("shared storage"), "{text}");
        assert!(plan.unplaceable[0].to_string().contains("needs 3072 MiB"));
    }

    fn arb_world() -> impl Strategy<Value = (Vec<HostFacts>, Vec<VmFacts>)> {
        let hosts =
            prop::collection::vec((any::<bool>(), any::<bool>(), 0u64..32), 1..6).prop_map(|hs| {
                hs.into_iter()
                    .enumerate()
                    .map(|(i, (enabled, live, free))| HostFacts {
                        name: format!("h{i}"),
                        enabled: enabled || i % 2 == 0,
                        live: live || i % 3 == 0,
                        free_memory: free * GIB / 2,
                    })
                    .collect::<Vec<_>>()
            });
        hosts.prop_flat_map(|hosts| {
            let n = hosts.len();
            let vms = prop::collection::vec((0..n, 1u64..16, 0u8..4, 0u8..10), 0..30).prop_map(
                move |vs| {
                    vs.into_iter()
                        .enumerate()
                        .map(|(i, (on, mem, state, policy))| {
                            let mut v = vm(&format!("vm{i}"), &format!("h{on}"), 0);
                            v.memory = mem * GIB / 4;
                            v.power_state = PowerState::ALL[state as usize];
                            v.policy = match policy {
                                0 => EvacuationPolicy::Block,
                                1 => EvacuationPolicy::Shutdown,
                                _ => EvacuationPolicy::Migrate,
                            };
                            v
                        })
                        .collect::<Vec<_>>()
                },
            );
            (Just(hosts), vms)
        })
    }

    proptest! {
        #[test]
        fn plans_account_for_every_vm_and_never_overcommit((hosts, vms) in arb_world()) {
            let plan = plan_evacuation("h0", &hosts, &vms);
            let leaving: Vec<&VmFacts> = vms.iter()
                .filter(|v| v.resident_on.as_deref() == Some("h0") && v.power_state != PowerState::Halted)
                .collect();
            let accounted = plan.moves.len() + plan.shutdowns.len() + plan.unplaceable.len();
            prop_assert_eq!(accounted, leaving.len());
            for h in &hosts {
                let received: u64 = plan.moves.iter().filter(|m| m.to == h.name).map(|m| m.memory).sum();
                if received > 0 {
                    prop_assert!(h.enabled && h.live && h.name != "h0");
                    prop_assert!(received <= h.free_memory, "{} overcommitted", h.name);
                }
            }
            for u in &plan.unplaceable {
                if let UnplaceableReason::NotEnoughMemory { needed, largest_free } = u.reason {
                    prop_assert!(largest_free < needed);
                }
            }
            prop_assert_eq!(plan.clone(), plan_evacuation("h0", &hosts, &vms), "plans are deterministic");
        }
    }
}
