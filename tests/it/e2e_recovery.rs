//! End to end against the mock XenServer: every XAPI write the agent makes fails once in
//! turn and is reported by XAPI's code with names and a fix, then converges once the fault
//! clears; agents killed mid-eject, XAPI crashing and connections dropped before and after a
//! call's effect, the control plane restarted, a half-joined host, and an agent that cannot
//! log in. Each test ends with the mock's invariants holding and no VM lost.

use serde_json::{json, Value};
use xenpool_mocks::{FarmOptions, Fault, FaultKind, Phase, Scenario};

use crate::e2e_pools::{start_vm_on, xapi_session};
use crate::support::server::Db;
use crate::support::stack::{farm, Stack};

/// A fault on every host's `method`, until cleared.
fn on(kind: FaultKind, method: &str) -> Fault {
    Fault {
        kind,
        host: None,
        method: Some(method.into()),
        count: None,
        error: None,
        latency_ms: None,
        phase: Phase::Before,
    }
}

/// `method` fails with `error` (code first) until cleared.
fn failing(method: &str, error: &[&str]) -> Fault {
    Fault {
        error: Some(error.iter().map(|s| s.to_string()).collect()),
        ..on(FaultKind::Fail, method)
    }
}

/// A host's XAPI ref, as the mock hands it out.
fn host_ref(stack: &Stack, host: &str) -> String {
    stack
        .farm()
        .host(host)
        .expect("host exists")
        .reference
        .clone()
}

/// A VM's XAPI ref (read through XAPI: the mock's state lists VMs by uuid).
async fn vm_ref(stack: &Stack, vm: &str) -> String {
    let uuid = stack.farm().vm(vm).expect("VM exists").uuid.clone();
    let session = xapi_session(stack, "xs1").await;
    session.vm_get_by_uuid(&uuid).await.unwrap().to_string()
}

/// Waits until `agg`'s error has `code`, then asserts the report is complete: XAPI's
/// parameters with names for refs, a message without refs, a fix, the reporting host first,
/// and the pool in `error`. Returns the error.
async fn reported(stack: &Stack, agg: &str, code: &str, params: Value, host: &str) -> Value {
    let agg_now = stack
        .until(&format!("{agg} reports {code}"), || async {
            let a = stack.aggregate(agg).await;
            // The master may read the pool as active just before the error lands; the
            // failing host's next retry shows the error again.
            (a["status"]["error"]["code"] == code && a["metadata"]["operational_state"] == "error")
                .then_some(a)
        })
        .await;
    let error = agg_now["status"]["error"].clone();
    assert_eq!(error["params"], params, "{error}");
    assert_no_refs(&error);
    assert!(
        error["fix"].as_str().is_some_and(|f| f.len() > 10),
        "a fix: {error}"
    );
    assert_eq!(error["hosts"][0], host, "{error}");
    assert_eq!(
        agg_now["metadata"]["operational_state"], "error",
        "{agg_now}"
    );
    assert_eq!(
        agg_now["status"]["hosts"][host]["state"], "error",
        "{agg_now}"
    );
    error
}

fn assert_no_refs(v: &Value) {
    assert!(!v.to_string().contains("OpaqueRef"), "names, not refs: {v}");
}

/// Clears fault `id` and waits until `agg` is active again with no error.
async fn cleared(stack: &Stack, id: &str, agg: &str) {
    assert!(stack.demo.farm.clear_fault(id), "fault {id} was in force");
    stack
        .until(&format!("{agg}'s error cleared"), || async {
            let a = stack.aggregate(agg).await;
            (a["status"]["error"].is_null() && a["metadata"]["operational_state"] == "active")
                .then_some(())
        })
        .await;
    stack.assert_invariants();
}

async fn set_metadata(stack: &Stack, agg: &str, metadata: Value) {
    let (status, body) = stack
        .call("PATCH", &format!("/v1/aggregates/{agg}/metadata"), metadata)
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The farm's VMs by name, and their count (none may be lost).
fn vm_names(stack: &Stack) -> Vec<String> {
    let mut names: Vec<String> = stack.farm().vms.iter().map(|v| v.name.clone()).collect();
    names.sort();
    names
}

fn standalone(stack: &Stack, host: &str) -> bool {
    stack
        .farm()
        .pool_of(host)
        .is_some_and(|p| p.members == [host])
}

/// The latest `agent.error` event of `host`, if any.
async fn agent_error_event(stack: &Stack, host: &str) -> Option<Value> {
    let events = stack
        .get(&format!(
            "/v1/events?kind=agent.error&host={host}&limit=1000"
        ))
        .await;
    events["events"].as_array()?.last().cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failing_pool_step_is_reported_by_code_and_converges_once_cleared() {
    let stack = Stack::start(Db::Sqlite, farm(3, 0)).await;

    // Naming the pool: the first member's pool.set_name_label.
    let msg = "the pool name is locked by another client";
    let id = stack
        .demo
        .farm
        .inject(failing(
            "pool.set_name_label",
            &["OPERATION_NOT_ALLOWED", msg],
        ))
        .unwrap();
    stack.create_pool("pool1", json!({})).await;
    stack.add_host("pool1", "xs1").await;
    reported(
        &stack,
        "pool1",
        "OPERATION_NOT_ALLOWED",
        json!([msg]),
        "xs1",
    )
    .await;
    cleared(&stack, &id, "pool1").await;
    stack.until_pool("pool1", &["xs1"], "xs1").await;

    // Joining: pool.join on the joiner.
    let id = stack
        .demo
        .farm
        .inject(failing(
            "pool.join",
            &[
                "POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA",
                "5.786",
                "5.790",
            ],
        ))
        .unwrap();
    stack.add_host("pool1", "xs2").await;
    let error = reported(
        &stack,
        "pool1",
        "POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA",
        json!(["5.786", "5.790"]),
        "xs2",
    )
    .await;
    assert!(
        error["fix"].as_str().unwrap().contains("release"),
        "{error}"
    );
    cleared(&stack, &id, "pool1").await;
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;

    // Handing over: pool.designate_new_master on the master, refused with a host ref (a
    // transient code: retried with backoff, reported once it persists).
    let xs2 = host_ref(&stack, "xs2");
    let id = stack
        .demo
        .farm
        .inject(failing(
            "pool.designate_new_master",
            &["HOST_OFFLINE", &xs2],
        ))
        .unwrap();
    set_metadata(&stack, "pool1", json!({ "master_compute": "xs2" })).await;
    let error = reported(&stack, "pool1", "HOST_OFFLINE", json!(["xs2"]), "xs1").await;
    assert!(
        error["message"].as_str().unwrap().contains("xs2"),
        "{error}"
    );
    cleared(&stack, &id, "pool1").await;
    stack.until_pool("pool1", &["xs1", "xs2"], "xs2").await;

    // Leaving: pool.eject of a removed member. It is in no aggregate any more, so its
    // problem is an agent.error event.
    let id = stack
        .demo
        .farm
        .inject(failing("pool.eject", &["NOT_SUPPORTED_DURING_UPGRADE"]))
        .unwrap();
    stack.remove_host("pool1", "xs1").await;
    let event = stack
        .until("xs1's eject failure logged", || async {
            agent_error_event(&stack, "xs1")
                .await
                .filter(|e| e["details"]["code"] == "NOT_SUPPORTED_DURING_UPGRADE")
        })
        .await;
    assert_eq!(event["aggregate"], "pool1", "{event}");
    assert!(
        event["details"]["fix"]
            .as_str()
            .unwrap()
            .contains("upgrade"),
        "{event}"
    );
    assert_no_refs(&event);
    assert!(!standalone(&stack, "xs1"), "no eject while it fails");
    assert!(stack.demo.farm.clear_fault(&id));
    stack.until_pool("pool1", &["xs2"], "xs2").await;
    stack
        .until("xs1 standalone", || async {
            standalone(&stack, "xs1").then_some(())
        })
        .await;
    stack.assert_invariants();

    // Moving to another pool aggregate: pool.eject from the wrong pool, reported there.
    stack.add_host("pool1", "xs3").await;
    stack.until_pool("pool1", &["xs2", "xs3"], "xs2").await;
    let id = stack
        .demo
        .farm
        .inject(failing("pool.eject", &["HA_IS_ENABLED"]))
        .unwrap();
    stack.create_pool("pool2", json!({})).await;
    stack.remove_host("pool1", "xs3").await;
    stack.add_host("pool2", "xs3").await;
    let error = reported(&stack, "pool2", "HA_IS_ENABLED", json!([]), "xs3").await;
    assert!(error["fix"].as_str().unwrap().contains("HA"), "{error}");
    cleared(&stack, &id, "pool2").await;
    stack.until_pool("pool2", &["xs3"], "xs3").await;
    stack.until_pool("pool1", &["xs2"], "xs2").await;
    stack.assert_invariants();
    stack.shutdown().await;
}

/// xs1, xs3 empty; xs2 holds the halted `web` (migrates) and `batch` (shut down for
/// maintenance), started once xs2 has joined.
fn vms_on_xs2() -> FarmOptions {
    let toml = "[[hosts]]\nname = \"xs1\"\nvms = []\n\
                [[hosts]]\nname = \"xs2\"\n\
                [[hosts.vms]]\nname = \"web\"\npower_state = \"Halted\"\n\
                [[hosts.vms]]\nname = \"batch\"\npower_state = \"Halted\"\n\
                other_config = { xenpool_evacuation = \"shutdown\" }\n\
                [[hosts]]\nname = \"xs3\"\nvms = []\n";
    FarmOptions {
        scenario: Some(Scenario::from_toml(toml).expect("scenario parses")),
        ..farm(3, 0)
    }
}

/// Asks for maintenance on/off of `host`; returns the operation's id.
async fn request_maintenance(stack: &Stack, host: &str, enabled: bool) -> i64 {
    let (status, op) = stack
        .call(
            "PUT",
            &format!("/v1/hosts/{host}/maintenance"),
            json!({ "enabled": enabled }),
        )
        .await;
    assert_eq!(status, 202, "{op}");
    op["id"].as_i64().expect("operation id")
}

async fn finished(stack: &Stack, id: i64) -> Value {
    stack
        .until(&format!("operation {id} finished"), || async {
            let op = stack.get(&format!("/v1/operations/{id}")).await;
            matches!(
                op["state"].as_str(),
                Some("succeeded" | "failed" | "completed_with_warnings")
            )
            .then_some(op)
        })
        .await
}

/// xs2 is in maintenance: disabled, nothing running on it, `batch` halted.
async fn in_maintenance(stack: &Stack) {
    stack
        .until("xs2 in maintenance", || async {
            let farm = stack.farm();
            let xs2 = farm.host("xs2")?;
            let empty = farm
                .vms
                .iter()
                .all(|v| v.resident_on.as_deref() != Some("xs2"));
            let batch_halted = farm.vm("batch")?.power_state == "Halted";
            let web_running = farm.vm("web")?.power_state == "Running";
            (!xs2.enabled && empty && batch_halted && web_running).then_some(())
        })
        .await;
}

/// xs2 is out of maintenance: enabled, both VMs running there again, no away marks.
async fn back_home(stack: &Stack) {
    stack
        .until("xs2 back with its VMs", || async {
            let farm = stack.farm();
            let home = ["web", "batch"].iter().all(|n| {
                farm.vm(n).is_some_and(|v| {
                    v.resident_on.as_deref() == Some("xs2")
                        && v.power_state == "Running"
                        && !v.other_config.contains_key("xenpool_home")
                })
            });
            let marker = farm
                .host("xs2")?
                .other_config
                .contains_key("xenpool_maintenance");
            (farm.host("xs2")?.enabled && home && !marker).then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failing_write_entering_maintenance_is_reported_by_code_and_converges_once_cleared() {
    let (stack, vms, [web, batch, xs1, xs2]) = maintenance_stack().await;
    // (method, error, the params reported)
    let entering: Vec<(&str, Vec<&str>, Value)> = vec![
        (
            "host.add_to_other_config",
            vec![
                "MAP_DUPLICATE_KEY",
                "host",
                "other_config",
                &xs2,
                "xenpool_maintenance",
            ],
            json!(["host", "other_config", "xs2", "xenpool_maintenance"]),
        ),
        ("host.disable", vec!["HOST_IN_EMERGENCY_MODE"], json!([])),
        (
            "VM.add_to_other_config",
            vec![
                "MAP_DUPLICATE_KEY",
                "VM",
                "other_config",
                &batch,
                "xenpool_home",
            ],
            json!(["VM", "other_config", "batch", "xenpool_home"]),
        ),
        (
            "VM.clean_shutdown",
            vec!["VM_BAD_POWER_STATE", &batch, "running", "paused"],
            json!(["batch", "running", "paused"]),
        ),
        (
            "VM.pool_migrate",
            vec![
                "VM_INCOMPATIBLE_WITH_THIS_HOST",
                &web,
                &xs1,
                "CPU vendor differs",
            ],
            json!(["web", "xs1", "CPU vendor differs"]),
        ),
    ];
    for (method, error, params) in entering {
        let code = error[0];
        let id = stack.demo.farm.inject(failing(method, &error)).unwrap();
        let op = finished(&stack, request_maintenance(&stack, "xs2", true).await).await;
        assert_eq!(op["state"], "failed", "{method}: {op}");
        assert_eq!(op["error"]["code"], code, "{method}: {op}");
        assert_eq!(op["error"]["params"], params, "{method}: {op}");
        assert_no_refs(&op);
        reported(&stack, "pool1", code, params, "xs2").await;
        cleared(&stack, &id, "pool1").await;
        in_maintenance(&stack).await;
        let op = finished(&stack, request_maintenance(&stack, "xs2", false).await).await;
        assert_eq!(op["state"], "succeeded", "{method}: {op}");
        back_home(&stack).await;
        assert_eq!(vm_names(&stack), vms, "no VM lost");
        stack.assert_invariants();
    }

    stack.assert_invariants();
    stack.shutdown().await;
}

/// Three hosts in pool1 with `web` and `batch` running on xs2; the VM names; the refs of
/// web, batch, xs1 and xs2.
async fn maintenance_stack() -> (Stack, Vec<String>, [String; 4]) {
    let stack = Stack::start(Db::Sqlite, vms_on_xs2()).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;
    start_vm_on(&stack, "xs2", "web").await;
    start_vm_on(&stack, "xs2", "batch").await;
    let vms = vm_names(&stack);
    let refs = [
        vm_ref(&stack, "web").await,
        vm_ref(&stack, "batch").await,
        host_ref(&stack, "xs1"),
        host_ref(&stack, "xs2"),
    ];
    (stack, vms, refs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failing_write_leaving_maintenance_is_reported_by_code_and_converges_once_cleared() {
    let (stack, vms, [_, _, _, xs2]) = maintenance_stack().await;
    // Leaving maintenance: enabling the host and clearing its marker fail the operation...
    let leaving: Vec<(&str, Vec<&str>, Value)> = vec![
        ("host.enable", vec!["HOST_NOT_LIVE"], json!([])),
        (
            "host.remove_from_other_config",
            vec!["HANDLE_INVALID", "host", &xs2],
            json!(["host", "xs2"]),
        ),
    ];
    for (method, error, params) in leaving {
        let code = error[0];
        let op = finished(&stack, request_maintenance(&stack, "xs2", true).await).await;
        assert_eq!(op["state"], "succeeded", "{op}");
        let id = stack.demo.farm.inject(failing(method, &error)).unwrap();
        let op = finished(&stack, request_maintenance(&stack, "xs2", false).await).await;
        assert_eq!(op["state"], "failed", "{method}: {op}");
        assert_eq!(op["error"]["code"], code, "{method}: {op}");
        reported(&stack, "pool1", code, params, "xs2").await;
        cleared(&stack, &id, "pool1").await;
        back_home(&stack).await;
        assert_eq!(vm_names(&stack), vms, "no VM lost");
    }

    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_that_cannot_come_home_is_a_warning_naming_it_and_xapis_code() {
    let (stack, vms, [web, batch, _, xs2]) = maintenance_stack().await;
    for (method, error, vm) in [
        (
            "VM.pool_migrate",
            vec![
                "VM_INCOMPATIBLE_WITH_THIS_HOST",
                &web,
                &xs2,
                "CPU vendor differs",
            ],
            "web",
        ),
        (
            "VM.start_on",
            vec!["VM_BAD_POWER_STATE", &batch, "halted", "suspended"],
            "batch",
        ),
    ] {
        let op = finished(&stack, request_maintenance(&stack, "xs2", true).await).await;
        assert_eq!(op["state"], "succeeded", "{op}");
        let id = stack.demo.farm.inject(failing(method, &error)).unwrap();
        let op = finished(&stack, request_maintenance(&stack, "xs2", false).await).await;
        assert_eq!(op["state"], "completed_with_warnings", "{method}: {op}");
        let warnings = op["warnings"].to_string();
        assert!(
            warnings.contains(vm) && warnings.contains(error[0]),
            "{method}: {op}"
        );
        assert_no_refs(&op);
        assert!(stack.demo.farm.clear_fault(&id));
        assert_eq!(vm_names(&stack), vms, "no VM lost");
        stack.assert_invariants();
        // The leftover keeps its home mark: the next round trip brings it home.
        let op = finished(&stack, request_maintenance(&stack, "xs2", true).await).await;
        assert_eq!(op["state"], "succeeded", "{op}");
        let op = finished(&stack, request_maintenance(&stack, "xs2", false).await).await;
        assert_eq!(op["state"], "succeeded", "{op}");
        back_home(&stack).await;
    }
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_during_its_eject_resumes_after_a_restart() {
    let mut stack = Stack::start(Db::Sqlite, farm(2, 0)).await;
    stack.form_pool("pool1", &["xs1", "xs2"]).await;
    stack
        .demo
        .farm
        .inject(Fault {
            latency_ms: Some(400),
            count: Some(1),
            ..on(FaultKind::Latency, "pool.eject")
        })
        .unwrap();
    stack.remove_host("pool1", "xs2").await;
    stack.until_called(None, "pool.eject").await;
    stack.demo.kill_agent("xs2");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    stack.demo.start_agent("xs2").expect("agent restarts");
    stack.until_pool("pool1", &["xs1"], "xs1").await;
    stack
        .until("xs2 standalone", || async {
            standalone(&stack, "xs2").then_some(())
        })
        .await;
    assert!(stack.farm().host("xs2").unwrap().enabled);
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xapi_crashing_mid_evacuation_is_survived_by_logging_in_again() {
    let stack = Stack::start(Db::Sqlite, vms_on_xs2()).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;
    start_vm_on(&stack, "xs2", "web").await;
    start_vm_on(&stack, "xs2", "batch").await;
    let vms = vm_names(&stack);
    // The master's XAPI crashes on the first migration: every session of the pool dies, every
    // connection drops, and it restarts.
    let restarts = stack.farm().host("xs1").unwrap().restarts;
    stack
        .demo
        .farm
        .inject(Fault {
            host: Some("xs1".into()),
            count: Some(1),
            ..on(FaultKind::Crash, "VM.pool_migrate")
        })
        .unwrap();
    let op = finished(&stack, request_maintenance(&stack, "xs2", true).await).await;
    assert!(
        stack.farm().host("xs1").unwrap().restarts > restarts,
        "XAPI restarted"
    );
    // The crash may fail this operation; the intent stands and the agent converges.
    assert!(
        op["state"] == "succeeded" || op["state"] == "failed",
        "{op}"
    );
    in_maintenance(&stack).await;
    stack
        .until("pool1 active", || async {
            let a = stack.aggregate("pool1").await;
            (a["status"]["error"].is_null() && a["metadata"]["operational_state"] == "active")
                .then_some(())
        })
        .await;
    let op = finished(&stack, request_maintenance(&stack, "xs2", false).await).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    back_home(&stack).await;
    assert_eq!(vm_names(&stack), vms, "no VM lost");
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_whose_xapi_crashes_as_it_joins_still_converges() {
    let stack = Stack::start(Db::Sqlite, farm(2, 0)).await;
    stack.form_pool("pool1", &["xs1"]).await;
    stack
        .demo
        .farm
        .inject(Fault {
            host: Some("xs2".into()),
            count: Some(1),
            phase: Phase::After,
            ..on(FaultKind::Crash, "pool.join")
        })
        .unwrap();
    stack.add_host("pool1", "xs2").await;
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    assert_eq!(stack.calls(None, "pool.join"), 1, "the join happened once");
    stack.assert_invariants();
    stack.shutdown().await;
}

/// Drops the reply of `method` once (`phase`) while the flow `act` runs, then checks the flow
/// converged with `method` called `expected` times: a lost reply after the effect is re-read,
/// not repeated; one lost before the effect is retried.
async fn dropped(method: &str, phase: Phase, expected: u64) {
    let stack = Stack::start(Db::Sqlite, farm(2, 0)).await;
    let fault = Fault {
        count: Some(1),
        phase,
        ..on(FaultKind::Drop, method)
    };
    if method == "pool.join" {
        stack.form_pool("pool1", &["xs1"]).await;
        stack.demo.farm.inject(fault).unwrap();
        stack.add_host("pool1", "xs2").await;
        stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    } else if method == "pool.eject" {
        stack.form_pool("pool1", &["xs1", "xs2"]).await;
        stack.demo.farm.inject(fault).unwrap();
        stack.remove_host("pool1", "xs2").await;
        stack.until_pool("pool1", &["xs1"], "xs1").await;
        stack
            .until("xs2 standalone", || async {
                standalone(&stack, "xs2").then_some(())
            })
            .await;
    } else {
        stack.form_pool("pool1", &["xs1", "xs2"]).await;
        stack.demo.farm.inject(fault).unwrap();
        set_metadata(&stack, "pool1", json!({ "master_compute": "xs2" })).await;
        stack.until_pool("pool1", &["xs1", "xs2"], "xs2").await;
    }
    stack
        .until(&format!("{method} called {expected} times"), || async {
            (stack.calls(None, method) == expected).then_some(())
        })
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(stack.calls(None, method), expected, "{method} {phase:?}");
    let agg = stack.aggregate("pool1").await;
    assert!(agg["status"]["error"].is_null(), "{agg}");
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_whose_reply_is_lost_is_re_read_not_repeated() {
    dropped("pool.join", Phase::After, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_whose_request_is_lost_is_retried() {
    dropped("pool.join", Phase::Before, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eject_whose_reply_is_lost_is_re_read_not_repeated() {
    dropped("pool.eject", Phase::After, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eject_whose_request_is_lost_is_retried() {
    dropped("pool.eject", Phase::Before, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_whose_reply_is_lost_is_re_read_not_repeated() {
    dropped("pool.designate_new_master", Phase::After, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_whose_request_is_lost_is_retried() {
    dropped("pool.designate_new_master", Phase::Before, 2).await;
}

/// Restarts the control plane while xs2's join is in flight, then checks the agents came
/// back: the join converges, a new change reaches them through the watch feed, and
/// heartbeats resume.
async fn control_plane_restarted_mid_flow(db: Db) {
    let mut stack = Stack::start(db, farm(3, 0)).await;
    stack.form_pool("pool1", &["xs1"]).await;
    stack
        .demo
        .farm
        .inject(Fault {
            host: Some("xs2".into()),
            latency_ms: Some(500),
            count: Some(1),
            ..on(FaultKind::Latency, "pool.join")
        })
        .unwrap();
    stack.add_host("pool1", "xs2").await;
    stack.until_called(None, "pool.join").await;
    let beat = |v: &Value| {
        v["last_heartbeat_at"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    stack.demo.stop_server().await.expect("control plane stops");
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    stack
        .demo
        .start_server()
        .await
        .expect("control plane starts again");
    let before = beat(&stack.get("/v1/hosts/xs3").await);
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    stack.add_host("pool1", "xs3").await;
    stack
        .until_pool("pool1", &["xs1", "xs2", "xs3"], "xs1")
        .await;
    stack
        .until("xs3 heartbeats again", || async {
            (beat(&stack.get("/v1/hosts/xs3").await) != before).then_some(())
        })
        .await;
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_reconnect_to_a_restarted_control_plane_on_sqlite() {
    control_plane_restarted_mid_flow(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_reconnect_to_a_restarted_control_plane_on_postgres() {
    control_plane_restarted_mid_flow(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_joined_host_is_reported_with_the_repair_and_converges_once_repaired() {
    let stack = Stack::start(Db::Sqlite, farm(2, 0)).await;
    stack.form_pool("pool1", &["xs1"]).await;
    let id = stack
        .demo
        .farm
        .inject(Fault {
            host: Some("xs2".into()),
            ..on(FaultKind::FreezeJoin, "pool.join")
        })
        .unwrap();
    stack.add_host("pool1", "xs2").await;
    let error = reported(&stack, "pool1", "half_joined", json!([]), "xs2").await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("xs1") && message.contains("HOST_STILL_BOOTING"),
        "{error}"
    );
    assert!(
        error["fix"]
            .as_str()
            .unwrap()
            .contains("xe-toolstack-restart"),
        "{error}"
    );
    assert!(stack.farm().host("xs2").unwrap().half_joined);
    // The operator restarts the toolstack (the mock's freeze clears): it syncs and converges.
    cleared(&stack, &id, "pool1").await;
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_cannot_log_in_to_its_xapi_reports_why() {
    let mut stack = Stack::start(Db::Sqlite, farm(2, 0)).await;
    stack.form_pool("pool1", &["xs1", "xs2"]).await;

    // A wrong password: refused at once, named with the fix.
    stack
        .demo
        .start_agent_with("xs2", |c| {
            c.xapi_password = xenpool::xenapi::Password::new("not-the-password")
        })
        .unwrap();
    let error = reported(
        &stack,
        "pool1",
        "SESSION_AUTHENTICATION_FAILED",
        json!(["root", "Authentication failure"]),
        "xs2",
    )
    .await;
    assert!(
        error["fix"]
            .as_str()
            .unwrap()
            .contains("xapi_password_file"),
        "{error}"
    );
    assert!(
        !error.to_string().contains("not-the-password"),
        "no secret: {error}"
    );
    let details = stack.aggregate("pool1").await;
    // The step it was at: `connect`, or one a killed run left unfinished.
    assert!(
        details["status"]["hosts"]["xs2"]["step"].is_string(),
        "{details}"
    );
    stack.demo.start_agent("xs2").unwrap();
    stack
        .until("the login error cleared", || async {
            let a = stack.aggregate("pool1").await;
            (a["status"]["error"].is_null() && a["metadata"]["operational_state"] == "active")
                .then_some(())
        })
        .await;

    // XAPI offline when the agent starts: reported once the outage outlasts the grace.
    stack.demo.kill_agent("xs2");
    let id = stack
        .demo
        .farm
        .inject(Fault {
            host: Some("xs2".into()),
            ..on(FaultKind::Offline, "pool.join")
        })
        .unwrap();
    stack.demo.start_agent("xs2").unwrap();
    let url = stack.demo.farm.host_url("xs2");
    let error = reported(&stack, "pool1", "xapi_unreachable", json!([url]), "xs2").await;
    assert!(
        error["fix"].as_str().unwrap().contains("xapi_url"),
        "{error}"
    );
    cleared(&stack, &id, "pool1").await;
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_on_an_existing_pool_leave_it_alone_until_its_aggregate_adopts_it() {
    let toml = "[[hosts]]\nname = \"xs1\"\n\
                [[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\nvms = []\n\
                [[hosts]]\nname = \"xs3\"\nmember_of = \"xs1\"\nvms = []\n";
    let options = FarmOptions {
        scenario: Some(Scenario::from_toml(toml).expect("scenario parses")),
        ..farm(3, 1)
    };
    let stack = Stack::start(Db::Sqlite, options).await;
    let vms = vm_names(&stack);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let changes = ["pool.eject", "pool.designate_new_master", "pool.join"];
    for method in changes {
        assert_eq!(
            stack.calls(None, method),
            0,
            "{method}: the pool is not xenpool's yet"
        );
    }
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;
    for method in changes {
        assert_eq!(
            stack.calls(None, method),
            0,
            "{method}: adopted, not rebuilt"
        );
    }
    assert_eq!(vm_names(&stack), vms, "no VM lost");
    stack.assert_invariants();
    stack.shutdown().await;
}
