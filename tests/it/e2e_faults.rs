//! End to end against the mock XenServer with injected faults: every failure is reported by
//! XAPI's code with names, the pool converges once the fault is gone, and an agent killed in
//! the middle of a step resumes from its journal.

use serde_json::json;
use xenpool_mocks::{Fault, FaultKind, Phase};

use crate::support::server::Db;
use crate::support::stack::{farm, Stack};

fn fault(kind: FaultKind, host: &str, method: &str) -> Fault {
    Fault {
        kind,
        host: Some(host.into()),
        method: Some(method.into()),
        count: None,
        error: None,
        latency_ms: None,
        phase: Phase::Before,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_join_is_reported_by_code_and_converges_once_the_fault_clears() {
    let stack = Stack::start(Db::Sqlite, farm(2, 0)).await;
    let id = stack
        .demo
        .farm
        .inject(Fault {
            error: Some(vec!["HOSTS_NOT_HOMOGENEOUS".into(), "CPUs differ".into()]),
            ..fault(FaultKind::Fail, "xs2", "pool.join")
        })
        .unwrap();
    stack.create_pool("pool1", json!({})).await;
    stack.add_host("pool1", "xs1").await;
    stack.add_host("pool1", "xs2").await;
    let error = stack
        .until("the join failure reported", || async {
            let e = stack.aggregate("pool1").await["status"]["error"].clone();
            (e["code"] == "HOSTS_NOT_HOMOGENEOUS").then_some(e)
        })
        .await;
    assert_eq!(error["params"], json!(["CPUs differ"]), "{error}");
    assert!(
        error["fix"]
            .as_str()
            .unwrap()
            .contains("xenpool_join_force"),
        "{error}"
    );
    assert!(
        error["hosts"].as_array().unwrap().contains(&json!("xs2")),
        "{error}"
    );

    assert!(stack.demo.farm.clear_fault(&id));
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    assert_eq!(
        stack.aggregate("pool1").await["status"]["error"],
        json!(null)
    );
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_during_its_join_resumes_after_a_restart() {
    let mut stack = Stack::start(Db::Sqlite, farm(2, 0)).await;
    stack
        .demo
        .farm
        .inject(Fault {
            latency_ms: Some(400),
            count: Some(1),
            ..fault(FaultKind::Latency, "xs2", "pool.join")
        })
        .unwrap();
    stack.create_pool("pool1", json!({})).await;
    stack.add_host("pool1", "xs1").await;
    stack.add_host("pool1", "xs2").await;
    stack.until_called(Some("xs2"), "pool.join").await;
    stack.demo.kill_agent("xs2");
    assert!(!stack.demo.agent_running("xs2"));
    stack.demo.start_agent("xs2").expect("agent restarts");
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_whose_xapi_is_offline_for_a_while_still_converges() {
    let stack = Stack::start(Db::Sqlite, farm(2, 0)).await;
    stack.form_pool("pool1", &["xs1"]).await;
    let id = stack
        .demo
        .farm
        .inject(Fault {
            count: None,
            ..fault(FaultKind::Offline, "xs1", "pool.join")
        })
        .unwrap();
    stack.add_host("pool1", "xs2").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        stack
            .farm()
            .pool_of("xs2")
            .is_some_and(|p| p.members == ["xs2"]),
        "no join while the master is offline"
    );
    assert!(stack.demo.farm.clear_fault(&id));
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    stack.assert_invariants();
    stack.shutdown().await;
}
