//! `VM.pool_migrate`: checks in XAPI's order with exact params, memory accounting, the
//! transfer's reservation, and the `Async.` task.

use std::time::Duration;

use xenpool_mocks::{FarmOptions, Scenario, Timings};

use crate::support::{eventually, farm_scenario, farm_with, no_options, s, Session};
use xenpool_xmlrpc::{Struct, Value};

const POOL: &str = "[[hosts]]\nname = \"xs1\"\nvms = [\n\
      { name = \"small\" },\n\
      { name = \"big\", memory_mib = 8192 },\n\
      { name = \"local\", disks = \"local\" },\n\
      { name = \"gpu\", pci = true },\n\
      { name = \"off\", power_state = \"Halted\" },\n\
      { name = \"pinned\", blocked_operations = { pool_migrate = \"keep here\" } },\n\
    ]\n\
    [[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\nmemory_mib = 8192\nvms = []\n\
    [[hosts]]\nname = \"xs3\"\nmember_of = \"xs1\"\ncpu_vendor = \"AuthenticAMD\"\nvms = []\n";

async fn setup() -> (xenpool_mocks::Farm, Session, String, String) {
    let farm = farm_scenario(POOL).await;
    let m = Session::on(&farm, "xs1").await;
    let (xs2, xs3) = (m.host_ref("xs2").await, m.host_ref("xs3").await);
    (farm, m, xs2, xs3)
}

#[tokio::test]
async fn a_running_diskless_vm_moves_and_memory_follows() {
    let (farm, m, xs2, _) = setup().await;
    let vm = m.vm_ref("small").await;
    m.ok("VM.pool_migrate", vec![s(&vm), s(&xs2), live()]).await;
    assert_eq!(
        m.field("VM", &vm, "resident_on").await.as_str(),
        Some(xs2.as_str())
    );
    let st = farm.state();
    assert_eq!(st.vm("small").unwrap().resident_on.as_deref(), Some("xs2"));
    assert_eq!(st.host("xs2").unwrap().memory_free_mib, 8192 - 1024 - 1024);
    assert!(farm.invariants().ok, "{:?}", farm.invariants());
}

fn live() -> Value {
    let mut o = Struct::new();
    o.insert("live", "true");
    Value::Struct(o)
}

#[tokio::test]
async fn each_refusal_has_xapis_code_and_params() {
    let (_farm, m, xs2, xs3) = setup().await;
    let vm = |n: &'static str| {
        let m = &m;
        async move { m.vm_ref(n).await }
    };
    let (small, big, local, gpu, off, pinned) = (
        vm("small").await,
        vm("big").await,
        vm("local").await,
        vm("gpu").await,
        vm("off").await,
        vm("pinned").await,
    );
    let migrate = |v: String, h: String| {
        let m = &m;
        async move {
            m.fails("VM.pool_migrate", vec![s(&v), s(&h), no_options()])
                .await
        }
    };
    let e = migrate(local.clone(), xs2.clone()).await;
    assert_eq!(e[0..2], ["VM_REQUIRES_SR".to_owned(), local.clone()]);
    assert!(e[2].starts_with("OpaqueRef:"), "{e:?}");
    assert_eq!(
        migrate(gpu.clone(), xs2.clone()).await,
        ["VM_HAS_PCI_ATTACHED", gpu.as_str()]
    );
    assert_eq!(
        migrate(off.clone(), xs2.clone()).await,
        ["VM_BAD_POWER_STATE", off.as_str(), "running", "halted"]
    );
    assert_eq!(
        migrate(pinned.clone(), xs2.clone()).await,
        ["OPERATION_BLOCKED", pinned.as_str(), "keep here"]
    );
    let needed = (8192u64 << 20).to_string();
    let available = ((8192u64 - 1024) << 20).to_string();
    assert_eq!(
        migrate(big.clone(), xs2.clone()).await,
        [
            "HOST_NOT_ENOUGH_FREE_MEMORY",
            needed.as_str(),
            available.as_str()
        ]
    );
    let e = migrate(small.clone(), xs3.clone()).await;
    assert_eq!(
        e[0..3],
        [
            "VM_INCOMPATIBLE_WITH_THIS_HOST".to_owned(),
            small.clone(),
            xs3.clone()
        ],
        "CPU check first"
    );
    let mut force = Struct::new();
    force.insert("force", "true");
    m.ok(
        "VM.pool_migrate",
        vec![s(&small), s(&xs3), Value::Struct(force)],
    )
    .await;
    m.ok("host.disable", vec![s(&xs2)]).await;
    let pinned_and_disabled = migrate(pinned.clone(), xs2.clone()).await;
    assert_eq!(
        pinned_and_disabled[0], "OPERATION_BLOCKED",
        "operation checks come before the host checks"
    );
    let mut force = Struct::new();
    force.insert("force", "true");
    let e = m
        .fails(
            "VM.pool_migrate",
            vec![s(&small), s(&xs2), Value::Struct(force)],
        )
        .await;
    assert_eq!(e, ["HOST_DISABLED", xs2.as_str()]);
    assert_eq!(
        m.fails(
            "VM.pool_migrate",
            vec![s("OpaqueRef:x"), s(&xs2), no_options()]
        )
        .await,
        ["HANDLE_INVALID", "VM", "OpaqueRef:x"]
    );
}

#[tokio::test]
async fn an_async_migration_reserves_memory_reports_progress_and_finishes() {
    let opts = FarmOptions {
        scenario: Some(Scenario::from_toml(POOL).unwrap()),
        time_scale: 1.0,
        timings: Timings {
            migrate_per_gib: Duration::from_millis(2000),
            ..Timings::default()
        },
        ..FarmOptions::default()
    };
    let farm = farm_with(opts).await;
    let m = Session::on(&farm, "xs1").await;
    let (vm, xs2) = (m.vm_ref("small").await, m.host_ref("xs2").await);
    let task = m
        .ok_str("Async.VM.pool_migrate", vec![s(&vm), s(&xs2), live()])
        .await;
    assert!(task.starts_with("OpaqueRef:"));
    let ops = m.field("VM", &vm, "current_operations").await;
    assert_eq!(
        ops.as_struct().unwrap().get(&task).and_then(|v| v.as_str()),
        Some("pool_migrate")
    );
    assert_eq!(
        farm.state().host("xs2").unwrap().memory_free_mib,
        8192 - 1024 - 1024,
        "reserved on the target"
    );
    assert_eq!(
        farm.state().vm("small").unwrap().resident_on.as_deref(),
        Some("xs1"),
        "still on the source"
    );
    let e = m
        .fails("VM.pool_migrate", vec![s(&vm), s(&xs2), live()])
        .await;
    assert_eq!(
        e,
        [
            "OTHER_OPERATION_IN_PROGRESS",
            "VM",
            vm.as_str(),
            "pool_migrate",
            task.as_str()
        ]
    );
    let rec = eventually("the task to finish", || async {
        let rec = m.ok("task.get_record", vec![s(&task)]).await;
        let status = rec
            .as_struct()
            .unwrap()
            .get("status")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        (status.as_deref() != Some("pending")).then_some(rec)
    })
    .await;
    let rec = rec.as_struct().unwrap();
    assert_eq!(rec.get("status").and_then(|v| v.as_str()), Some("success"));
    assert_eq!(rec.get("progress").and_then(|v| v.as_f64()), Some(1.0));
    assert_eq!(
        rec.get("result").and_then(|v| v.as_str()),
        Some("<value></value>")
    );
    assert_eq!(
        m.field("VM", &vm, "resident_on").await.as_str(),
        Some(xs2.as_str())
    );
    let failing = m
        .ok_str(
            "Async.VM.pool_migrate",
            vec![s(&m.vm_ref("gpu").await), s(&xs2), live()],
        )
        .await;
    eventually("the failing task", || async {
        let status = m.ok("task.get_status", vec![s(&failing)]).await;
        (status.as_str() == Some("failure")).then_some(())
    })
    .await;
    let err = m.ok("task.get_error_info", vec![s(&failing)]).await;
    assert_eq!(
        err.as_array().unwrap()[0].as_str(),
        Some("VM_HAS_PCI_ATTACHED")
    );
    m.ok("task.destroy", vec![s(&failing)]).await;
    assert_eq!(
        m.fails("task.get_record", vec![s(&failing)]).await,
        ["HANDLE_INVALID", "task", failing.as_str()]
    );
}

#[tokio::test]
async fn older_or_dead_targets_are_refused() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\nsoftware_version = \"8.2.1\"\n\
         [[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\nsoftware_version = \"8.2.0\"\nvms = []\n\
         [[hosts]]\nname = \"xs3\"\nmember_of = \"xs1\"\nvms = []\n",
    )
    .await;
    let m = Session::on(&farm, "xs1").await;
    let (vm, xs2, xs3) = (
        m.vm_ref("xs1-vm1").await,
        m.host_ref("xs2").await,
        m.host_ref("xs3").await,
    );
    assert_eq!(
        m.fails("VM.pool_migrate", vec![s(&vm), s(&xs2), no_options()])
            .await,
        ["NOT_SUPPORTED_DURING_UPGRADE"]
    );
    let mut off = xenpool_mocks::Fault::new(xenpool_mocks::FaultKind::Offline);
    off.host = Some("xs3".into());
    farm.inject(off).unwrap();
    assert_eq!(
        m.fails("VM.pool_migrate", vec![s(&vm), s(&xs3), no_options()])
            .await,
        ["HOST_NOT_LIVE"]
    );
    let blocked = m
        .ok(
            "host.get_vms_which_prevent_evacuation",
            vec![s(&m.host_ref("xs1").await)],
        )
        .await;
    let reasons: Vec<&str> = blocked
        .as_struct()
        .unwrap()
        .iter()
        .map(|(_, why)| why.as_array().unwrap()[0].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["NO_HOSTS_AVAILABLE", "NO_HOSTS_AVAILABLE"],
        "older and dead hosts are no targets"
    );
}
