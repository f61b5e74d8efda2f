//! Logins, HOST_IS_SLAVE on members, invalid sessions, and the per-originator limit.

use crate::support::{farm, join, s, Reply, Session, Xapi};

#[tokio::test]
async fn bad_credentials_and_bad_sessions() {
    let farm = farm(1).await;
    let url = farm.host_url("xs1");
    let e = Session::login_as(&url, "root", "wrong")
        .await
        .err()
        .unwrap();
    assert_eq!(
        e,
        [
            "SESSION_AUTHENTICATION_FAILED",
            "root",
            "Authentication failure"
        ]
    );
    let x = Xapi::new(&url);
    let Reply::Failure(e) = x.call("pool.get_all", vec![s("OpaqueRef:bogus")]).await else {
        panic!()
    };
    assert_eq!(e, ["SESSION_INVALID", "OpaqueRef:bogus"]);
    let sess = Session::on(&farm, "xs1").await;
    sess.ok("session.logout", vec![]).await;
    assert_eq!(
        sess.fails("pool.get_all", vec![]).await,
        ["SESSION_INVALID", sess.session.as_str()]
    );
}

#[tokio::test]
async fn members_answer_host_is_slave_with_the_masters_bare_address() {
    let farm = crate::support::farm_with(xenpool_mocks::FarmOptions {
        hosts: 2,
        vms_per_host: 0,
        time_scale: 0.0,
        ..Default::default()
    })
    .await;
    join(&farm, "xs2", "xs1").await;
    let e = Session::login(&farm.host_url("xs2")).await.err().unwrap();
    assert_eq!(e, ["HOST_IS_SLAVE", "127.0.0.2"]);
    let master = Session::on(&farm, "xs1").await;
    let member = Xapi::new(&farm.host_url("xs2"));
    let Reply::Failure(e) = member.call("host.get_all", vec![s(&master.session)]).await else {
        panic!()
    };
    assert_eq!(
        e,
        ["HOST_IS_SLAVE", "127.0.0.2"],
        "a normal session on a member is redirected"
    );
    let hosts = master.ok("host.get_all", vec![]).await;
    assert_eq!(
        hosts.as_array().unwrap().len(),
        2,
        "the master sees every member"
    );
    let local = member
        .call(
            "session.slave_local_login_with_password",
            vec![s("root"), s("mock")],
        )
        .await;
    let Reply::Ok(local) = local else {
        panic!("{local:?}")
    };
    let Reply::Ok(v) = member.call("host.is_in_emergency_mode", vec![local]).await else {
        panic!()
    };
    assert_eq!(v.as_bool(), Some(false));
    assert!(farm.invariants().ok, "{:?}", farm.invariants());
}

#[tokio::test]
async fn at_most_500_sessions_per_originator() {
    let farm = farm(1).await;
    let first = Session::on(&farm, "xs1").await;
    for _ in 0..500 {
        Session::on(&farm, "xs1").await;
    }
    assert_eq!(
        first.fails("pool.get_all", vec![]).await[0],
        "SESSION_INVALID",
        "the oldest session was destroyed"
    );
}
