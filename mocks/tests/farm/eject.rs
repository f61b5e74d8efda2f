//! `pool.eject`: refusals in order, the wipe, and the reboot into a fresh standalone pool.

use xenpool_mocks::{Fault, FaultKind};

use crate::support::{farm_scenario, s, wait_for, Session};

const POOL: &str = "[[hosts]]\nname = \"xs1\"\n\
    [[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\n\
    [[hosts.vms]]\nname = \"run\"\n\
    [[hosts.vms]]\nname = \"off\"\npower_state = \"Halted\"\ndisks = \"local\"\n\
    [[hosts]]\nname = \"xs3\"\nmember_of = \"xs1\"\nvms = []\n";

#[tokio::test]
async fn the_master_and_hosts_with_running_vms_cannot_be_ejected() {
    let farm = farm_scenario(POOL).await;
    let m = Session::on(&farm, "xs1").await;
    let xs1 = m.host_ref("xs1").await;
    assert_eq!(
        m.fails("pool.eject", vec![s(&xs1)]).await,
        ["INTERNAL_ERROR", "Xapi_pool.Cannot_eject_master"]
    );
    let xs2 = m.host_ref("xs2").await;
    assert_eq!(
        m.fails("pool.eject", vec![s(&xs2)]).await,
        ["OPERATION_NOT_ALLOWED", "VM resident on host"]
    );
    assert_eq!(
        m.fails("pool.eject", vec![s("OpaqueRef:nope")]).await,
        ["HANDLE_INVALID", "host", "OpaqueRef:nope"]
    );
    let mut offline = Fault::new(FaultKind::Offline);
    offline.host = Some("xs3".into());
    farm.inject(offline).unwrap();
    let xs3 = m.host_ref("xs3").await;
    assert_eq!(
        m.fails("pool.eject", vec![s(&xs3)]).await,
        ["HOST_OFFLINE", xs3.as_str()]
    );
}

#[tokio::test]
async fn eject_wipes_the_host_keeps_halted_vm_records_and_reboots_it_standalone() {
    let farm = farm_scenario(POOL).await;
    let m = Session::on(&farm, "xs1").await;
    let run = m.vm_ref("run").await;
    m.ok("VM.clean_shutdown", vec![s(&run)]).await;
    let xs2 = m.host_ref("xs2").await;
    let old_uuid = farm.state().host("xs2").unwrap().uuid.clone();
    m.ok("pool.eject", vec![s(&xs2)]).await;
    assert_eq!(
        m.fails("host.get_record", vec![s(&xs2)]).await,
        ["HANDLE_INVALID", "host", xs2.as_str()]
    );
    let off = m.vm_ref("off").await;
    assert_eq!(
        m.field("VM", &off, "power_state").await.as_str(),
        Some("Halted"),
        "halted VM records stay in the pool"
    );
    let vbds = m.field("VM", &off, "VBDs").await;
    assert_eq!(vbds.as_array().map(<[_]>::len), Some(1));
    wait_for(&farm, "xs2 back standalone", |st| {
        st.host("xs2")
            .is_some_and(|h| h.online && h.is_master && h.enabled && h.pool.is_some())
    })
    .await;
    let st = farm.state();
    assert_ne!(
        st.host("xs2").unwrap().uuid,
        old_uuid,
        "a fresh install has a new uuid"
    );
    assert_eq!(st.pool_of("xs2").unwrap().members, ["xs2"]);
    let fresh = Session::on(&farm, "xs2").await;
    let vms = fresh.ok("VM.get_all_records", vec![]).await;
    let vms = vms.as_struct().unwrap();
    assert_eq!(vms.len(), 1, "only the new control domain");
    let (_, dom0) = vms.iter().next().unwrap();
    assert_eq!(
        dom0.as_struct()
            .unwrap()
            .get("is_control_domain")
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    let start = m
        .fails("VM.start", vec![s(&off), false.into(), false.into()])
        .await;
    assert_eq!(
        start[0], "VM_REQUIRES_SR",
        "its disk was on the wiped local SR: {start:?}"
    );
    assert!(farm.invariants().ok, "{:?}", farm.invariants());
}

#[tokio::test]
async fn pool_ha_blocks_eject_and_designate() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\nha_enabled = true\n[[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\nvms = []\n",
    )
    .await;
    let m = Session::on(&farm, "xs1").await;
    let xs2 = m.host_ref("xs2").await;
    assert_eq!(
        m.fails("pool.eject", vec![s(&xs2)]).await,
        ["HA_IS_ENABLED"]
    );
    assert_eq!(
        m.fails("pool.designate_new_master", vec![s(&xs2)]).await,
        ["HA_IS_ENABLED"]
    );
}

#[tokio::test]
async fn a_host_applying_updates_cannot_be_ejected() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\nupgrading = true\n",
    )
    .await;
    let m = Session::on(&farm, "xs1").await;
    let xs2 = m.host_ref("xs2").await;
    assert_eq!(
        m.fails("pool.eject", vec![s(&xs2)]).await,
        ["NOT_SUPPORTED_DURING_UPGRADE"],
        "checked before the resident VMs"
    );
}

#[tokio::test]
async fn with_ha_on_unprotected_vms_block_evacuation() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\nha_enabled = true\n[[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\nvms = []\n",
    )
    .await;
    let m = Session::on(&farm, "xs1").await;
    let xs1 = m.host_ref("xs1").await;
    let vms = [m.vm_ref("xs1-vm1").await, m.vm_ref("xs1-vm2").await];
    let e = m.fails("host.evacuate", vec![s(&xs1)]).await;
    assert_eq!(e[0], "HOST_EVACUATE_VM_NOT_HA_PROTECTED");
    assert!(e.len() == 2 && vms.contains(&e[1]), "{e:?}");
}
