//! End to end against the mock XenServer: aggregates become pools, hosts join and leave,
//! the master role moves, on SQLite and on PostgreSQL. Every test ends with the mock's
//! invariants holding and no VM lost.

use serde_json::json;

use crate::support::server::Db;
use crate::support::stack::{farm, Stack};

async fn forms_a_pool_of_three(db: Db) {
    let stack = Stack::start(db, farm(3, 0)).await;
    let agg = stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;
    let meta = &agg["metadata"];
    assert_eq!(meta["master_compute"], "xs1");
    let farm = stack.farm();
    for h in ["xs1", "xs2", "xs3"] {
        assert_eq!(
            meta[h],
            farm.host(h).unwrap().uuid.as_str(),
            "metadata {h} = its XAPI uuid"
        );
    }
    // In one process the control plane's /metrics shows the agents' metrics too.
    let metrics = crate::support::server::client()
        .get(format!("{}/metrics", stack.demo.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in [
        "xenpool_agent_steps_total",
        "xenpool_agent_pass_duration_seconds",
        "xenpool_agent_reconcile_lag_seconds",
        "xenpool_xapi_call_duration_seconds",
    ] {
        assert!(metrics.contains(family), "{family} missing from /metrics");
    }
    assert!(metrics.contains(r#"step="join""#), "join steps are counted");
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_serves_metrics_on_its_own_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(xenpool::agent::run::serve_metrics(listener));
    metrics::counter!("xenpool_agent_steps_total", "step" => "probe", "outcome" => "ok")
        .increment(1);
    let resp = crate::support::server::client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(r#"xenpool_agent_steps_total{step="probe",outcome="ok"}"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_a_pool_of_three_on_sqlite() {
    forms_a_pool_of_three(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_a_pool_of_three_on_postgres() {
    forms_a_pool_of_three(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_with_running_vms_is_refused_by_name_then_converges_once_they_stop() {
    let stack = Stack::start(Db::Sqlite, farm(2, 1)).await;
    stack.create_pool("pool1", json!({})).await;
    stack.add_host("pool1", "xs1").await;
    stack.add_host("pool1", "xs2").await;
    let error = stack
        .until("xs2's refusal", || async {
            let a = stack.aggregate("pool1").await;
            let e = a["status"]["error"].clone();
            let refused = e["code"] == "JOINING_HOST_CANNOT_HAVE_RUNNING_VMS";
            (refused && a["metadata"]["operational_state"] == "error").then_some(e)
        })
        .await;
    assert_eq!(error["vms"], json!(["xs2-vm1"]));
    assert!(error["fix"].as_str().unwrap().contains("shut"), "{error}");

    // Stop the VM through XAPI as an operator would; the join then proceeds by itself.
    let session = xapi_session(&stack, "xs2").await;
    let vm = session
        .vm_get_by_uuid(&stack.farm().vm("xs2-vm1").unwrap().uuid)
        .await
        .unwrap();
    session.vm_clean_shutdown(&vm).await.unwrap();
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    assert_eq!(
        stack.aggregate("pool1").await["status"]["error"],
        json!(null)
    );
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_member_evacuates_it_then_ejects_it() {
    let stack = Stack::start(Db::Sqlite, three_hosts_with_a_halted_vm_on_xs3()).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;
    start_vm_on(&stack, "xs3", "web").await;

    stack.remove_host("pool1", "xs3").await;
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    let farm = stack.farm();
    let web = farm.vm("web").expect("the VM still exists");
    assert_eq!(web.power_state, "Running");
    assert!(
        matches!(web.resident_on.as_deref(), Some("xs1" | "xs2")),
        "web moved to a member: {web:?}"
    );
    stack
        .until("xs3 back as a standalone host", || async {
            let farm = stack.farm();
            farm.pool_of("xs3")
                .is_some_and(|p| p.members == ["xs3"])
                .then_some(())
        })
        .await;
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_master_hands_the_role_over_first() {
    let stack = Stack::start(Db::Sqlite, farm(3, 0)).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;

    stack.remove_host("pool1", "xs1").await;
    let agg = stack
        .until("a new master recorded", || async {
            let a = stack.aggregate("pool1").await;
            let farm = stack.farm();
            let pool = farm.pools.iter().find(|p| p.name_label == "pool1")?;
            let master = a["metadata"]["master_compute"].as_str()?.to_owned();
            (pool.members.len() == 2 && pool.master == master && master != "xs1").then_some(a)
        })
        .await;
    assert!(
        agg["metadata"].get("xs1").is_none_or(|v| v.is_null()),
        "xs1's key is gone: {agg}"
    );
    stack.assert_invariants();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_master_compute_hands_over_the_master_role() {
    let stack = Stack::start(Db::Sqlite, farm(2, 0)).await;
    stack.form_pool("pool1", &["xs1", "xs2"]).await;
    let (status, body) = stack
        .call(
            "PATCH",
            "/v1/aggregates/pool1/metadata",
            json!({ "master_compute": "xs2" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    stack.until_pool("pool1", &["xs1", "xs2"], "xs2").await;
    stack.assert_invariants();
    stack.shutdown().await;
}

/// Logs in to `host`'s XAPI (following it to its master) with the farm's credentials.
pub async fn xapi_session(stack: &Stack, host: &str) -> xenpool::xenapi::Session {
    use xenpool::xenapi::{parse_url, Client, ClientOptions, Credentials, Session};
    let client = Client::new(ClientOptions::default()).unwrap();
    let url = parse_url(&stack.demo.farm.host_url(host)).unwrap();
    let creds = Credentials::new(stack.demo.farm.username(), stack.demo.farm.password());
    Session::login_with_password(client, url, creds)
        .await
        .unwrap()
}

/// Starts the halted VM `name` on `host` through XAPI (`VM.start_on`).
pub async fn start_vm_on(stack: &Stack, host: &str, name: &str) {
    let farm = stack.farm();
    let session = xapi_session(stack, host).await;
    let vm = session
        .vm_get_by_uuid(&farm.vm(name).expect("VM exists").uuid)
        .await
        .unwrap();
    let host_ref = session
        .host_get_by_uuid(&farm.host(host).unwrap().uuid)
        .await
        .unwrap();
    let args = vec![
        vm.as_str().into(),
        host_ref.as_str().into(),
        false.into(),
        false.into(),
    ];
    session.call_void("VM.start_on", args).await.unwrap();
}

/// Three empty hosts, of which `xs3` holds the halted VM `web` (joiners may hold halted VMs).
fn three_hosts_with_a_halted_vm_on_xs3() -> xenpool_mocks::FarmOptions {
    let scenario = xenpool_mocks::Scenario::from_toml(
        "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"xs2\"\n[[hosts]]\nname = \"xs3\"\n\
         [[hosts.vms]]\nname = \"web\"\npower_state = \"Halted\"\n",
    )
    .expect("scenario parses");
    xenpool_mocks::FarmOptions {
        scenario: Some(scenario),
        ..farm(3, 0)
    }
}
