//! Evacuation (§2.9): blockers per VM, the `CANNOT_EVACUATE_HOST` string, and `host.evacuate`.

use crate::support::{farm_scenario, s, Session};
use xenpool_xmlrpc::Value;

#[tokio::test]
async fn blockers_are_reported_per_vm_and_evacuate_refuses_before_moving_anything() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\nvms = [{ name = \"ok1\" }, { name = \"disk\", disks = \"local\" }, { name = \"gpu\", pci = true }]\n\
         [[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\nvms = []\n",
    )
    .await;
    let m = Session::on(&farm, "xs1").await;
    let xs1 = m.host_ref("xs1").await;
    let (disk, gpu) = (m.vm_ref("disk").await, m.vm_ref("gpu").await);
    let blocked = m
        .ok("host.get_vms_which_prevent_evacuation", vec![s(&xs1)])
        .await;
    let blocked = blocked.as_struct().unwrap();
    assert_eq!(blocked.len(), 2);
    let codes = |v: &str| -> Vec<String> {
        blocked
            .get(v)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        codes(&disk)[0..2],
        ["VM_REQUIRES_SR".to_owned(), disk.clone()]
    );
    assert_eq!(codes(&gpu), ["VM_HAS_PCI_ATTACHED", gpu.as_str()]);
    let e = m.fails("host.assert_can_evacuate", vec![s(&xs1)]).await;
    assert_eq!(e.len(), 2);
    assert_eq!(e[0], "CANNOT_EVACUATE_HOST");
    let parts: Vec<&str> = e[1].split('|').collect();
    assert_eq!(parts.len(), 2, "{e:?}");
    assert!(
        parts
            .iter()
            .any(|p| *p == format!("VM_HAS_PCI_ATTACHED,{gpu}")),
        "{e:?}"
    );
    let e = m.fails("host.evacuate", vec![s(&xs1)]).await;
    assert!(
        e[0] == "VM_REQUIRES_SR" || e[0] == "VM_HAS_PCI_ATTACHED",
        "{e:?}"
    );
    assert_eq!(
        farm.state().vm("ok1").unwrap().resident_on.as_deref(),
        Some("xs1"),
        "nothing moved"
    );
}

#[tokio::test]
async fn memory_and_missing_targets_block_with_xapis_one_param_errors() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\nvms = [{ name = \"a\", memory_mib = 4096 }, { name = \"b\", memory_mib = 4096 }]\n\
         [[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\nmemory_mib = 6144\nvms = []\n",
    )
    .await;
    let m = Session::on(&farm, "xs1").await;
    let (xs1, xs2) = (m.host_ref("xs1").await, m.host_ref("xs2").await);
    let blocked = m
        .ok("host.get_vms_which_prevent_evacuation", vec![s(&xs1)])
        .await;
    let blocked = blocked.as_struct().unwrap();
    assert_eq!(
        blocked.len(),
        1,
        "one fits in 5 GiB free, the other does not"
    );
    let (vm, why) = blocked.iter().next().unwrap();
    assert_eq!(
        why.as_array().unwrap(),
        [Value::from("HOST_NOT_ENOUGH_FREE_MEMORY"), Value::from(vm)]
    );
    m.ok("host.disable", vec![s(&xs2)]).await;
    let blocked = m
        .ok("host.get_vms_which_prevent_evacuation", vec![s(&xs1)])
        .await;
    for (vm, why) in blocked.as_struct().unwrap().iter() {
        assert_eq!(
            why.as_array().unwrap(),
            [Value::from("NO_HOSTS_AVAILABLE"), Value::from(vm)]
        );
    }
}

#[tokio::test]
async fn evacuate_moves_every_vm_without_disabling_the_host() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\nvms = []\n\
         [[hosts]]\nname = \"xs3\"\nmember_of = \"xs1\"\nvms = []\n",
    )
    .await;
    let m = Session::on(&farm, "xs1").await;
    let xs1 = m.host_ref("xs1").await;
    m.ok(
        "host.evacuate",
        vec![s(&xs1), s("OpaqueRef:NULL"), Value::from(1)],
    )
    .await;
    let st = farm.state();
    assert!(
        st.vms
            .iter()
            .all(|v| v.resident_on.as_deref() != Some("xs1")),
        "{:?}",
        st.vms
    );
    assert!(
        st.host("xs1").unwrap().enabled,
        "evacuate does not disable the host"
    );
    let xs1_vms = m.field("host", &xs1, "resident_VMs").await;
    assert_eq!(
        xs1_vms.as_array().map(<[_]>::len),
        Some(1),
        "only dom0 left"
    );
    assert!(farm.invariants().ok, "{:?}", farm.invariants());
}
