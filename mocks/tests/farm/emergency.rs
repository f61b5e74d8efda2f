//! Master death: emergency mode on members, slave-local login, emergency transition, recovery.

use xenpool_mocks::{Fault, FaultKind};

use crate::support::{farm_scenario, restarts, s, wait_for, wait_restarted, Reply, Session, Xapi};

#[tokio::test]
async fn members_of_a_dead_master_recover_through_the_emergency_calls() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\n\
         [[hosts]]\nname = \"xs3\"\nmember_of = \"xs1\"\n",
    )
    .await;
    let mut dead = Fault::new(FaultKind::Offline);
    dead.host = Some("xs1".into());
    let id = farm.inject(dead).unwrap();
    wait_for(&farm, "xs1's listener closed", |st| {
        !st.host("xs1").unwrap().listening
    })
    .await;
    assert!(tokio::net::TcpStream::connect(
        farm.host_url("xs1")
            .trim_start_matches("http://")
            .trim_end_matches('/')
    )
    .await
    .is_err());
    assert_eq!(
        Session::login(&farm.host_url("xs2")).await.err().unwrap(),
        ["HOST_STILL_BOOTING"],
        "login fails too"
    );
    let xs2 = Xapi::new(&farm.host_url("xs2"));
    let Reply::Ok(local) = xs2
        .call(
            "session.slave_local_login_with_password",
            vec![s("root"), s("mock")],
        )
        .await
    else {
        panic!()
    };
    let Reply::Ok(mode) = xs2
        .call("host.is_in_emergency_mode", vec![local.clone()])
        .await
    else {
        panic!()
    };
    assert_eq!(mode.as_bool(), Some(true));
    let Reply::Failure(e) = xs2.call("pool.get_all", vec![local.clone()]).await else {
        panic!()
    };
    assert_eq!(
        e,
        ["HOST_STILL_BOOTING"],
        "non-emergency calls answer the stashed error"
    );
    let before = restarts(&farm);
    let Reply::Ok(_) = xs2
        .call("pool.emergency_transition_to_master", vec![local])
        .await
    else {
        panic!()
    };
    wait_for(&farm, "xs2 master", |st| {
        st.host("xs2")
            .is_some_and(|h| h.is_master && h.online && h.restarts > before["xs2"])
    })
    .await;
    let m = Session::on(&farm, "xs2").await;
    let recovered = m.ok("pool.recover_slaves", vec![]).await;
    let xs3 = m.host_ref("xs3").await;
    assert_eq!(
        recovered.as_array().unwrap(),
        [s(&xs3)],
        "the dead xs1 is skipped silently"
    );
    wait_for(&farm, "xs3 follows xs2", |st| {
        st.host("xs3").is_some_and(|h| {
            h.master_address.as_deref() == Some("127.0.0.3")
                && h.restarts > before["xs3"]
                && h.online
                && h.enabled
        })
    })
    .await;
    assert!(farm.clear_fault(&id));
    wait_for(&farm, "xs1 back", |st| st.host("xs1").unwrap().online).await;
    let inv = farm.invariants();
    assert!(
        !inv.ok
            && inv
                .violations
                .iter()
                .any(|v| v.contains("acting as master")),
        "{inv:?}"
    );
    let old = Session::on(&farm, "xs1").await;
    let before = restarts(&farm);
    old.ok("pool.emergency_reset_master", vec![s("127.0.0.3")])
        .await;
    wait_restarted(&farm, &before, &["xs1"]).await;
    assert_eq!(
        farm.state().host("xs1").unwrap().master_address.as_deref(),
        Some("127.0.0.3")
    );
    assert!(farm.invariants().ok, "{:?}", farm.invariants());
}
