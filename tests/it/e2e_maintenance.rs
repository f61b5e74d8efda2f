//! End to end against the mock XenServer: maintenance plans, evacuates under memory limits
//! and hands over the master role; leaving maintenance brings every VM home.

use std::time::Duration;

use serde_json::{json, Value};
use xenpool_mocks::{FarmOptions, Scenario};

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

async fn maintenance(stack: &Stack, host: &str, enabled: bool, dry_run: bool) -> Value {
    let body = json!({ "enabled": enabled, "dry_run": dry_run });
    let (status, op) = stack
        .call("PUT", &format!("/v1/hosts/{host}/maintenance"), body)
        .await;
    assert_eq!(status, 202, "{op}");
    let id = op["id"].as_i64().expect("operation id");
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

async fn maintenance_round_trip(db: Db) {
    let stack = Stack::start(db, crowded_master()).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;

    let plan = maintenance(&stack, "xs1", true, true).await;
    assert_eq!(plan["state"], "succeeded", "{plan}");
    let moves = plan["plan"]["moves"].as_array().expect("a plan with moves");
    assert_eq!(moves.len(), 5, "{plan}");
    assert!(moves.iter().all(|m| m["to"] != "xs1"), "{plan}");
    assert!(
        stack
            .farm()
            .vms
            .iter()
            .all(|v| v.resident_on.as_deref() == Some("xs1")),
        "a dry run moves nothing"
    );

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
async fn an_agent_killed_mid_evacuation_finishes_it_after_a_restart() {
    // Every other duration instant; a migration takes 300 ms per GiB, so the kill lands mid-way.
    let mut options = crowded_master();
    options.time_scale = 1.0;
    options.timings = xenpool_mocks::Timings {
        fuse: Duration::from_millis(10),
        xapi_restart: Duration::from_millis(10),
        member_sync: Duration::from_millis(10),
        reboot: Duration::from_millis(10),
        migrate_per_gib: Duration::from_millis(300),
        designate: Duration::from_millis(10),
        ..Default::default()
    };
    let mut stack = Stack::start(Db::Sqlite, options).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;
    let (status, op) = stack
        .call(
            "PUT",
            "/v1/hosts/xs1/maintenance",
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(status, 202, "{op}");
    stack
        .until("the first migration under way", || async {
            let farm = stack.farm();
            farm.calls
                .values()
                .any(|m| m.keys().any(|k| k.contains("pool_migrate")))
                .then_some(())
        })
        .await;
    stack.demo.kill_agent("xs1");
    tokio::time::sleep(Duration::from_millis(150)).await;
    stack.demo.start_agent("xs1").expect("agent restarts");
    stack
        .until("every VM off xs1", || async {
            let farm = stack.farm();
            let off = farm.vms.iter().all(|v| {
                v.resident_on.as_deref().is_some_and(|h| h != "xs1") && v.power_state == "Running"
            });
            (off && farm.vms.len() == 5).then_some(())
        })
        .await;
    let id = op["id"].as_i64().unwrap();
    stack
        .until("the operation finished after the restart", || async {
            let op = stack.get(&format!("/v1/operations/{id}")).await;
            (op["state"] == "succeeded").then_some(())
        })
        .await;
    stack.assert_invariants();
    stack.shutdown().await;
}
