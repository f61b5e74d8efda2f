//! The pool reconciler's decision: from fresh intent (control plane) and fresh fact (XAPI),
//! the one next step for this host. Level-triggered: it is never told why it runs, so a
//! repeated or missed change does no harm, and a converged host gets [`Step::Converged`].
//!
//! Which agent acts where two hosts are involved: a host joins and leaves by itself (its own
//! agent calls `pool.join` on its own XAPI and `pool.eject` on itself through the master); the
//! current master's agent hands the master role over; the first member of an aggregate with no
//! master claims the role. Memberships are the control plane's; master and membership facts are
//! XAPI's.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::facts::HostFacts;
use super::master::choose_master;

/// What the control plane wants for this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// This host's name.
    pub host: String,
    /// Whether the operator wants the host in maintenance.
    pub maintenance: bool,
    /// The pool aggregates (with a `hypervisor_pool` key) this host is in: at most one is valid.
    pub pools: Vec<PoolIntent>,
}

/// One pool aggregate as the control plane holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolIntent {
    /// The aggregate's name, which the XAPI pool is named after.
    pub aggregate: String,
    /// Member host names in the order they were added.
    pub members: Vec<MemberIntent>,
    /// `master_compute` from the metadata, if set.
    pub master: Option<String>,
    /// Whether the metadata asks for `pool.join_force`.
    pub force_join: bool,
}

/// A member as the control plane knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberIntent {
    /// Host name.
    pub name: String,
    /// The host's XAPI address (host part of its registered `xapi_url`), once its agent registered.
    pub xapi_address: Option<String>,
}

/// What XAPI says, read just before deciding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// This host's name.
    pub host: String,
    /// `name_label` of the pool this host is in.
    pub pool_name: String,
    /// Name of that pool's master.
    pub master: String,
    /// Every host of that pool, this one and the master included.
    pub members: Vec<HostFacts>,
    /// Running user VMs resident on this host, by name.
    pub running_vms: Vec<String>,
    /// Whether this host carries xenpool's maintenance marker (`other_config`), i.e. xenpool
    /// disabled it for maintenance and has not finished bringing its VMs home.
    pub maintenance_marker: bool,
    /// Whether this host joined recently and the master has not listed it enabled yet.
    pub awaiting_sync: bool,
    /// Whether the pool's current name is one xenpool gave it (from the agent's journal), so
    /// the last member leaving the aggregate clears it and an operator's own name is kept.
    pub named_by_xenpool: bool,
    /// Whether this host has been in a pool aggregate (from the agent's journal). A host that
    /// never was keeps the XAPI pool it is in: agents installed on an existing pool before its
    /// aggregate exists must not take it apart.
    pub managed: bool,
}

impl Fact {
    fn me(&self) -> Option<&HostFacts> {
        self.members.iter().find(|h| h.name == self.host)
    }

    fn is_master(&self) -> bool {
        self.master == self.host
    }

    fn others(&self) -> Vec<&HostFacts> {
        self.members
            .iter()
            .filter(|h| h.name != self.host)
            .collect()
    }

    fn contains(&self, host: &str) -> bool {
        self.members.iter().any(|h| h.name == host)
    }
}

/// Why the host cannot take its next step until someone acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Stable code: XAPI's where XAPI would refuse the same way, xenpool's otherwise.
    pub code: String,
    /// What is wrong, naming the hosts and VMs involved.
    pub message: String,
    /// What the operator can do.
    pub fix: String,
    /// XAPI's error parameters (names in place of refs) when XAPI refused, else empty.
    #[serde(default)]
    pub params: Vec<String>,
    /// VMs involved, by name.
    pub vms: Vec<String>,
    /// Hosts involved, by name.
    pub hosts: Vec<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; fix: {}", self.code, self.message, self.fix)
    }
}

/// Why a host leaves its XAPI pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Departure {
    /// It is in no pool aggregate any more.
    Removed,
    /// It is in a pool aggregate whose pool is another one.
    WrongPool,
}

/// The next step for this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Nothing to do.
    Converged,
    /// Record this host as the pool's master (`master_compute`), under the pool's lease.
    ClaimMaster {
        /// The aggregate.
        aggregate: String,
    },
    /// Record the XAPI pool's actual master as `master_compute`.
    RecordMaster {
        /// The aggregate.
        aggregate: String,
        /// The actual master.
        master: String,
    },
    /// `pool.set_name_label` on this host's pool (empty clears it).
    NamePool {
        /// The new name.
        name: String,
    },
    /// `pool.join` (or `join_force`) on this host's XAPI.
    Join {
        /// The aggregate.
        aggregate: String,
        /// The master's host name.
        master: String,
        /// The master's bare XAPI address.
        address: String,
        /// Whether to use `pool.join_force`.
        force: bool,
    },
    /// Wait until the master lists this host enabled after a join.
    AwaitSync,
    /// `pool.designate_new_master` to another member (this host is master).
    HandOver {
        /// The member that takes over.
        to: String,
    },
    /// Wait for another host's agent to act.
    Wait {
        /// Who or what is awaited.
        reason: String,
    },
    /// Migrate this host's running VMs to other members, then continue.
    Evacuate {
        /// Why (maintenance, or leaving the pool).
        for_departure: Option<Departure>,
    },
    /// `pool.eject` of this host (called on the master).
    Eject {
        /// Why.
        departure: Departure,
    },
    /// `host.disable` (persistent) and set the maintenance marker.
    Disable,
    /// `host.enable`, keeping the marker until the VMs are home.
    Enable,
    /// Bring VMs whose home is this host back, then clear the marker.
    Rebalance,
    /// Someone must fix something first.
    Blocked(Problem),
}

/// Chooses the next step. `handover_allowed` is false while the cool-down after this agent's
/// last handover runs, so an operator flipping `master_compute` back and forth cannot make
/// XAPI hand over twice in quick succession (`HA_ABORT_NEW_MASTER`, xen-api#6056).
pub fn next_step(intent: &Intent, fact: &Fact, handover_allowed: bool) -> Step {
    let me = intent.host.as_str();
    if intent.pools.len() > 1 {
        let names: Vec<&str> = intent.pools.iter().map(|p| p.aggregate.as_str()).collect();
        return Step::Blocked(Problem {
            code: "host_in_several_pools".into(),
            message: format!(
                "{me} is in the pool aggregates {}; a host can be in one XenServer pool",
                names.join(", ")
            ),
            fix: format!("remove {me} from all but one of them"),
            params: vec![],
            vms: vec![],
            hosts: vec![me.into()],
        });
    }
    let Some(pool) = intent.pools.first() else {
        return if fact.others().is_empty() {
            if fact.named_by_xenpool && !fact.pool_name.is_empty() {
                // The last member left: it keeps its VMs, only the pool name goes.
                return Step::NamePool {
                    name: String::new(),
                };
            }
            maintenance_step(intent, fact, handover_allowed)
        } else if fact.managed {
            leave(fact, Departure::Removed, handover_allowed)
        } else {
            maintenance_step(intent, fact, handover_allowed)
        };
    };
    let is_member = |name: &str| pool.members.iter().any(|m| m.name == name);
    let intended = pool.master.as_deref().filter(|m| is_member(m));

    let Some(intended) = intended else {
        // No valid master_compute: record reality, or let the first member claim the role.
        if fact.others().iter().any(|h| is_member(&h.name)) && is_member(&fact.master) {
            return Step::RecordMaster {
                aggregate: pool.aggregate.clone(),
                master: fact.master.clone(),
            };
        }
        if fact.others().is_empty() && pool.members.first().is_some_and(|m| m.name == me) {
            return Step::ClaimMaster {
                aggregate: pool.aggregate.clone(),
            };
        }
        if !fact.others().is_empty() && !is_member(&fact.master) {
            return leave(fact, Departure::WrongPool, handover_allowed);
        }
        let first = pool.members.first().map(|m| m.name.as_str()).unwrap_or(me);
        return Step::Wait {
            reason: format!(
                "waiting for {first}, the first member of {}, to become its master",
                pool.aggregate
            ),
        };
    };

    if fact.master == intended {
        if fact.is_master() && fact.pool_name != pool.aggregate {
            return Step::NamePool {
                name: pool.aggregate.clone(),
            };
        }
        if fact.awaiting_sync {
            return Step::AwaitSync;
        }
        return maintenance_step(intent, fact, handover_allowed);
    }
    if fact.is_master() {
        if fact.others().is_empty() {
            return join(pool, fact, intended);
        }
        if fact.contains(intended) {
            // master_compute names a member that cannot take the role (disabled for
            // maintenance, or unreachable): it is stale, e.g. read just after this host took
            // the role over. Reality wins; handing the role back would ping-pong.
            if fact
                .members
                .iter()
                .any(|h| h.name == intended && !(h.enabled && h.live))
            {
                return Step::RecordMaster {
                    aggregate: pool.aggregate.clone(),
                    master: me.to_owned(),
                };
            }
            // The operator moved master_compute to another member of this pool.
            return if handover_allowed {
                Step::HandOver {
                    to: intended.to_owned(),
                }
            } else {
                Step::Wait {
                    reason: format!(
                        "handover to {intended} waits for the cool-down after the last one"
                    ),
                }
            };
        }
        let others: Vec<String> = fact.others().iter().map(|h| h.name.clone()).collect();
        return Step::Blocked(Problem {
            code: "JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS".into(),
            message: format!(
                "{me} should join {intended}'s pool {} but is master of a pool with {}",
                pool.aggregate,
                others.join(", ")
            ),
            fix: format!(
                "remove {} from their pool aggregate, or make {me} the master_compute of {}",
                others.join(", "),
                pool.aggregate
            ),
            params: vec![],
            vms: vec![],
            hosts: others,
        });
    }
    // A member of some pool whose master is not the intended one.
    if fact.contains(intended) && is_member(&fact.master) {
        return Step::Wait {
            reason: format!(
                "waiting for {} to hand the master role to {intended}",
                fact.master
            ),
        };
    }
    leave(fact, Departure::WrongPool, handover_allowed)
}

fn join(pool: &PoolIntent, fact: &Fact, master: &str) -> Step {
    let me = fact.host.as_str();
    if !fact.running_vms.is_empty() {
        return Step::Blocked(Problem {
            code: "JOINING_HOST_CANNOT_HAVE_RUNNING_VMS".into(),
            message: format!(
                "{me} cannot join {master}'s pool {} while VMs run on it: {}",
                pool.aggregate,
                fact.running_vms.join(", ")
            ),
            fix: format!(
                "shut these VMs down or migrate them off {me}; the join then proceeds by itself"
            ),
            params: vec![],
            vms: fact.running_vms.clone(),
            hosts: vec![me.into()],
        });
    }
    let address = pool
        .members
        .iter()
        .find(|m| m.name == master)
        .and_then(|m| m.xapi_address.clone());
    match address {
        Some(address) => Step::Join {
            aggregate: pool.aggregate.clone(),
            master: master.to_owned(),
            address,
            force: pool.force_join,
        },
        None => Step::Wait {
            reason: format!("waiting for {master}'s agent to register its XAPI address"),
        },
    }
}

fn leave(fact: &Fact, departure: Departure, handover_allowed: bool) -> Step {
    if !fact.running_vms.is_empty() {
        return Step::Evacuate {
            for_departure: Some(departure),
        };
    }
    if fact.is_master() {
        let others: Vec<HostFacts> = fact.others().into_iter().cloned().collect();
        return match choose_master(&others, &[]) {
            Some(_) if !handover_allowed => Step::Wait {
                reason: "handover waits for the cool-down after the last one".into(),
            },
            Some(next) => Step::HandOver {
                to: next.name.clone(),
            },
            None => Step::Blocked(no_master_candidate(fact)),
        };
    }
    Step::Eject { departure }
}

fn maintenance_step(intent: &Intent, fact: &Fact, handover_allowed: bool) -> Step {
    let enabled = fact.me().is_some_and(|h| h.enabled);
    if intent.maintenance {
        if !fact.maintenance_marker || enabled {
            return Step::Disable;
        }
        if fact.is_master() && !fact.others().is_empty() {
            let others: Vec<HostFacts> = fact.others().into_iter().cloned().collect();
            return match choose_master(&others, &[]) {
                Some(_) if !handover_allowed => Step::Wait {
                    reason: "handover waits for the cool-down after the last one".into(),
                },
                Some(next) => Step::HandOver {
                    to: next.name.clone(),
                },
                None => Step::Blocked(no_master_candidate(fact)),
            };
        }
        if !fact.running_vms.is_empty() {
            return Step::Evacuate {
                for_departure: None,
            };
        }
        return Step::Converged;
    }
    if fact.maintenance_marker {
        return if enabled {
            Step::Rebalance
        } else {
            Step::Enable
        };
    }
    Step::Converged
}

fn no_master_candidate(fact: &Fact) -> Problem {
    let others: Vec<String> = fact.others().iter().map(|h| h.name.clone()).collect();
    Problem {
        code: "no_master_candidate".into(),
        message: format!(
            "{} is master and no other member ({}) is enabled and live to take over",
            fact.host,
            others.join(", ")
        ),
        fix: "enable or repair another member of the pool".into(),
        params: vec![],
        vms: vec![],
        hosts: others,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn member(name: &str) -> MemberIntent {
        MemberIntent {
            name: name.into(),
            xapi_address: Some(format!("10.0.0.{}", &name[1..])),
        }
    }

    fn pool(members: &[&str], master: Option<&str>) -> PoolIntent {
        PoolIntent {
            aggregate: "pool1".into(),
            members: members.iter().map(|m| member(m)).collect(),
            master: master.map(Into::into),
            force_join: false,
        }
    }

    fn intent(host: &str, pools: Vec<PoolIntent>) -> Intent {
        Intent {
            host: host.into(),
            maintenance: false,
            pools,
        }
    }

    fn host(name: &str, free_gib: u64) -> HostFacts {
        HostFacts {
            name: name.into(),
            enabled: true,
            live: true,
            free_memory: free_gib * GIB,
        }
    }

    /// `host` in an XAPI pool named `pool_name` with master `master` and `members`.
    fn fact(host_name: &str, pool_name: &str, master: &str, members: &[&str]) -> Fact {
        Fact {
            host: host_name.into(),
            pool_name: pool_name.into(),
            master: master.into(),
            members: members.iter().map(|m| host(m, 8)).collect(),
            running_vms: vec![],
            maintenance_marker: false,
            awaiting_sync: false,
            named_by_xenpool: false,
            managed: true,
        }
    }

    fn standalone(host_name: &str) -> Fact {
        fact(host_name, "", host_name, &[host_name])
    }

    #[test]
    fn the_first_member_claims_the_master_role_then_names_the_pool() {
        let i = intent("h1", vec![pool(&["h1", "h2"], None)]);
        assert_eq!(
            next_step(&i, &standalone("h1"), true),
            Step::ClaimMaster {
                aggregate: "pool1".into()
            }
        );
        let i = intent("h1", vec![pool(&["h1", "h2"], Some("h1"))]);
        assert_eq!(
            next_step(&i, &standalone("h1"), true),
            Step::NamePool {
                name: "pool1".into()
            }
        );
        assert_eq!(
            next_step(&i, &fact("h1", "pool1", "h1", &["h1"]), true),
            Step::Converged
        );
    }

    #[test]
    fn later_members_wait_for_the_master_then_join_it() {
        let i = intent("h2", vec![pool(&["h1", "h2"], None)]);
        assert!(matches!(
            next_step(&i, &standalone("h2"), true),
            Step::Wait { .. }
        ));
        let mut p = pool(&["h1", "h2"], Some("h1"));
        p.force_join = true;
        let i = intent("h2", vec![p]);
        assert_eq!(
            next_step(&i, &standalone("h2"), true),
            Step::Join {
                aggregate: "pool1".into(),
                master: "h1".into(),
                address: "10.0.0.1".into(),
                force: true
            }
        );
        let mut joined = fact("h2", "pool1", "h1", &["h1", "h2"]);
        joined.awaiting_sync = true;
        assert_eq!(next_step(&i, &joined, true), Step::AwaitSync);
        joined.awaiting_sync = false;
        assert_eq!(next_step(&i, &joined, true), Step::Converged);
    }

    #[test]
    fn a_joiner_with_running_vms_is_refused_by_name_and_waits_for_an_unregistered_master() {
        let i = intent("h2", vec![pool(&["h1", "h2"], Some("h1"))]);
        let mut f = standalone("h2");
        f.running_vms = vec!["web1".into(), "db1".into()];
        let Step::Blocked(problem) = next_step(&i, &f, true) else {
            panic!("expected a refusal")
        };
        assert_eq!(problem.code, "JOINING_HOST_CANNOT_HAVE_RUNNING_VMS");
        assert_eq!(problem.vms, ["web1", "db1"]);
        assert!(problem.to_string().contains("web1, db1"), "{problem}");

        let mut p = pool(&["h1", "h2"], Some("h1"));
        p.members[0].xapi_address = None;
        let step = next_step(&intent("h2", vec![p]), &standalone("h2"), true);
        assert!(
            matches!(step, Step::Wait { ref reason } if reason.contains("h1's agent")),
            "{step:?}"
        );
    }

    #[test]
    fn a_removed_member_evacuates_then_is_ejected_and_a_removed_master_hands_over_first() {
        let i = intent("h2", vec![]);
        let mut f = fact("h2", "pool1", "h1", &["h1", "h2", "h3"]);
        f.running_vms = vec!["vm".into()];
        assert_eq!(
            next_step(&i, &f, true),
            Step::Evacuate {
                for_departure: Some(Departure::Removed)
            }
        );
        f.running_vms.clear();
        assert_eq!(
            next_step(&i, &f, true),
            Step::Eject {
                departure: Departure::Removed
            }
        );

        let i = intent("h1", vec![]);
        let mut f = fact("h1", "pool1", "h1", &["h1", "h2", "h3"]);
        f.members[2].free_memory = 32 * GIB;
        assert_eq!(next_step(&i, &f, true), Step::HandOver { to: "h3".into() });
        assert!(matches!(next_step(&i, &f, false), Step::Wait { .. }));
        f.members[1].enabled = false;
        f.members[2].live = false;
        let Step::Blocked(problem) = next_step(&i, &f, true) else {
            panic!()
        };
        assert_eq!(problem.code, "no_master_candidate");
    }

    #[test]
    fn remaining_members_record_the_new_master_after_a_handover() {
        // h1 left; master_compute still says h1; h3 is now master of h2 and h3.
        let i = intent("h2", vec![pool(&["h2", "h3"], Some("h1"))]);
        let f = fact("h2", "pool1", "h3", &["h2", "h3"]);
        assert_eq!(
            next_step(&i, &f, true),
            Step::RecordMaster {
                aggregate: "pool1".into(),
                master: "h3".into()
            }
        );
    }

    #[test]
    fn an_operator_moving_master_compute_asks_the_current_master_to_hand_over() {
        let i = intent("h1", vec![pool(&["h1", "h2"], Some("h2"))]);
        let f = fact("h1", "pool1", "h1", &["h1", "h2"]);
        assert_eq!(next_step(&i, &f, true), Step::HandOver { to: "h2".into() });
        assert!(
            matches!(next_step(&i, &f, false), Step::Wait { .. }),
            "no ping-pong inside the cool-down"
        );
        let i2 = intent("h2", vec![pool(&["h1", "h2"], Some("h2"))]);
        let f2 = fact("h2", "pool1", "h1", &["h1", "h2"]);
        assert!(
            matches!(next_step(&i2, &f2, true), Step::Wait { ref reason } if reason.contains("h1 to hand"))
        );
    }

    #[test]
    fn a_stale_master_compute_naming_a_disabled_member_is_rewritten_not_obeyed() {
        // xs1 went into maintenance and handed the role to xs2; xs2 reads master_compute=xs1.
        let i = intent("h2", vec![pool(&["h1", "h2"], Some("h1"))]);
        let mut f = fact("h2", "pool1", "h2", &["h1", "h2"]);
        f.members[0].enabled = false;
        assert_eq!(
            next_step(&i, &f, true),
            Step::RecordMaster {
                aggregate: "pool1".into(),
                master: "h2".into()
            }
        );
    }

    #[test]
    fn a_member_of_a_foreign_pool_leaves_it_and_a_master_of_others_is_refused() {
        let i = intent("h2", vec![pool(&["h1", "h2"], Some("h1"))]);
        let f = fact("h2", "other", "h9", &["h9", "h2"]);
        assert_eq!(
            next_step(&i, &f, true),
            Step::Eject {
                departure: Departure::WrongPool
            }
        );

        let f = fact("h2", "other", "h2", &["h2", "h8"]);
        let Step::Blocked(problem) = next_step(&i, &f, true) else {
            panic!()
        };
        assert_eq!(problem.code, "JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS");
        assert_eq!(problem.hosts, ["h8"]);
    }

    #[test]
    fn a_host_in_two_pool_aggregates_is_refused() {
        let mut second = pool(&["h1"], Some("h1"));
        second.aggregate = "pool2".into();
        let i = intent("h1", vec![pool(&["h1"], Some("h1")), second]);
        let Step::Blocked(problem) = next_step(&i, &standalone("h1"), true) else {
            panic!()
        };
        assert!(problem.message.contains("pool1, pool2"), "{problem}");
    }

    #[test]
    fn maintenance_disables_hands_over_evacuates_then_comes_back_and_rebalances() {
        let mut i = intent("h1", vec![pool(&["h1", "h2"], Some("h1"))]);
        i.maintenance = true;
        let mut f = fact("h1", "pool1", "h1", &["h1", "h2"]);
        f.running_vms = vec!["vm".into()];
        assert_eq!(next_step(&i, &f, true), Step::Disable);
        f.maintenance_marker = true;
        f.members[0].enabled = false;
        assert_eq!(next_step(&i, &f, true), Step::HandOver { to: "h2".into() });
        // After the handover master_compute is rewritten to h2 and h2 is master.
        i.pools[0].master = Some("h2".into());
        f.master = "h2".into();
        assert_eq!(
            next_step(&i, &f, true),
            Step::Evacuate {
                for_departure: None
            }
        );
        f.running_vms.clear();
        assert_eq!(next_step(&i, &f, true), Step::Converged);

        i.maintenance = false;
        assert_eq!(next_step(&i, &f, true), Step::Enable);
        f.members[0].enabled = true;
        assert_eq!(next_step(&i, &f, true), Step::Rebalance);
        f.maintenance_marker = false;
        assert_eq!(next_step(&i, &f, true), Step::Converged);
    }

    #[test]
    fn the_last_member_leaving_keeps_its_vms_and_clears_only_a_name_xenpool_gave() {
        let i = intent("h1", vec![]);
        let mut f = fact("h1", "pool1", "h1", &["h1"]);
        f.running_vms = vec!["vm".into()];
        assert_eq!(
            next_step(&i, &f, true),
            Step::Converged,
            "an operator's own pool name stays"
        );
        f.named_by_xenpool = true;
        assert_eq!(
            next_step(&i, &f, true),
            Step::NamePool {
                name: String::new()
            }
        );
        f.pool_name.clear();
        assert_eq!(next_step(&i, &f, true), Step::Converged);
    }

    #[test]
    fn a_pool_member_never_in_a_pool_aggregate_keeps_its_pool() {
        let mut f = fact("h2", "legacy", "h1", &["h1", "h2"]);
        f.managed = false;
        assert_eq!(next_step(&intent("h2", vec![]), &f, true), Step::Converged);
        let mut f = fact("h1", "legacy", "h1", &["h1", "h2"]);
        f.managed = false;
        assert_eq!(next_step(&intent("h1", vec![]), &f, true), Step::Converged);
        f.managed = true;
        assert_eq!(
            next_step(&intent("h1", vec![]), &f, true),
            Step::HandOver { to: "h2".into() },
            "a member xenpool managed leaves when removed"
        );
    }

    #[test]
    fn a_standalone_host_outside_any_pool_still_honours_maintenance() {
        let mut i = intent("h5", vec![]);
        i.maintenance = true;
        assert_eq!(next_step(&i, &standalone("h5"), true), Step::Disable);
    }
}
