//! End to end against the mock XenServer: maintenance plans, evacuates under memory limits
//! and hands over the master role; leaving maintenance brings every VM home.

use std::time::Duration;

use serde_json::{json, Value};
use xenpool_mocks::{FarmOptions, Fault, FaultKind, Scenario};

use crate::support::server::Db;
use crate::support::stack::{farm, Stack};

/// xs1 (the future master) runs five 1 GiB VMs; xs2 and xs3 have room for three each.
fn crowded_master() -> FarmOptions {
    let mut toml = String::from("[[hosts]]\nname = \"xs1\"\n");
    for k in 1..=5 {
        toml.push_str(&format!(
            "[[hosts.vms]]\nname = \"vm{k}\"\nmemory_mib = 1024\n"
        ));
    }
    for h in ["xs2", "xs3"] {
        toml.push_str(&format!("[[hosts]]\nname = \"{h}\"\nmemory_mib = 4096\n"));
    }
    FarmOptions {
        scenario: Some(Scenario::from_toml(&toml).expect("scenario parses")),
        ..farm(3, 0)
    }
}

/// Requests maintenance (or its plan) for `host`; returns the operation id.
async fn request(stack: &Stack, host: &str, enabled: bool, dry_run: bool) -> i64 {
    let body = json!({ "enabled": enabled, "dry_run": dry_run });
    let (status, op) = stack
        .call("PUT", &format!("/v1/hosts/{host}/maintenance"), body)
        .await;
    assert_eq!(status, 202, "{op}");
    op["id"].as_i64().expect("operation id")
}

async fn maintenance(stack: &Stack, host: &str, enabled: bool, dry_run: bool) -> Value {
    let id = request(stack, host, enabled, dry_run).await;
    stack
        .until(&format!("operation {id} finished"), || async {
            let op = stack.get(&format!("/v1/operations/{id}")).await;
            let state = op["state"].as_str().unwrap_or_default().to_owned();
            matches!(
                state.as_str(),
                "succeeded" | "failed" | "completed_with_warnings"
            )
            .then_some(op)
        })
        .await
}

/// The operation's VM names, sorted (a VM listed twice shows twice).
fn vm_names(op: &Value) -> Vec<String> {
    let mut names: Vec<String> = op["vms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v["name"].as_str().unwrap_or("?").to_owned())
        .collect();
    names.sort();
    names
}

/// Mock timings of a few milliseconds for everything but live migration (`migrate_ms` per GiB).
fn quick_timings(migrate_ms: u64) -> xenpool_mocks::Timings {
    xenpool_mocks::Timings {
        fuse: Duration::from_millis(10),
        xapi_restart: Duration::from_millis(10),
        member_sync: Duration::from_millis(10),
        reboot: Duration::from_millis(10),
        migrate_per_gib: Duration::from_millis(migrate_ms),
        designate: Duration::from_millis(10),
        ..Default::default()
    }
}

/// A pool of xs1 (master, five 1 GiB VMs), xs2 and xs3 where a migration takes 500 ms per GiB.
async fn slow_crowded_pool() -> Stack {
    let mut options = crowded_master();
    options.time_scale = 1.0;
    options.timings = quick_timings(500);
    let stack = Stack::start(Db::Sqlite, options).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;
    stack
}

/// Kills xs1's agent once operation `id` lists a VM (and before it lists all five), starts it
/// again, and returns the operation once it succeeded.
async fn kill_and_restart_after_a_report(stack: &mut Stack, id: i64) -> Value {
    let before = stack
        .until("a VM's outcome reported", || async {
            let op = stack.get(&format!("/v1/operations/{id}")).await;
            assert!(
                matches!(op["state"].as_str(), Some("pending" | "running")),
                "the operation ended before the kill: {op}"
            );
            (!vm_names(&op).is_empty()).then_some(op)
        })
        .await;
    stack.demo.kill_agent("xs1");
    assert!(
        vm_names(&before).len() < 5,
        "the kill comes before the last VM is reported: {before}"
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    stack.demo.start_agent("xs1").expect("agent restarts");
    stack
        .until("the operation finished after the restart", || async {
            let op = stack.get(&format!("/v1/operations/{id}")).await;
            (op["state"] == "succeeded").then_some(op)
        })
        .await
}

async fn maintenance_round_trip(db: Db) {
    let stack = Stack::start(db, crowded_master()).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;

    let plan = maintenance(&stack, "xs1", true, true).await;
    assert_eq!(plan["state"], "succeeded", "{plan}");
    let moves = plan["plan"]["moves"].as_array().expect("a plan with moves");
    assert_eq!(moves.len(), 5, "{plan}");
    assert!(moves.iter().all(|m| m["to"] != "xs1"), "{plan}");
    assert!(stack.all_vms_on("xs1"), "a dry run moves nothing");

    let op = maintenance(&stack, "xs1", true, false).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let vms = op["vms"].as_array().expect("per-VM outcomes");
    assert_eq!(vms.len(), 5, "{op}");
    assert!(
        vms.iter()
            .all(|v| v["result"] == "migrated" && v["from"] == "xs1"),
        "{op}"
    );
    let farm = stack.farm();
    let xs1 = farm.host("xs1").unwrap();
    assert!(
        !xs1.enabled && !xs1.is_master,
        "xs1 is disabled and no longer master: {xs1:?}"
    );
    for vm in &farm.vms {
        assert_ne!(
            vm.resident_on.as_deref(),
            Some("xs1"),
            "{} left xs1",
            vm.name
        );
        assert_eq!(vm.power_state, "Running");
        assert_eq!(
            vm.other_config.get("xenpool_home").map(String::as_str),
            Some("xs1"),
            "{} remembers its home",
            vm.name
        );
    }
    let agg = stack.aggregate("pool1").await;
    assert_ne!(
        agg["metadata"]["master_compute"], "xs1",
        "master_compute follows the handover: {agg}"
    );
    stack.assert_invariants();

    let op = maintenance(&stack, "xs1", false, false).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(
        vm_names(&op),
        ["vm1", "vm2", "vm3", "vm4", "vm5"],
        "every VM listed once: {op}"
    );
    assert!(
        op["vms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["result"] == "migrated" && v["to"] == "xs1"),
        "{op}"
    );
    let farm = stack.farm();
    assert!(farm.host("xs1").unwrap().enabled);
    for vm in &farm.vms {
        assert_eq!(
            vm.resident_on.as_deref(),
            Some("xs1"),
            "{} is home",
            vm.name
        );
        assert!(
            !vm.other_config.contains_key("xenpool_home"),
            "{} forgot its away mark",
            vm.name
        );
    }
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_evacuates_hands_over_and_brings_vms_home_on_sqlite() {
    maintenance_round_trip(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_evacuates_hands_over_and_brings_vms_home_on_postgres() {
    maintenance_round_trip(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_masters_evacuation_waits_for_the_members_to_resync_after_its_handover() {
    // A handover restarts every member's XAPI, and a member comes back disabled until it has
    // resynced (here 400 ms, within the 1 s outage grace these tests give agents). xs2 alone
    // has room for three of xs1's five VMs: planning before xs3 is back would refuse.
    let mut options = crowded_master();
    options.time_scale = 1.0;
    options.timings = xenpool_mocks::Timings {
        member_sync: Duration::from_millis(400),
        ..quick_timings(10)
    };
    let stack = Stack::start(Db::Sqlite, options).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;

    let op = maintenance(&stack, "xs1", true, false).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(vm_names(&op), ["vm1", "vm2", "vm3", "vm4", "vm5"], "{op}");
    let farm = stack.farm();
    assert!(!farm.host("xs1").unwrap().is_master, "handed over");
    for target in ["xs2", "xs3"] {
        assert!(
            farm.vms
                .iter()
                .any(|v| v.resident_on.as_deref() == Some(target)),
            "the plan used {target}: {op}"
        );
    }
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_disabled_by_an_admin_is_named_when_the_vms_do_not_fit_without_it() {
    let stack = Stack::start(Db::Sqlite, crowded_master()).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;
    let session = crate::e2e_pools::xapi_session(&stack, "xs1").await;
    let xs3 = session
        .host_get_by_uuid(&stack.farm().host("xs3").unwrap().uuid)
        .await
        .unwrap();
    session
        .call_void("host.disable", vec![xs3.as_str().into()])
        .await
        .unwrap();

    // The agent waits out the outage grace (1 s here) for xs3 to come back, then refuses.
    let asked = std::time::Instant::now();
    let op = maintenance(&stack, "xs1", true, false).await;
    assert_eq!(op["state"], "failed", "{op}");
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "refused only after the grace: {:?}",
        asked.elapsed()
    );
    assert_eq!(op["error"]["code"], "HOST_NOT_ENOUGH_FREE_MEMORY", "{op}");
    let message = op["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not destinations: xs3 (disabled)"),
        "names the member that would make room: {op}"
    );
    assert!(stack.all_vms_on("xs1"), "nothing moved");
    assert!(
        stack.farm().host("xs1").unwrap().enabled,
        "xs1 stays enabled"
    );
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_that_cannot_move_are_named_and_nothing_moves() {
    let toml = "[[hosts]]\nname = \"xs1\"\n\
                [[hosts.vms]]\nname = \"local-db\"\ndisks = \"local\"\n\
                [[hosts.vms]]\nname = \"web\"\n\
                [[hosts]]\nname = \"xs2\"\n";
    let options = FarmOptions {
        scenario: Some(Scenario::from_toml(toml).unwrap()),
        ..farm(2, 0)
    };
    let stack = Stack::start(Db::Sqlite, options).await;
    stack.form_pool("pool1", &["xs1", "xs2"]).await;

    let op = maintenance(&stack, "xs2", true, false).await;
    assert_eq!(
        op["state"], "succeeded",
        "an empty host enters maintenance: {op}"
    );
    let op = maintenance(&stack, "xs2", false, false).await;
    assert_eq!(op["state"], "succeeded", "{op}");

    // xs1's local-disk VM cannot live-migrate: its maintenance is refused naming it.
    let op = maintenance(&stack, "xs1", true, false).await;
    assert_eq!(op["state"], "failed", "{op}");
    let error = &op["error"];
    assert_eq!(error["code"], "VM_REQUIRES_SR", "{op}");
    assert_eq!(error["vms"], json!(["local-db"]), "{op}");
    assert!(
        error["message"].as_str().unwrap().contains("local-db"),
        "{op}"
    );
    assert!(
        !error["message"].as_str().unwrap().contains("OpaqueRef"),
        "names, not refs: {op}"
    );
    let farm = stack.farm();
    assert_eq!(
        farm.vm("web").unwrap().resident_on.as_deref(),
        Some("xs1"),
        "nothing moved"
    );
    let xs1 = farm.host("xs1").unwrap();
    assert!(
        xs1.enabled && xs1.is_master,
        "refused before any side effect: {xs1:?}"
    );
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_vms_outcome_shows_while_the_next_migration_is_held() {
    // xs1 (the master) runs three 1 GiB VMs; migrations run one at a time, 250 ms each.
    let mut toml = String::from("[[hosts]]\nname = \"xs1\"\n");
    for k in 1..=3 {
        toml.push_str(&format!(
            "[[hosts.vms]]\nname = \"a{k}\"\nmemory_mib = 1024\n"
        ));
    }
    toml.push_str("[[hosts]]\nname = \"xs2\"\n");
    toml.push_str("[[hosts]]\nname = \"xs3\"\n");
    let options = FarmOptions {
        scenario: Some(Scenario::from_toml(&toml).expect("scenario parses")),
        time_scale: 1.0,
        timings: quick_timings(250),
        ..farm(3, 0)
    };
    let stack = Stack::start_with(Db::Sqlite, options, |demo| {
        demo.concurrency = xenpool::planner::Concurrency {
            per_host: 1,
            per_pool: 1,
        };
    })
    .await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;
    let id = request(&stack, "xs1", true, false).await;

    // While the first migration runs, hold the next VM.pool_migrate call for 3 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stack.calls(None, "VM.pool_migrate") == 0 {
        assert!(std::time::Instant::now() < deadline, "no migration started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut hold = Fault::new(FaultKind::Latency);
    hold.method = Some("VM.pool_migrate".into());
    hold.count = Some(1);
    hold.latency_ms = Some(3000);
    stack.demo.farm.inject(hold).expect("fault accepted");

    let during = stack
        .until("the first VM's outcome reported", || async {
            let op = stack.get(&format!("/v1/operations/{id}")).await;
            (op["vms"].as_array().map_or(0, Vec::len) > 0).then_some(op)
        })
        .await;
    assert_eq!(during["state"], "running", "{during}");
    let vms = during["vms"].as_array().unwrap();
    assert_eq!(vms.len(), 1, "only the first VM is done: {during}");
    assert_eq!(
        (&vms[0]["from"], &vms[0]["result"], &vms[0]["error"]),
        (&json!("xs1"), &json!("migrated"), &Value::Null),
        "{during}"
    );
    let progress = during["progress"].as_f64().unwrap();
    assert!(
        (progress - 1.0 / 3.0).abs() < 1e-6,
        "one of three VMs done: {during}"
    );
    let farm = stack.farm();
    let first = vms[0]["name"].as_str().unwrap();
    let still_home: Vec<&str> = farm
        .vms
        .iter()
        .filter(|v| v.resident_on.as_deref() == Some("xs1"))
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(still_home.len(), 2, "the others wait: {still_home:?}");
    assert!(!still_home.contains(&first), "{first} has left xs1");

    let done = stack
        .until("the operation finished", || async {
            let op = stack.get(&format!("/v1/operations/{id}")).await;
            (op["state"] != "running" && op["state"] != "pending").then_some(op)
        })
        .await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(vm_names(&done), ["a1", "a2", "a3"], "{done}");
    assert_eq!(done["progress"], 1.0, "{done}");
    let events = stack
        .get("/v1/events?kind=operation.updated&limit=1000")
        .await;
    let updates = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["operation"] == id)
        .count();
    assert!(
        (3..=3 + 3).contains(&updates),
        "running, at most one report per VM, then the end: {updates} updates"
    );
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_evacuation_finishes_it_after_a_restart() {
    // Every other duration instant; a migration takes 500 ms per GiB, so the kill lands mid-way:
    // three VMs move first (three per host at once), and the kill comes once one is reported.
    let mut stack = slow_crowded_pool().await;
    let id = request(&stack, "xs1", true, false).await;
    let done = kill_and_restart_after_a_report(&mut stack, id).await;
    assert_eq!(
        vm_names(&done),
        ["vm1", "vm2", "vm3", "vm4", "vm5"],
        "every VM exactly once, those reported before the kill included: {done}"
    );
    for vm in done["vms"].as_array().unwrap() {
        assert_eq!(
            (&vm["from"], &vm["result"]),
            (&json!("xs1"), &json!("migrated")),
            "{done}"
        );
        let to = vm["to"].as_str().unwrap_or_default();
        assert!(to == "xs2" || to == "xs3", "{done}");
        let there = stack
            .farm()
            .vm(vm["name"].as_str().unwrap())
            .cloned()
            .unwrap();
        assert_eq!(
            (there.resident_on.as_deref(), there.power_state.as_str()),
            (Some(to), "Running"),
            "running where it is reported: {done}"
        );
    }
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_while_vms_go_home_lists_every_vm_once_after_a_restart() {
    let mut stack = slow_crowded_pool().await;
    let away = maintenance(&stack, "xs1", true, false).await;
    assert_eq!(away["state"], "succeeded", "{away}");

    let id = request(&stack, "xs1", false, false).await;
    let done = kill_and_restart_after_a_report(&mut stack, id).await;
    assert_eq!(
        vm_names(&done),
        ["vm1", "vm2", "vm3", "vm4", "vm5"],
        "every VM exactly once: {done}"
    );
    for vm in done["vms"].as_array().unwrap() {
        assert_eq!(
            (&vm["to"], &vm["result"]),
            (&json!("xs1"), &json!("migrated")),
            "{done}"
        );
    }
    assert!(stack.all_vms_on("xs1"), "every VM home");
    for vm in stack.farm().vms {
        assert!(
            !vm.other_config.contains_key("xenpool_home"),
            "{} forgot its away mark",
            vm.name
        );
    }
    stack.assert_invariants();
    stack.shutdown().await;
}
