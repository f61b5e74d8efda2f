//! A maintenance operation's progress as the control plane sees it: each VM's outcome is
//! reported as that VM finishes (coalesced so a fast evacuation does not flood the API), and
//! an agent restarted mid-operation names the VMs that moved before the kill from XAPI's facts
//! and the journal's record of where the VMs were when the operation started.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::debug;

use super::control::ControlClient;
use super::journal::OperationStart;
use super::maintenance::VmOutcome;
use super::observe::{Observation, HALTED_KEY, HOME_KEY};
use crate::api::native::types::{Operation, OperationUpdate, VmResult};
use xenpool_xapi_types::PowerState;

/// Shortest time between two progress reports of one operation.
pub const REPORT_INTERVAL: Duration = Duration::from_millis(200);

/// The wire form of per-VM outcomes.
pub fn vm_results(outcomes: &[VmOutcome]) -> Vec<VmResult> {
    outcomes
        .iter()
        .map(|o| VmResult {
            name: o.name.clone(),
            from: o.from.clone(),
            to: o.to.clone(),
            result: Some(o.result.clone()),
            error: o.error.clone(),
        })
        .collect()
}

/// The VM names operation `op` already lists.
pub fn reported_names(op: &Operation) -> BTreeSet<String> {
    op.vms
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v.get("name")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// What the reporter sends next.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    progress: f64,
    vms: Vec<VmOutcome>,
    last: bool,
}

/// Reports one run's per-VM outcomes on operation `id` as they come, at most one report per
/// [`REPORT_INTERVAL`] (the newest wins), from a background task so migrations never wait on
/// the control plane. Dropping it (the agent killed or shut down) stops reporting; the restarted
/// agent reports what it finds.
pub struct ProgressReporter {
    latest: watch::Sender<Snapshot>,
    task: Option<JoinHandle<()>>,
    outcomes: Vec<VmOutcome>,
    reported_before: BTreeSet<String>,
    planned: BTreeSet<String>,
}

impl ProgressReporter {
    /// Starts reporting on operation `id`. `known` are this agent's outcomes so far in the
    /// operation (sent again with every report; the control plane merges by VM name),
    /// `reported` the VM names the operation already lists, `planned` the VMs this run handles.
    pub fn start(
        control: ControlClient,
        id: i64,
        known: &[VmOutcome],
        reported: impl IntoIterator<Item = String>,
        planned: impl IntoIterator<Item = String>,
    ) -> ProgressReporter {
        let (latest, rx) = watch::channel(Snapshot::default());
        let mut reported_before: BTreeSet<String> = reported.into_iter().collect();
        reported_before.extend(known.iter().map(|o| o.name.clone()));
        ProgressReporter {
            latest,
            task: Some(tokio::spawn(send_loop(control, id, rx))),
            outcomes: known.to_vec(),
            reported_before,
            planned: planned.into_iter().collect(),
        }
    }

    /// Records that one VM finished and publishes the new state.
    pub fn finished(&mut self, outcome: &VmOutcome) {
        match self.outcomes.iter_mut().find(|o| o.name == outcome.name) {
            Some(old) => *old = outcome.clone(),
            None => self.outcomes.push(outcome.clone()),
        }
        self.publish(false);
    }

    /// Sends the final state of this run (at once, without waiting out the interval) and waits
    /// until it is delivered or refused.
    pub async fn finish(mut self) {
        self.publish(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Done / total over every VM of the operation this agent knows of.
    fn progress(&self) -> f64 {
        let done: BTreeSet<&String> = self
            .reported_before
            .iter()
            .chain(self.outcomes.iter().map(|o| &o.name))
            .collect();
        let total = done
            .iter()
            .copied()
            .chain(self.planned.iter())
            .collect::<BTreeSet<_>>();
        match total.len() {
            0 => 1.0,
            n => done.len() as f64 / n as f64,
        }
    }

    fn publish(&self, last: bool) {
        self.latest.send_replace(Snapshot {
            progress: self.progress(),
            vms: self.outcomes.clone(),
            last,
        });
    }
}

impl Drop for ProgressReporter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Sends each new snapshot, holding back until [`REPORT_INTERVAL`] has passed since the last
/// report unless the snapshot is the run's last.
async fn send_loop(control: ControlClient, id: i64, mut rx: watch::Receiver<Snapshot>) {
    let mut next_at = Instant::now();
    while rx.changed().await.is_ok() {
        while !rx.borrow().last {
            tokio::select! {
                _ = tokio::time::sleep_until(next_at) => break,
                changed = rx.changed() => if changed.is_err() { break },
            }
        }
        let snapshot = rx.borrow_and_update().clone();
        let update = OperationUpdate {
            state: None,
            progress: Some(snapshot.progress),
            plan: None,
            vms: Some(vm_results(&snapshot.vms)),
            error: None,
            warnings: None,
        };
        match control.update_operation(id, &update).await {
            Ok(_) => debug!(
                operation = id,
                vms = snapshot.vms.len(),
                last = snapshot.last,
                "progress reported"
            ),
            Err(e) => debug!(operation = id, error = %e, "progress report not delivered"),
        }
        if snapshot.last {
            return;
        }
        next_at = Instant::now() + REPORT_INTERVAL;
    }
}

/// Where this host's VMs are as operation `id` starts.
pub fn operation_start(id: i64, obs: &Observation) -> OperationStart {
    let me = &obs.my_host().reference;
    let mine = obs.my_host().name.as_str();
    OperationStart {
        id,
        on_host: obs.my_running_vms().map(|(_, v)| v.uuid.clone()).collect(),
        away: obs
            .vms
            .iter()
            .filter(|(_, v)| v.other_config.get(HOME_KEY).map(String::as_str) == Some(mine))
            .filter(|(_, v)| v.resident_on != *me || v.power_state == PowerState::Halted)
            .map(|(_, v)| {
                let on = (!v.resident_on.is_null()).then(|| obs.host_name(&v.resident_on));
                (v.uuid.clone(), on)
            })
            .collect(),
    }
}

/// The outcomes XAPI shows for an operation that began at `start`, for VMs not named in
/// `reported`: for an evacuation (`leaving`), guests that were running here and now run
/// elsewhere or were halted for maintenance; for a return, guests that were away and are now
/// running here.
pub fn recovered_outcomes(
    start: &OperationStart,
    obs: &Observation,
    leaving: bool,
    reported: &BTreeSet<String>,
) -> Vec<VmOutcome> {
    let me = &obs.my_host().reference;
    let mine = obs.my_host().name.clone();
    let outcome =
        |name: &str, uuid: &str, from: Option<String>, to: Option<String>, result| VmOutcome {
            name: name.to_owned(),
            uuid: uuid.to_owned(),
            from,
            to,
            result: String::from(result),
            error: None,
            failure: None,
        };
    let on_host: BTreeSet<&String> = start.on_host.iter().collect();
    let away: &BTreeMap<String, Option<String>> = &start.away;
    obs.vms
        .iter()
        .filter(|(_, v)| !reported.contains(&v.name_label))
        .filter_map(|(_, v)| {
            let running = v.power_state == PowerState::Running;
            let settled = v.current_operations.is_empty();
            if leaving && on_host.contains(&v.uuid) && settled {
                if running && v.resident_on != *me && !v.resident_on.is_null() {
                    let to = obs.host_name(&v.resident_on);
                    return Some(outcome(
                        &v.name_label,
                        &v.uuid,
                        Some(mine.clone()),
                        Some(to),
                        "migrated",
                    ));
                }
                if v.power_state == PowerState::Halted && v.other_config.contains_key(HALTED_KEY) {
                    return Some(outcome(
                        &v.name_label,
                        &v.uuid,
                        Some(mine.clone()),
                        None,
                        "shut_down",
                    ));
                }
            }
            if !leaving && settled && running && v.resident_on == *me {
                if let Some(was_on) = away.get(&v.uuid) {
                    let result = if was_on.is_some() {
                        "migrated"
                    } else {
                        "started"
                    };
                    return Some(outcome(
                        &v.name_label,
                        &v.uuid,
                        was_on.clone(),
                        Some(mine.clone()),
                        result,
                    ));
                }
            }
            None
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xenapi::Ref;
    use crate::xenapi::{HostRecord, PoolRecord, VmRecord};
    use serde_json::json;

    const ME: &str = "OpaqueRef:xs1";
    const OTHER: &str = "OpaqueRef:xs2";

    fn host(reference: &str, name: &str) -> super::super::observe::ObservedHost {
        super::super::observe::ObservedHost {
            reference: Ref::from(reference),
            name: name.into(),
            record: HostRecord::default(),
            live: true,
            free_memory: 0,
        }
    }

    fn vm(uuid: &str, on: &str, state: &str, other_config: serde_json::Value) -> (Ref, VmRecord) {
        let record = serde_json::from_value(json!({
            "uuid": uuid, "name_label": uuid, "power_state": state,
            "resident_on": on, "other_config": other_config,
        }))
        .expect("a VM record");
        (Ref::from(format!("OpaqueRef:vm-{uuid}").as_str()), record)
    }

    fn observation(vms: Vec<(Ref, VmRecord)>) -> Observation {
        Observation {
            me: "xs1".into(),
            pool: (Ref::from("OpaqueRef:pool"), PoolRecord::default()),
            hosts: vec![host(ME, "xs1"), host(OTHER, "xs2")],
            vms,
        }
    }

    fn summary(outcomes: &[VmOutcome]) -> Vec<(String, Option<String>, Option<String>, String)> {
        outcomes
            .iter()
            .map(|o| {
                (
                    o.name.clone(),
                    o.from.clone(),
                    o.to.clone(),
                    o.result.clone(),
                )
            })
            .collect()
    }

    /// A control plane that records every operation PATCH body, on loopback.
    async fn recording_control() -> (
        ControlClient,
        std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    ) {
        use axum::{extract::State, routing::patch, Json, Router};
        type Bodies = std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>;
        let bodies: Bodies = Default::default();
        let app = Router::new()
            .route(
                "/v1/operations/{id}",
                patch(
                    |State(b): State<Bodies>, Json(v): Json<serde_json::Value>| async move {
                        b.lock().unwrap().push(v);
                        Json(json!({}))
                    },
                ),
            )
            .with_state(bodies.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let control = ControlClient::new(
            url::Url::parse(&url).unwrap(),
            crate::xenapi::Password::new("agent-token"),
            "xs1",
        )
        .unwrap();
        (control, bodies)
    }

    fn moved(name: &str) -> VmOutcome {
        VmOutcome {
            name: name.into(),
            uuid: name.into(),
            from: Some("xs1".into()),
            to: Some("xs2".into()),
            result: "migrated".into(),
            error: None,
            failure: None,
        }
    }

    #[tokio::test]
    async fn reports_coalesce_and_the_last_one_carries_every_vm() {
        let (control, bodies) = recording_control().await;
        let names: Vec<String> = (1..=20).map(|k| format!("vm{k}")).collect();
        let known = [moved("vm0")];
        let mut reporter =
            ProgressReporter::start(control, 7, &known, ["earlier".to_string()], names.clone());
        reporter.finished(&moved("vm1"));
        // The first report goes at once.
        while bodies.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Nineteen more within the interval collapse into the final report.
        for name in &names[1..] {
            reporter.finished(&moved(name));
        }
        reporter.finish().await;
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 2, "{bodies:?}");
        let first = &bodies[0];
        assert_eq!(first["vms"].as_array().unwrap().len(), 2, "{first}");
        let last = &bodies[1];
        let listed: Vec<&str> = last["vms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(listed.len(), 21, "vm0 and vm1..vm20: {last}");
        assert_eq!(listed[0], "vm0");
        // 22 VMs in the operation (earlier, vm0, vm1..vm20), all done.
        assert_eq!(last["progress"], 1.0, "{last}");
        assert_eq!(first["progress"], 3.0 / 22.0, "{first}");
    }

    #[test]
    fn an_evacuation_recovers_vms_that_left_or_were_halted_and_were_not_reported() {
        let before = observation(vec![
            vm("moved", ME, "Running", json!({})),
            vm("staying", ME, "Running", json!({})),
            vm("halted", ME, "Running", json!({})),
            vm("reported", ME, "Running", json!({})),
            vm("elsewhere", OTHER, "Running", json!({})),
        ]);
        let start = operation_start(7, &before);
        assert_eq!(start.on_host, ["moved", "staying", "halted", "reported"]);
        let now = observation(vec![
            vm("moved", OTHER, "Running", json!({HOME_KEY: "xs1"})),
            vm("staying", ME, "Running", json!({})),
            vm(
                "halted",
                "OpaqueRef:NULL",
                "Halted",
                json!({HALTED_KEY: "true"}),
            ),
            vm("reported", OTHER, "Running", json!({HOME_KEY: "xs1"})),
            vm("elsewhere", OTHER, "Running", json!({})),
        ]);
        let reported = BTreeSet::from(["reported".to_string()]);
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            summary(&recovered_outcomes(&start, &now, true, &reported)),
            [
                ("moved".into(), s("xs1"), s("xs2"), "migrated".into()),
                ("halted".into(), s("xs1"), None, "shut_down".into()),
            ]
        );
    }

    #[test]
    fn a_return_recovers_vms_that_came_home_and_were_not_reported() {
        let before = observation(vec![
            vm("away", OTHER, "Running", json!({HOME_KEY: "xs1"})),
            vm(
                "parked",
                "OpaqueRef:NULL",
                "Halted",
                json!({HOME_KEY: "xs1", HALTED_KEY: "true"}),
            ),
            vm("still-away", OTHER, "Running", json!({HOME_KEY: "xs1"})),
            vm("native", ME, "Running", json!({})),
        ]);
        let start = operation_start(8, &before);
        assert_eq!(
            start.away,
            BTreeMap::from([
                ("away".to_string(), Some("xs2".to_string())),
                ("parked".to_string(), None),
                ("still-away".to_string(), Some("xs2".to_string())),
            ])
        );
        let now = observation(vec![
            vm("away", ME, "Running", json!({})),
            vm("parked", ME, "Running", json!({})),
            vm("still-away", OTHER, "Running", json!({HOME_KEY: "xs1"})),
            vm("native", ME, "Running", json!({})),
        ]);
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            summary(&recovered_outcomes(&start, &now, false, &BTreeSet::new())),
            [
                ("away".into(), s("xs2"), s("xs1"), "migrated".into()),
                ("parked".into(), None, s("xs1"), "started".into()),
            ]
        );
    }
}
