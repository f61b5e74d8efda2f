//! `host.*`: disable / enable and `auto_enable`, lookups, `other_config`, free memory.

use xenpool_mocks::{Fault, FaultKind};

use crate::support::{farm, farm_scenario, s, wait_for, Reply, Session, Xapi};

#[tokio::test]
async fn disable_is_idempotent_and_auto_enable_false_survives_a_restart() {
    let farm = farm(1).await;
    let m = Session::on(&farm, "xs1").await;
    let h = m.host_ref("xs1").await;
    m.ok("host.disable", vec![s(&h)]).await;
    m.ok("host.disable", vec![s(&h)]).await;
    assert_eq!(m.field("host", &h, "enabled").await.as_bool(), Some(false));
    m.ok("host.disable", vec![s(&h), false.into()]).await;
    assert!(
        !farm.state().host("xs1").unwrap().disabled_persist,
        "already disabled: nothing is persisted"
    );
    crash(&farm).await;
    wait_for(&farm, "xs1 back enabled", |st| {
        st.host("xs1").is_some_and(|h| h.online && h.enabled)
    })
    .await;
    let m = Session::on(&farm, "xs1").await;
    m.ok("host.disable", vec![s(&h), false.into()]).await;
    assert!(farm.state().host("xs1").unwrap().disabled_persist);
    crash(&farm).await;
    wait_for(&farm, "xs1 back", |st| {
        st.host("xs1").is_some_and(|h| h.online)
    })
    .await;
    assert!(
        !farm.state().host("xs1").unwrap().enabled,
        "stays disabled across the restart"
    );
    let m = Session::on(&farm, "xs1").await;
    m.ok("host.enable", vec![s(&h)]).await;
    m.ok("host.enable", vec![s(&h)]).await;
    assert!(farm.state().host("xs1").unwrap().enabled);
}

async fn crash(farm: &xenpool_mocks::Farm) {
    let mut f = Fault::new(FaultKind::Crash);
    f.count = Some(1);
    farm.inject(f).unwrap();
    let reply = Xapi::new(&farm.host_url("xs1"))
        .call("session.login_with_password", vec![s("root"), s("mock")])
        .await;
    assert!(
        matches!(reply, Reply::Transport(_)),
        "the crash drops the call: {reply:?}"
    );
}

#[tokio::test]
async fn old_servers_reject_auto_enable_and_offline_hosts_cannot_be_disabled() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\nsupports_auto_enable = false\n[[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\n",
    )
    .await;
    let m = Session::on(&farm, "xs1").await;
    let xs2 = m.host_ref("xs2").await;
    assert_eq!(
        m.fails("host.disable", vec![s(&xs2), false.into()]).await,
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.disable", "1", "2"]
    );
    let mut off = Fault::new(FaultKind::Offline);
    off.host = Some("xs2".into());
    farm.inject(off).unwrap();
    assert_eq!(
        m.fails("host.disable", vec![s(&xs2)]).await,
        ["HOST_OFFLINE", xs2.as_str()]
    );
}

#[tokio::test]
async fn lookups_other_config_and_free_memory() {
    let farm = farm(2).await;
    let m = Session::on(&farm, "xs1").await;
    let h = m.host_ref("xs1").await;
    let uuid = m.field("host", &h, "uuid").await;
    assert_eq!(
        m.ok("host.get_by_uuid", vec![uuid]).await.as_str(),
        Some(h.as_str())
    );
    assert_eq!(
        m.fails("host.get_by_uuid", vec![s("nope")]).await,
        ["UUID_INVALID", "host", "nope"]
    );
    assert_eq!(
        m.ok("host.get_by_name_label", vec![s("xs2")])
            .await
            .as_array()
            .map(<[_]>::len),
        Some(0),
        "not in this pool"
    );
    m.ok("host.add_to_other_config", vec![s(&h), s("home"), s("xs1")])
        .await;
    assert_eq!(
        m.fails("host.add_to_other_config", vec![s(&h), s("home"), s("x")])
            .await,
        [
            "MAP_DUPLICATE_KEY",
            "host",
            "other_config",
            h.as_str(),
            "home"
        ]
    );
    let oc = m.field("host", &h, "other_config").await;
    assert_eq!(
        oc.as_struct().unwrap().get("home").and_then(|v| v.as_str()),
        Some("xs1")
    );
    assert_eq!(
        farm.state().host("xs1").unwrap().other_config["home"],
        "xs1"
    );
    m.ok("host.remove_from_other_config", vec![s(&h), s("home")])
        .await;
    m.ok("host.remove_from_other_config", vec![s(&h), s("home")])
        .await;
    let free = m.ok("host.compute_free_memory", vec![s(&h)]).await;
    assert_eq!(
        free.as_str(),
        Some(((16384u64 - 1024 - 2048) << 20).to_string().as_str())
    );
    assert_eq!(
        farm.state().host("xs1").unwrap().memory_free_mib,
        16384 - 1024 - 2048
    );
    let metrics = m.field("host", &h, "metrics").await;
    assert_eq!(
        m.ok("host_metrics.get_live", vec![metrics]).await.as_bool(),
        Some(true)
    );
}
