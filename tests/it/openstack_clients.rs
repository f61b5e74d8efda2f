//! The real OpenStack clients against `xenpool serve`: the openstack CLI, novaclient and
//! openstacksdk, each through keystoneauth's `admin_token` plugin with a fixed endpoint (no
//! Keystone), running an operator's aggregate workflow on each backend.
//!
//! The clients come from the test venv (`scripts/setup-venv`, `tests/requirements.txt`):
//! `XENPOOL_TEST_PYTHON`, else `<workspace>/.venv/bin/python`.

use std::path::PathBuf;

use serde_json::Value;
use tokio::process::Command;

use crate::both;
use crate::support::server::{TestServer, ADMIN};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("XENPOOL_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python for the client tests: run scripts/setup-venv (or set XENPOOL_TEST_PYTHON)"
    );
    venv
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn run_py(code: &str, args: &[&str], url: &str, env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(python());
    cmd.arg("-c")
        .arg(code)
        .args(args)
        .env("XENPOOL_URL_UNDER_TEST", url)
        .env("NO_PROXY", "127.0.0.1,localhost");
    for k in [
        "OS_CLOUD",
        "OS_AUTH_URL",
        "OS_PROJECT_ID",
        "OS_TOKEN",
        "OS_AUTH_TYPE",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("python runs");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn openstack(srv: &TestServer, args: &[&str]) -> Out {
    let endpoint = format!("{}/v2.1", srv.handle.url());
    let mut all = vec![
        "--os-auth-type",
        "admin_token",
        "--os-endpoint",
        &endpoint,
        "--os-token",
        ADMIN,
    ];
    all.extend_from_slice(args);
    let out = run_py(
        "import sys; from openstackclient.shell import main; sys.exit(main(sys.argv[1:]))",
        &all,
        srv.handle.url(),
        &[],
    )
    .await;
    assert!(
        out.ok,
        "openstack {args:?} failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    out
}

async fn nova(srv: &TestServer, args: &[&str]) -> Out {
    let endpoint = format!("{}/v2.1", srv.handle.url());
    let mut all = vec![
        "--os-auth-type",
        "admin_token",
        "--os-endpoint",
        &endpoint,
        "--os-token",
        ADMIN,
    ];
    all.extend_from_slice(args);
    run_py(
        "import sys; from novaclient.shell import main; sys.exit(main(sys.argv[1:]))",
        &all,
        srv.handle.url(),
        // novaclient checks these for presence only; keep them on loopback anyway.
        &[
            ("OS_AUTH_URL", "http://127.0.0.1:9/unused"),
            ("OS_PROJECT_ID", "admin"),
        ],
    )
    .await
}

fn json(out: &Out) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr))
}

both!(openstack_cli_aggregate_workflow, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["compute", "compute2"]).await;
    let created = json(
        &openstack(
            &srv,
            &[
                "aggregate",
                "create",
                "pool1",
                "--zone",
                "az1",
                "--property",
                "hypervisor_pool=true",
                "-f",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(created["name"], "pool1");
    assert_eq!(created["availability_zone"], "az1");
    let added = json(
        &openstack(
            &srv,
            &["aggregate", "add", "host", "pool1", "compute", "-f", "json"],
        )
        .await,
    );
    assert!(added["hosts"].to_string().contains("compute"), "{added}");
    openstack(
        &srv,
        &["aggregate", "set", "pool1", "--property", "foo=bar"],
    )
    .await;
    let shown = json(&openstack(&srv, &["aggregate", "show", "pool1", "-f", "json"]).await);
    let props = shown["properties"].to_string();
    assert!(
        props.contains("foo") && props.contains("hypervisor_pool"),
        "{shown}"
    );
    openstack(&srv, &["aggregate", "unset", "pool1", "--property", "foo"]).await;
    let list = json(&openstack(&srv, &["aggregate", "list", "--long", "-f", "json"]).await);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == "pool1")
        .cloned()
        .unwrap();
    assert!(!row.to_string().contains("foo"), "{row}");
    let zones = json(
        &openstack(
            &srv,
            &["availability", "zone", "list", "--compute", "-f", "json"],
        )
        .await,
    );
    let names: Vec<&str> = zones
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|z| z["Zone Name"].as_str())
        .collect();
    assert!(names.contains(&"az1") && names.contains(&"nova"), "{zones}");
    let services = json(&openstack(&srv, &["compute", "service", "list", "-f", "json"]).await);
    let hosts: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Binary"] == "nova-compute")
        .filter_map(|s| s["Host"].as_str())
        .collect();
    assert_eq!(hosts, ["compute", "compute2"]);
    openstack(&srv, &["aggregate", "remove", "host", "pool1", "compute"]).await;
    openstack(&srv, &["aggregate", "delete", "pool1"]).await;
    let after = srv
        .nova("GET", "/os-aggregates", ADMIN, None, None)
        .await
        .json();
    assert_eq!(after["aggregates"], serde_json::json!([]));
    srv.stop().await;
});

both!(novaclient_aggregate_workflow, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["compute"]).await;
    let steps: [(&[&str], &str); 7] = [
        (&["aggregate-create", "agg1", "az1"], "agg1"),
        (
            &["aggregate-add-host", "agg1", "compute"],
            "Host compute has been successfully added for aggregate",
        ),
        (
            &["aggregate-set-metadata", "agg1", "foo=bar"],
            "Metadata has been successfully updated for aggregate",
        ),
        (
            &["aggregate-show", "agg1"],
            "'availability_zone=az1', 'foo=bar'",
        ),
        (
            &["aggregate-update", "agg1", "--name", "agg2"],
            "has been successfully updated",
        ),
        (
            &["aggregate-remove-host", "agg2", "compute"],
            "Host compute has been successfully removed from aggregate",
        ),
        (
            &["aggregate-delete", "agg2"],
            "has been successfully deleted",
        ),
    ];
    for (args, want) in steps {
        let out = nova(&srv, args).await;
        assert!(
            out.ok && out.stdout.contains(want),
            "nova {args:?}: want {want:?}\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    let refused = nova(&srv, &["aggregate-delete", "nosuch"]).await;
    assert!(!refused.ok);
    assert!(
        refused
            .stderr
            .contains("No aggregate with a name or ID of 'nosuch' exists"),
        "{}",
        refused.stderr
    );
    srv.stop().await;
});

const SDK_SCRIPT: &str = r#"
import json, os, openstack
url = os.environ["XENPOOL_URL_UNDER_TEST"] + "/v2.1"
conn = openstack.connect(auth_type="admin_token", auth={"endpoint": url, "token": "admin-token"},
                         compute_endpoint_override=url)
agg = conn.compute.create_aggregate(name="sdk1", availability_zone="az9")
conn.compute.add_host_to_aggregate(agg, "compute")
conn.compute.set_aggregate_metadata(agg, {"k": "v"})
got = conn.compute.get_aggregate(agg.id)
listed = [a.name for a in conn.compute.aggregates()]
conn.compute.remove_host_from_aggregate(agg, "compute")
conn.compute.delete_aggregate(agg)
print(json.dumps({"hosts": got.hosts, "metadata": got.metadata, "az": got.availability_zone,
                  "listed": listed, "after": [a.name for a in conn.compute.aggregates()]}))
"#;

both!(openstacksdk_aggregate_calls, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["compute"]).await;
    let out = run_py(SDK_SCRIPT, &[], srv.handle.url(), &[]).await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let r = json(&out);
    assert_eq!(r["hosts"], serde_json::json!(["compute"]));
    assert_eq!(r["metadata"]["k"], "v");
    assert_eq!(r["az"], "az9");
    assert_eq!(r["listed"], serde_json::json!(["sdk1"]));
    assert_eq!(r["after"], serde_json::json!([]));
    srv.stop().await;
});
