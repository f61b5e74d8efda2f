//! Carrying out evacuation and rebalance plans against XAPI: bounded-concurrency live
//! migrations with retries of transient failures, per-VM outcomes, and each VM's home host
//! recorded in its `other_config` before it leaves.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tracing::{info, info_span, warn, Instrument};

use super::observe::{Observation, RefNames, HALTED_KEY, HOME_KEY};
use crate::planner::{
    plan_evacuation, Blocker, Concurrency, EvacuationPlan, EvacuationPolicy, Move, RebalancePlan,
    Schedule,
};
use crate::xenapi::{ErrorCode, Ref, Session, XenApiError};

/// How often a migration that failed transiently is tried again.
pub const MIGRATION_ATTEMPTS: u32 = 3;

/// What happened to one VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VmOutcome {
    /// VM name.
    pub name: String,
    /// VM uuid (not part of the operation's wire form).
    #[serde(skip)]
    pub uuid: String,
    /// Where it was.
    pub from: Option<String>,
    /// Where it went (or was meant to go).
    pub to: Option<String>,
    /// `migrated`, `shut_down`, `started`, `failed`, `unmovable`.
    pub result: String,
    /// XAPI's error, with names for refs, when it failed.
    pub error: Option<String>,
    /// The same error, structured (not part of the operation's wire form).
    #[serde(skip)]
    pub failure: Option<VmFailure>,
}

/// Why one VM's move or power operation failed: XAPI's code and parameters (refs named).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmFailure {
    /// XAPI's error code, or xenpool's where XAPI gave none.
    pub code: String,
    /// XAPI's parameters, names in place of refs.
    pub params: Vec<String>,
    /// Whether trying again later may succeed (dead session, XAPI restarting, …).
    pub transient: bool,
}

impl VmFailure {
    /// The structured form of `error`, with `names` for refs.
    pub fn of(names: &RefNames, error: &XenApiError) -> VmFailure {
        VmFailure {
            code: error
                .code()
                .map_or_else(|| "xapi_unreachable".to_owned(), |c| c.to_string()),
            params: error.params().iter().map(|p| names.name(p)).collect(),
            transient: error.is_transient() || error.code().is_none(),
        }
    }
}

/// Limits of one run.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Migration bounds.
    pub concurrency: Concurrency,
    /// Timeout of one migration task.
    pub migration_timeout: Duration,
}

/// Sets `key` in a VM's `other_config`, replacing any value (XAPI refuses duplicate adds).
pub async fn set_vm_key(
    session: &Session,
    vm: &Ref,
    key: &str,
    value: &str,
) -> Result<(), XenApiError> {
    session.vm_remove_from_other_config(vm, key).await?;
    session.vm_add_to_other_config(vm, key, value).await
}

/// Plans the evacuation of `source` from fresh facts: XAPI's per-VM blockers
/// (`host.get_vms_which_prevent_evacuation`, SR and VM refs named) plus the planner's memory
/// placement over every other enabled, live member.
pub async fn plan_evacuation_of(
    session: &Session,
    obs: &Observation,
    source: &str,
    default_policy: EvacuationPolicy,
) -> Result<EvacuationPlan, XenApiError> {
    let host = obs
        .host(source)
        .map(|h| h.reference.clone())
        .unwrap_or_else(|| obs.my_host().reference.clone());
    let raw = session.host_get_vms_which_prevent_evacuation(&host).await?;
    let names = match raw.is_empty() {
        true => obs.ref_names(),
        false => obs.ref_names().with_storage(session).await,
    };
    let blockers: BTreeMap<String, Blocker> = raw
        .into_iter()
        .filter_map(|(vm, reason)| {
            let uuid = obs.vms.iter().find(|(r, _)| *r == vm)?.1.uuid.clone();
            let mut reason = reason.into_iter();
            let code = reason.next()?;
            // Memory and placement are the planner's to decide, across every member.
            if code == "HOST_NOT_ENOUGH_FREE_MEMORY" || code == "NO_HOSTS_AVAILABLE" {
                return None;
            }
            Some((
                uuid,
                Blocker {
                    code,
                    params: reason.map(|p| names.name(&p)).collect(),
                },
            ))
        })
        .collect();
    Ok(plan_evacuation(
        source,
        &obs.host_facts(),
        &obs.vm_facts(default_policy, &blockers),
    ))
}

/// Sets `key` in a host's `other_config`, replacing any value.
pub async fn set_host_key(
    session: &Session,
    host: &Ref,
    key: &str,
    value: &str,
) -> Result<(), XenApiError> {
    session.host_remove_from_other_config(host, key).await?;
    session.host_add_to_other_config(host, key, value).await
}

/// Runs `moves` under `limits`, calling `progress` after each finished VM (its outcome, how
/// many are done, how many there are). Returns one outcome per move, in completion order.
pub async fn run_moves(
    session: &Session,
    obs: &Observation,
    moves: Vec<Move>,
    limits: RunLimits,
    record_home: Option<&str>,
    mut progress: impl FnMut(&VmOutcome, usize, usize),
) -> Vec<VmOutcome> {
    let total = moves.len();
    let mut schedule = Schedule::new(moves, limits.concurrency);
    let mut attempts: BTreeMap<String, u32> = BTreeMap::new();
    let mut running = JoinSet::new();
    let mut outcomes = Vec::with_capacity(total);
    loop {
        while let Some(next) = schedule.start_next() {
            let session = session.clone();
            let vm = obs.vm(&next.vm_uuid);
            let vm_ref = vm.map(|(r, _)| r.clone());
            let recorded = vm.and_then(|(_, v)| v.other_config.get(HOME_KEY).cloned());
            let host_ref = obs.host(&next.to).map(|h| h.reference.clone());
            let home = record_home.map(str::to_owned);
            let timeout = limits.migration_timeout;
            let names = obs.ref_names();
            let span = info_span!("migrate", vm = %next.vm, from = %next.from, to = %next.to);
            running.spawn(
                async move {
                    let result = match (vm_ref, host_ref) {
                        (Some(vm), Some(host)) => {
                            let home = home.as_deref().map(|h| (h, recorded.as_deref()));
                            migrate(&session, &names, &vm, &host, home, timeout).await
                        }
                        _ => Err(MigrationFailure::permanent(
                            "vm_or_host_gone",
                            "the VM or its destination is no longer in the pool".into(),
                        )),
                    };
                    (next, result)
                }
                .instrument(span),
            );
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let Ok((done, result)) = joined else { continue };
        schedule.finish(&done.vm_uuid);
        let tries = attempts.entry(done.vm_uuid.clone()).or_insert(0);
        *tries += 1;
        let outcome = match result {
            Ok(()) => {
                info!(vm = %done.vm, to = %done.to, "migrated");
                VmOutcome {
                    name: done.vm.clone(),
                    uuid: done.vm_uuid.clone(),
                    from: Some(done.from.clone()),
                    to: Some(done.to.clone()),
                    result: "migrated".into(),
                    error: None,
                    failure: None,
                }
            }
            Err(f) if f.failure.transient && *tries < MIGRATION_ATTEMPTS => {
                warn!(vm = %done.vm, error = %f.message, attempt = *tries, "migration failed, will retry");
                schedule.requeue(done);
                continue;
            }
            Err(f) => {
                warn!(vm = %done.vm, error = %f.message, "migration failed");
                VmOutcome {
                    name: done.vm.clone(),
                    uuid: done.vm_uuid.clone(),
                    from: Some(done.from.clone()),
                    to: Some(done.to.clone()),
                    result: "failed".into(),
                    error: Some(f.message),
                    failure: Some(f.failure),
                }
            }
        };
        metrics::counter!("xenpool_agent_migrations_total", "result" => outcome.result.clone())
            .increment(1);
        progress(&outcome, outcomes.len() + 1, total);
        outcomes.push(outcome);
    }
    outcomes
}

struct MigrationFailure {
    failure: VmFailure,
    message: String,
}

impl MigrationFailure {
    fn permanent(code: &str, message: String) -> MigrationFailure {
        MigrationFailure {
            failure: VmFailure {
                code: code.into(),
                params: vec![],
                transient: false,
            },
            message,
        }
    }
}

/// Records `home` in the VM's `other_config` (given what the observation said it held) and
/// live-migrates it to `host`.
async fn migrate(
    session: &Session,
    names: &RefNames,
    vm: &Ref,
    host: &Ref,
    home: Option<(&str, Option<&str>)>,
    timeout: Duration,
) -> Result<(), MigrationFailure> {
    let fail = |e: XenApiError| MigrationFailure {
        failure: VmFailure::of(names, &e),
        message: names.describe(&e),
    };
    if let Some((home, recorded)) = home {
        record_home(session, vm, home, recorded)
            .await
            .map_err(fail)?;
    }
    let options = BTreeMap::from([("live".to_owned(), "true".to_owned())]);
    let task = session
        .vm_pool_migrate_async(vm, host, &options)
        .await
        .map_err(fail)?;
    session
        .wait_task(&task, timeout)
        .await
        .map(drop)
        .map_err(fail)
}

/// Sets the VM's home key to `home` in one call when the observation showed it absent (two
/// when it held another value, none when it already held `home`). A key added since the
/// observation (a retried migration) is replaced.
async fn record_home(
    session: &Session,
    vm: &Ref,
    home: &str,
    recorded: Option<&str>,
) -> Result<(), XenApiError> {
    match recorded {
        Some(r) if r == home => Ok(()),
        Some(_) => set_vm_key(session, vm, HOME_KEY, home).await,
        None => match session.vm_add_to_other_config(vm, HOME_KEY, home).await {
            Err(e) if e.is(&ErrorCode::MAP_DUPLICATE_KEY) => {
                set_vm_key(session, vm, HOME_KEY, home).await
            }
            other => other,
        },
    }
}

/// Shuts down the plan's `shutdown`-policy VMs, marking them so leaving maintenance starts them.
pub async fn shut_down(
    session: &Session,
    obs: &Observation,
    plan: &EvacuationPlan,
    home: &str,
) -> Vec<VmOutcome> {
    let mut outcomes = Vec::new();
    for vm in &plan.shutdowns {
        let Some((reference, _)) = obs.vm(&vm.uuid) else {
            continue;
        };
        let result = async {
            set_vm_key(session, reference, HOME_KEY, home).await?;
            set_vm_key(session, reference, HALTED_KEY, "true").await?;
            session.vm_clean_shutdown(reference).await
        }
        .await;
        outcomes.push(VmOutcome {
            name: vm.name.clone(),
            uuid: vm.uuid.clone(),
            from: Some(home.to_owned()),
            to: None,
            result: if result.is_ok() {
                "shut_down"
            } else {
                "failed"
            }
            .into(),
            failure: result
                .as_ref()
                .err()
                .map(|e| VmFailure::of(&obs.ref_names(), e)),
            error: result.err().map(|e| obs.ref_names().describe(&e)),
        });
    }
    outcomes
}

/// Runs a rebalance plan: waves of migrations home, then starts of VMs halted for maintenance,
/// clearing each VM's home marks once it is home and calling `finished` with each outcome.
pub async fn rebalance(
    session: &Session,
    obs: &Observation,
    plan: RebalancePlan,
    limits: RunLimits,
    mut finished: impl FnMut(&VmOutcome),
) -> Vec<VmOutcome> {
    let total = plan.moves().count() + plan.starts.len();
    let mut outcomes: Vec<VmOutcome> = Vec::with_capacity(total);
    // A VM that came home just before the agent was killed still carries its away mark.
    let me = obs.my_host();
    for (reference, vm) in &obs.vms {
        let home = vm.other_config.get(HOME_KEY) == Some(&me.name);
        if home && vm.resident_on == me.reference && !vm.other_config.contains_key(HALTED_KEY) {
            let _ = session
                .vm_remove_from_other_config(reference, HOME_KEY)
                .await;
        }
    }
    for wave in plan.waves {
        let wave_outcomes =
            run_moves(session, obs, wave, limits, None, |o, _, _| finished(o)).await;
        for outcome in &wave_outcomes {
            if outcome.result == "migrated" {
                if let Some((reference, _)) = obs.vm(&outcome.uuid) {
                    let _ = session
                        .vm_remove_from_other_config(reference, HOME_KEY)
                        .await;
                }
            }
        }
        outcomes.extend(wave_outcomes);
    }
    for start in plan.starts {
        let Some((reference, _)) = obs.vm(&start.vm.uuid) else {
            continue;
        };
        let Some(host) = obs.host(&start.on) else {
            continue;
        };
        let result = session
            .call_void(
                "VM.start_on",
                vec![
                    reference.as_str().into(),
                    host.reference.as_str().into(),
                    false.into(),
                    false.into(),
                ],
            )
            .await;
        if result.is_ok() {
            let _ = session
                .vm_remove_from_other_config(reference, HOME_KEY)
                .await;
            let _ = session
                .vm_remove_from_other_config(reference, HALTED_KEY)
                .await;
        }
        let outcome = VmOutcome {
            name: start.vm.name.clone(),
            uuid: start.vm.uuid.clone(),
            from: None,
            to: Some(start.on.clone()),
            result: if result.is_ok() { "started" } else { "failed" }.into(),
            failure: result
                .as_ref()
                .err()
                .map(|e| VmFailure::of(&obs.ref_names(), e)),
            error: result.err().map(|e| obs.ref_names().describe(&e)),
        };
        finished(&outcome);
        outcomes.push(outcome);
    }
    outcomes
}
