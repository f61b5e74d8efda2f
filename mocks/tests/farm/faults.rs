//! Fault injection from the library: fail, latency, drop, offline, crash, freeze_join.

use xenpool_mocks::{Fault, FaultKind};

use crate::support::{farm, s, wait_for, Reply, Session, Xapi};

fn fault(kind: FaultKind, host: Option<&str>, method: Option<&str>, count: Option<u32>) -> Fault {
    let mut f = Fault::new(kind);
    f.host = host.map(str::to_owned);
    f.method = method.map(str::to_owned);
    f.count = count;
    f
}

#[tokio::test]
async fn fail_hits_the_next_n_calls_and_shows_in_the_state() {
    let farm = farm(2).await;
    let m = Session::on(&farm, "xs1").await;
    let mut f = fault(FaultKind::Fail, Some("xs1"), Some("pool.get_all"), Some(2));
    f.error = Some(vec!["INTERNAL_ERROR".into(), "injected".into()]);
    let id = farm.inject(f).unwrap();
    let listed = &farm.state().faults;
    assert_eq!(
        (listed[0].id.as_str(), listed[0].remaining),
        (id.as_str(), Some(2))
    );
    assert_eq!(
        m.fails("pool.get_all", vec![]).await,
        ["INTERNAL_ERROR", "injected"]
    );
    assert_eq!(farm.state().faults[0].remaining, Some(1));
    m.ok("host.get_all", vec![]).await;
    assert_eq!(
        m.fails("pool.get_all", vec![]).await,
        ["INTERNAL_ERROR", "injected"]
    );
    m.ok("pool.get_all", vec![]).await;
    assert!(farm.state().faults.is_empty());
    assert_eq!(farm.state().calls["xs1"]["pool.get_all"], 3);
    assert_eq!(farm.writes(), 0, "getters are not writes");
    let h = m.host_ref("xs1").await;
    m.ok("host.add_to_other_config", vec![s(&h), s("k"), s("v")])
        .await;
    assert_eq!(farm.writes(), 1);
}

#[tokio::test]
async fn latency_and_drop() {
    let farm = farm(1).await;
    let m = Session::on(&farm, "xs1").await;
    let mut lat = fault(FaultKind::Latency, None, Some("host.get_all"), Some(1));
    lat.latency_ms = Some(20);
    farm.inject(lat).unwrap();
    m.ok("host.get_all", vec![]).await;
    assert!(
        farm.state().faults.is_empty(),
        "the latency fault was used up"
    );
    farm.inject(fault(FaultKind::Drop, Some("xs1"), None, Some(1)))
        .unwrap();
    assert!(matches!(
        m.call("host.get_all", vec![]).await,
        Reply::Transport(_)
    ));
    m.ok("host.get_all", vec![]).await;
}

#[tokio::test]
async fn offline_refuses_connections_until_cleared() {
    let farm = farm(2).await;
    let addr = farm
        .host_url("xs2")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let id = farm
        .inject(fault(FaultKind::Offline, Some("xs2"), None, None))
        .unwrap();
    wait_for(&farm, "xs2's listener closed", |st| {
        !st.host("xs2").unwrap().listening
    })
    .await;
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "connection refused"
    );
    assert!(!farm.state().host("xs2").unwrap().online);
    Session::on(&farm, "xs1").await;
    assert!(farm.clear_fault(&id));
    wait_for(&farm, "xs2 online", |st| st.host("xs2").unwrap().online).await;
    Session::on(&farm, "xs2").await;
    assert!(!farm.clear_fault(&id), "already cleared");
}

#[tokio::test]
async fn a_crash_drops_the_call_kills_sessions_and_xapi_comes_back() {
    let farm = farm(1).await;
    let m = Session::on(&farm, "xs1").await;
    let waiting = Session::on(&farm, "xs1").await;
    let long = tokio::spawn(async move {
        waiting
            .call(
                "event.from",
                vec![
                    xenpool_xmlrpc::Value::Array(vec![s("pool")]),
                    s("00000000000000099999,00000000000000000000"),
                    5.0.into(),
                ],
            )
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    farm.inject(fault(
        FaultKind::Crash,
        Some("xs1"),
        Some("host.get_all"),
        Some(1),
    ))
    .unwrap();
    assert!(matches!(
        m.call("host.get_all", vec![]).await,
        Reply::Transport(_)
    ));
    assert!(
        matches!(long.await.unwrap(), Reply::Transport(_)),
        "in-flight calls drop too"
    );
    wait_for(&farm, "xs1 back", |st| st.host("xs1").unwrap().online).await;
    assert_eq!(
        m.fails("host.get_all", vec![]).await,
        ["SESSION_INVALID", m.session.as_str()]
    );
    Session::on(&farm, "xs1").await;
}

#[tokio::test]
async fn a_frozen_join_leaves_the_host_half_joined_until_cleared() {
    let farm = crate::support::bare_farm(2).await;
    let id = farm
        .inject(fault(FaultKind::FreezeJoin, Some("xs2"), None, Some(1)))
        .unwrap();
    let xs2 = Session::on(&farm, "xs2").await;
    let before = farm.state().host("xs2").unwrap().restarts;
    xs2.ok(
        "pool.join",
        vec![s(&farm.host_address("xs1")), s("root"), s("mock")],
    )
    .await;
    wait_for(&farm, "xs2 restarted", |st| {
        st.host("xs2")
            .is_some_and(|h| h.online && h.half_joined && h.restarts > before)
    })
    .await;
    let x = Xapi::new(&farm.host_url("xs2"));
    let Reply::Failure(e) = x
        .call("session.login_with_password", vec![s("root"), s("mock")])
        .await
    else {
        panic!()
    };
    assert_eq!(e, ["HOST_STILL_BOOTING"]);
    let st = farm.state();
    assert!(!st.host("xs2").unwrap().enabled);
    assert_eq!(st.pool_of("xs2").unwrap().master, "xs1");
    assert_eq!(
        st.faults[0].holding.as_deref(),
        Some("xs2"),
        "the fault stays listed while it holds the host"
    );
    assert!(farm.clear_fault(&id));
    wait_for(&farm, "xs2 enabled", |st| st.host("xs2").unwrap().enabled).await;
    assert_eq!(
        Session::login(&farm.host_url("xs2")).await.err().unwrap(),
        ["HOST_IS_SLAVE", "127.0.0.2"]
    );
}

#[tokio::test]
async fn invalid_faults_are_refused_with_the_reason() {
    let farm = farm(1).await;
    assert!(farm
        .inject(fault(FaultKind::Fail, None, None, None))
        .unwrap_err()
        .contains("error"));
    assert!(farm
        .inject(fault(FaultKind::Drop, Some("xs9"), None, None))
        .unwrap_err()
        .contains("xs9"));
    assert!(farm
        .inject(fault(FaultKind::Drop, None, None, Some(0)))
        .unwrap_err()
        .contains("count"));
}

#[tokio::test]
async fn a_crash_mid_migration_drops_the_call_but_leaves_no_half_state() {
    let scenario = xenpool_mocks::Scenario::from_toml(
        "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\nvms = []\n",
    )
    .unwrap();
    let farm = crate::support::farm_with(xenpool_mocks::FarmOptions {
        scenario: Some(scenario),
        time_scale: 1.0,
        timings: xenpool_mocks::Timings {
            migrate_per_gib: std::time::Duration::from_millis(600),
            xapi_restart: std::time::Duration::from_millis(50),
            member_sync: std::time::Duration::from_millis(50),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let m = Session::on(&farm, "xs1").await;
    let (vm, xs2) = (m.vm_ref("xs1-vm1").await, m.host_ref("xs2").await);
    let mover = Session::on(&farm, "xs1").await;
    let migrating = tokio::spawn(async move {
        mover
            .call(
                "VM.pool_migrate",
                vec![s(&vm), s(&xs2), crate::support::no_options()],
            )
            .await
    });
    wait_for(&farm, "the transfer under way", |st| {
        st.host("xs2").unwrap().memory_free_mib == 16384 - 1024 - 1024
    })
    .await;
    farm.inject(fault(FaultKind::Crash, Some("xs1"), None, Some(1)))
        .unwrap();
    assert!(matches!(
        m.call("host.get_all", vec![]).await,
        Reply::Transport(_)
    ));
    assert!(
        matches!(migrating.await.unwrap(), Reply::Transport(_)),
        "the in-flight migrate call loses its connection"
    );
    wait_for(&farm, "the migration finished", |st| {
        st.vm("xs1-vm1").unwrap().resident_on.as_deref() == Some("xs2")
            && st.hosts.iter().all(|h| h.online)
    })
    .await;
    let again = Session::on(&farm, "xs1").await;
    let vm = again.vm_ref("xs1-vm1").await;
    let ops = again.field("VM", &vm, "current_operations").await;
    assert!(
        ops.as_struct().unwrap().is_empty(),
        "no operation left behind: {ops:?}"
    );
    assert!(farm.invariants().ok, "{:?}", farm.invariants());
}
