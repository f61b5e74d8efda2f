//! `pool.join` / `join_force`: XAPI's prechecks in order with exact codes and params, the
//! joiner's own login to the master, and the asynchronous post-state.

use std::time::Duration;

use xenpool_mocks::{FarmOptions, Fault, FaultKind, Timings};

use crate::support::{farm_scenario, farm_with, join, s, wait_for, Session};

/// `xs1` (master) plus one joiner `xs2` with `joiner` extra keys and no VMs.
async fn pair(joiner: &str) -> xenpool_mocks::Farm {
    farm_scenario(&format!(
        "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"xs2\"\nvms = []\n{joiner}\n"
    ))
    .await
}

async fn join_error(farm: &xenpool_mocks::Farm, method: &str) -> Vec<String> {
    let sess = Session::on(farm, "xs2").await;
    sess.fails(
        method,
        vec![s(&farm.host_address("xs1")), s("root"), s("mock")],
    )
    .await
}

#[tokio::test]
async fn running_vms_on_the_joiner_refuse_the_join_but_halted_and_suspended_do_not() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"xs2\"\nsoftware_version = \"8.3.0\"\n\
         [[hosts.vms]]\nname = \"run\"\n[[hosts.vms]]\nname = \"sus\"\npower_state = \"Suspended\"\n\
         [[hosts.vms]]\nname = \"off\"\npower_state = \"Halted\"\n",
    )
    .await;
    assert_eq!(
        join_error(&farm, "pool.join").await,
        ["JOINING_HOST_CANNOT_HAVE_RUNNING_VMS"],
        "check 9 runs before 13"
    );
    let sess = Session::on(&farm, "xs2").await;
    let vm = sess.vm_ref("run").await;
    sess.ok("VM.clean_shutdown", vec![s(&vm)]).await;
    assert_eq!(
        join_error(&farm, "pool.join").await,
        ["HOSTS_NOT_HOMOGENEOUS", "Software version differs"]
    );
    sess.ok(
        "pool.join_force",
        vec![s(&farm.host_address("xs1")), s("root"), s("mock")],
    )
    .await;
    wait_for(&farm, "xs2 enabled", |st| {
        st.host("xs2").is_some_and(|h| h.enabled && !h.is_master)
    })
    .await;
    let master = Session::on(&farm, "xs1").await;
    for name in ["run", "sus", "off"] {
        master.vm_ref(name).await;
    }
    assert!(farm.invariants().ok, "{:?}", farm.invariants());
}

#[tokio::test]
async fn homogeneity_checks_and_what_join_force_skips() {
    let farm = pair("cpu_vendor = \"AuthenticAMD\"").await;
    assert_eq!(
        join_error(&farm, "pool.join").await,
        ["HOSTS_NOT_HOMOGENEOUS", "CPUs differ"]
    );
    let farm = pair("shared_sr = true\nsoftware_version = \"9.0\"").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await,
        ["JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS"]
    );
    let farm = pair("product_brand = \"XenServer\"").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await,
        ["HOSTS_NOT_COMPATIBLE"]
    );
    let farm = pair("api_version = \"2.20\"").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await,
        [
            "POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION",
            "2.20",
            "2.21"
        ]
    );
    let farm = pair("edition = \"standard\"").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await,
        [
            "LICENSE_HOST_POOL_MISMATCH",
            "host edition = \"standard\"",
            "pool edition = \"xcp-ng\""
        ]
    );
    let farm = pair("management_vlan = 0").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await,
        [
            "POOL_JOINING_HOST_MANAGEMENT_VLAN_DOES_NOT_MATCH",
            "0",
            "-1"
        ]
    );
    let farm = pair("bonds = true").await;
    assert_eq!(
        join_error(&farm, "pool.join").await,
        ["POOL_JOINING_HOST_HAS_BONDS"]
    );
    let farm = pair("tls_verification = false").await;
    assert_eq!(
        join_error(&farm, "pool.join").await,
        ["POOL_JOINING_HOST_TLS_VERIFICATION_MISMATCH"]
    );
    let farm = pair("updates = [\"XS82E001\"]").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await[0],
        "HOSTS_NOT_HOMOGENEOUS",
        "updates are not skipped by force"
    );
}

#[tokio::test]
async fn clustering_guidance_auth_backend_schema_and_upgrade_checks() {
    let farm = pair("clustering = true\nha_enabled = false").await;
    let e = join_error(&farm, "pool.join").await;
    assert_eq!(e[0], "CLUSTERING_ENABLED");
    assert!(e[1].starts_with("OpaqueRef:"), "{e:?}");
    let farm = pair("pending_guidance = true").await;
    let e = join_error(&farm, "pool.join_force").await;
    assert_eq!(e[0], "HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY");
    let farm = pair("external_auth = \"AD\"").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await,
        ["POOL_JOINING_EXTERNAL_AUTH_MISMATCH"]
    );
    let farm = pair("network_backend = \"bridge\"").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await,
        ["OPERATION_NOT_ALLOWED", "Network backends differ"]
    );
    let farm = pair("db_schema = \"5.700\"").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await,
        [
            "POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA",
            "5.700",
            "5.786"
        ]
    );
    let farm = pair("upgrading = true\ndb_schema = \"5.700\"").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await[0],
        "POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA",
        "check 24 comes before 31"
    );
    let farm = pair("upgrading = true").await;
    assert_eq!(
        join_error(&farm, "pool.join_force").await,
        ["NOT_SUPPORTED_DURING_UPGRADE"]
    );
}

#[tokio::test]
async fn licence_ha_and_booting_checks_come_first() {
    let farm = pair("pooling_licensed = false\nbooting = true").await;
    assert_eq!(
        join_error(&farm, "pool.join").await,
        ["LICENCE_RESTRICTION"]
    );
    let farm = pair("booting = true\nha_enabled = true").await;
    assert_eq!(join_error(&farm, "pool.join").await, ["HOST_STILL_BOOTING"]);
    let farm = pair("ha_enabled = true").await;
    assert_eq!(join_error(&farm, "pool.join").await, ["HA_IS_ENABLED"]);
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"a\"\nmember_of = \"xs1\"\n[[hosts]]\nname = \"b\"\nmember_of = \"xs1\"\n\
         [[hosts]]\nname = \"xs2\"\nvms = []\npool_size_restricted = true\n",
    )
    .await;
    assert_eq!(
        join_error(&farm, "pool.join").await,
        ["LICENCE_RESTRICTION", "Pool_size"]
    );
}

#[tokio::test]
async fn joining_itself_a_member_a_master_of_others_or_with_bad_credentials() {
    let farm = crate::support::bare_farm(4).await;
    let xs2 = Session::on(&farm, "xs2").await;
    let own = farm.host_address("xs2");
    assert_eq!(
        xs2.fails("pool.join", vec![s(&own), s("root"), s("mock")])
            .await,
        [
            "OPERATION_NOT_ALLOWED",
            "Host cannot become slave of itself"
        ]
    );
    assert_eq!(
        xs2.fails(
            "pool.join",
            vec![s(&farm.host_address("xs1")), s("root"), s("nope")]
        )
        .await,
        [
            "SESSION_AUTHENTICATION_FAILED",
            "root",
            "Authentication failure"
        ]
    );
    join(&farm, "xs3", "xs1").await;
    assert_eq!(
        xs2.fails(
            "pool.join",
            vec![s(&farm.host_address("xs3")), s("root"), s("mock")]
        )
        .await,
        ["HOST_IS_SLAVE", farm.host_address("xs1").as_str()],
        "joining through a member follows its redirect"
    );
    let xs1 = Session::on(&farm, "xs1").await;
    assert_eq!(
        xs1.fails(
            "pool.join",
            vec![s(&farm.host_address("xs4")), s("root"), s("mock")]
        )
        .await,
        ["JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS"]
    );
    assert_eq!(
        Session::login(&farm.host_url("xs3")).await.err().unwrap(),
        ["HOST_IS_SLAVE", farm.host_address("xs1").as_str()],
        "an already joined host redirects before any precheck"
    );
    let nowhere = xs2
        .fails("pool.join", vec![s("127.0.250.250"), s("root"), s("mock")])
        .await;
    assert_eq!(
        nowhere[0], "INTERNAL_ERROR",
        "nothing listens there: {nowhere:?}"
    );
    assert!(farm.invariants().ok, "{:?}", farm.invariants());
}

#[tokio::test]
async fn a_connection_reset_by_the_master_is_joining_host_connection_failed() {
    let farm = crate::support::bare_farm(2).await;
    let mut drop = Fault::new(FaultKind::Drop);
    drop.host = Some("xs1".into());
    drop.method = Some("session.login_with_password".into());
    drop.count = Some(1);
    farm.inject(drop).unwrap();
    let xs2 = Session::on(&farm, "xs2").await;
    assert_eq!(
        xs2.fails(
            "pool.join",
            vec![s(&farm.host_address("xs1")), s("root"), s("mock")]
        )
        .await,
        ["JOINING_HOST_CONNECTION_FAILED"]
    );
    assert!(
        farm.state().calls["xs1"]["session.login_with_password"] >= 1,
        "the joiner logged in to the master"
    );
}

#[tokio::test]
async fn join_returns_then_the_joiner_restarts_and_turns_enabled_once_synced() {
    let timings = Timings {
        fuse: Duration::from_millis(500),
        xapi_restart: Duration::from_millis(300),
        member_sync: Duration::from_millis(300),
        ..Timings::default()
    };
    let farm = farm_with(FarmOptions {
        hosts: 2,
        vms_per_host: 0,
        time_scale: 1.0,
        timings,
        ..Default::default()
    })
    .await;
    let xs2 = Session::on(&farm, "xs2").await;
    xs2.ok(
        "pool.join",
        vec![s(&farm.host_address("xs1")), s("root"), s("mock")],
    )
    .await;
    let st = farm.state();
    let h = st.host("xs2").unwrap();
    assert!(
        !h.enabled && !h.is_master,
        "listed on the master at once, enabled=false: {h:?}"
    );
    assert_eq!(st.pool_of("xs2").unwrap().master, "xs1");
    let master = Session::on(&farm, "xs1").await;
    let member = master.host_ref("xs2").await;
    assert_eq!(
        master.field("host", &member, "enabled").await.as_bool(),
        Some(false)
    );
    wait_for(&farm, "xs2's XAPI restarting", |st| {
        !st.host("xs2").unwrap().online
    })
    .await;
    wait_for(&farm, "xs2 enabled", |st| st.host("xs2").unwrap().enabled).await;
    assert_eq!(
        xs2.fails("pool.get_all", vec![]).await,
        ["HOST_IS_SLAVE", "127.0.0.2"]
    );
    assert_eq!(
        master.field("host", &member, "enabled").await.as_bool(),
        Some(true)
    );
    assert!(farm.invariants().ok, "{:?}", farm.invariants());
}
