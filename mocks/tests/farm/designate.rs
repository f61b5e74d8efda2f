//! `pool.designate_new_master`: the role moves, sessions die, old master redirects; refusals.

use std::time::Duration;

use xenpool_mocks::{FarmOptions, Fault, FaultKind, Phase, Scenario, Timings};

use crate::support::{
    farm_scenario, farm_with, restarts, s, wait_for, wait_restarted, Reply, Session,
};

const POOL: &str = "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\n\
    [[hosts]]\nname = \"xs3\"\nmember_of = \"xs1\"\n";

#[tokio::test]
async fn the_role_moves_sessions_die_and_the_old_master_redirects() {
    let farm = farm_scenario(POOL).await;
    let m = Session::on(&farm, "xs1").await;
    let xs1 = m.host_ref("xs1").await;
    m.ok("pool.designate_new_master", vec![s(&xs1)]).await;
    m.ok("pool.get_all", vec![]).await;
    let xs2 = m.host_ref("xs2").await;
    let before = restarts(&farm);
    m.ok("pool.designate_new_master", vec![s(&xs2)]).await;
    match m.call("pool.get_all", vec![]).await {
        Reply::Failure(e) => assert_eq!(e, ["HOST_IS_SLAVE", "127.0.0.3"]),
        Reply::Transport(_) => {} // the old master's XAPI is restarting
        Reply::Ok(v) => panic!("the old master still answers as master: {v:?}"),
    }
    wait_restarted(&farm, &before, &["xs1", "xs2", "xs3"]).await;
    assert_eq!(
        Session::login(&farm.host_url("xs1")).await.err().unwrap(),
        ["HOST_IS_SLAVE", "127.0.0.3"]
    );
    let new = Session::on(&farm, "xs2").await;
    let pool = new.ok("pool.get_all", vec![]).await.as_array().unwrap()[0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        new.field("pool", &pool, "master").await.as_str(),
        Some(xs2.as_str())
    );
    let xvm = new.vm_ref("xs1-vm1").await;
    assert_eq!(
        new.field("VM", &xvm, "power_state").await.as_str(),
        Some("Running"),
        "VMs are not touched"
    );
    assert!(farm.invariants().ok, "{:?}", farm.invariants());
}

#[tokio::test]
async fn an_offline_target_or_member_refuses_the_handover() {
    let farm = farm_scenario(POOL).await;
    let m = Session::on(&farm, "xs1").await;
    let (xs2, xs3) = (m.host_ref("xs2").await, m.host_ref("xs3").await);
    let mut off = Fault::new(FaultKind::Offline);
    off.host = Some("xs3".into());
    let id = farm.inject(off).unwrap();
    assert_eq!(
        m.fails("pool.designate_new_master", vec![s(&xs3)]).await,
        ["HOST_OFFLINE", xs3.as_str()]
    );
    assert_eq!(
        m.fails("pool.designate_new_master", vec![s(&xs2)]).await,
        ["CANNOT_CONTACT_HOST", xs3.as_str()]
    );
    assert!(farm.clear_fault(&id));
    assert_eq!(farm.state().pool_of("xs1").unwrap().master, "xs1");
}

fn slow(fuse_ms: u64, designate_ms: u64) -> FarmOptions {
    FarmOptions {
        scenario: Some(Scenario::from_toml(POOL).unwrap()),
        time_scale: 1.0,
        timings: Timings {
            fuse: Duration::from_millis(fuse_ms),
            designate: Duration::from_millis(designate_ms),
            xapi_restart: Duration::from_millis(50),
            member_sync: Duration::from_millis(50),
            ..Timings::default()
        },
        ..FarmOptions::default()
    }
}

#[tokio::test]
async fn a_concurrent_handover_is_designate_new_master_in_progress() {
    let farm = farm_with(slow(100, 1500)).await;
    let m = Session::on(&farm, "xs1").await;
    let xs2 = m.host_ref("xs2").await;
    let task = m
        .ok_str("Async.pool.designate_new_master", vec![s(&xs2)])
        .await;
    crate::support::eventually("the pool operation", || async {
        let pool = m.ok("pool.get_all", vec![]).await.as_array().unwrap()[0].clone();
        let ops = m.ok("pool.get_current_operations", vec![pool]).await;
        (!ops.as_struct().unwrap().is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        m.fails("pool.designate_new_master", vec![s(&xs2)]).await,
        ["DESIGNATE_NEW_MASTER_IN_PROGRESS"]
    );
    let done = crate::support::eventually("the task", || async {
        match m.call("task.get_status", vec![s(&task)]).await {
            Reply::Ok(v) if v.as_str() != Some("pending") => Some(v),
            Reply::Ok(_) => None,
            Reply::Failure(_) | Reply::Transport(_) => Some("gone".into()),
        }
    })
    .await;
    assert!(
        matches!(done.as_str(), Some("success") | Some("gone")),
        "{done:?}"
    );
}

#[tokio::test]
async fn a_quick_second_handover_to_another_host_is_refused_by_ha_abort_new_master() {
    let farm = farm_with(slow(3000, 0)).await;
    let m = Session::on(&farm, "xs1").await;
    let (xs2, xs3) = (m.host_ref("xs2").await, m.host_ref("xs3").await);
    m.ok("pool.designate_new_master", vec![s(&xs2)]).await;
    let new = Session::on(&farm, "xs2").await;
    let e = new.fails("pool.designate_new_master", vec![s(&xs3)]).await;
    assert_eq!(e[0], "HA_ABORT_NEW_MASTER");
    assert!(
        e[1].starts_with("Already agreed to commit host address '127.0.0.3'"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_dropped_reply_after_the_commit_still_moved_the_role() {
    let farm = farm_scenario(POOL).await;
    let mut drop = Fault::new(FaultKind::Drop);
    drop.method = Some("pool.designate_new_master".into());
    drop.phase = Phase::After;
    drop.count = Some(1);
    farm.inject(drop).unwrap();
    let m = Session::on(&farm, "xs1").await;
    let xs3 = m.host_ref("xs3").await;
    assert!(matches!(
        m.call("pool.designate_new_master", vec![s(&xs3)]).await,
        Reply::Transport(_)
    ));
    wait_for(&farm, "xs3 master", |st| {
        st.pool_of("xs3").is_some_and(|p| p.master == "xs3")
    })
    .await;
    assert!(
        farm.state().faults.is_empty(),
        "a spent fault leaves the list"
    );
}
