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

/// Runs every command line of one client in one Python process (a client's start-up costs
/// seconds; its `main` can be called again), returning each command's exit status and output.
const DRIVER: &str = r#"
import contextlib, importlib, io, json, sys
main = importlib.import_module(sys.argv[1]).main
results = []
for argv in json.loads(sys.argv[2]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv) or 0
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    results.append({"rc": rc, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"#;

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

/// Runs `commands` through the client `module` (`openstackclient.shell` or
/// `novaclient.shell`), each with the `admin_token` plugin and the server's endpoint.
async fn client(
    srv: &TestServer,
    module: &str,
    commands: &[&[&str]],
    env: &[(&str, &str)],
) -> Vec<Out> {
    let endpoint = format!("{}/v2.1", srv.handle.url());
    let argvs: Vec<Vec<&str>> = commands
        .iter()
        .map(|c| {
            let mut v = vec![
                "--os-auth-type",
                "admin_token",
                "--os-endpoint",
                &endpoint,
                "--os-token",
                ADMIN,
            ];
            v.extend_from_slice(c);
            v
        })
        .collect();
    let list = serde_json::to_string(&argvs).unwrap();
    let out = run_py(DRIVER, &[module, &list], srv.handle.url(), env).await;
    assert!(
        out.ok,
        "{module} driver failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    let results: Vec<Value> = serde_json::from_str(out.stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("driver output ({e}): {}\n{}", out.stdout, out.stderr));
    results
        .iter()
        .map(|r| Out {
            ok: r["rc"] == 0,
            stdout: r["out"].as_str().unwrap_or_default().to_string(),
            stderr: r["err"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

fn json(out: &Out) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr))
}

fn ok<'a>(outs: &'a [Out], commands: &[&[&str]]) -> &'a [Out] {
    for (o, c) in outs.iter().zip(commands) {
        assert!(o.ok, "{c:?} failed:\n{}\n{}", o.stdout, o.stderr);
    }
    outs
}

both!(openstack_cli_aggregate_workflow, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["compute", "compute2"]).await;
    let commands: [&[&str]; 10] = [
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
        &["aggregate", "add", "host", "pool1", "compute", "-f", "json"],
        &["aggregate", "set", "pool1", "--property", "foo=bar"],
        &["aggregate", "show", "pool1", "-f", "json"],
        &["aggregate", "unset", "pool1", "--property", "foo"],
        &["aggregate", "list", "--long", "-f", "json"],
        &["availability", "zone", "list", "--compute", "-f", "json"],
        &["compute", "service", "list", "-f", "json"],
        &["aggregate", "remove", "host", "pool1", "compute"],
        &["aggregate", "delete", "pool1"],
    ];
    let outs = client(&srv, "openstackclient.shell", &commands, &[]).await;
    let o = ok(&outs, &commands);
    let created = json(&o[0]);
    assert_eq!(
        (
            created["name"].as_str(),
            created["availability_zone"].as_str()
        ),
        (Some("pool1"), Some("az1"))
    );
    assert!(json(&o[1])["hosts"].to_string().contains("compute"));
    let props = json(&o[3])["properties"].to_string();
    assert!(
        props.contains("foo") && props.contains("hypervisor_pool"),
        "{props}"
    );
    let list = json(&o[5]);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == "pool1")
        .cloned()
        .unwrap();
    assert!(!row.to_string().contains("foo"), "unset took effect: {row}");
    let zones = json(&o[6]);
    let names: Vec<&str> = zones
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|z| z["Zone Name"].as_str())
        .collect();
    assert_eq!(names, ["az1", "nova"]);
    let services = json(&o[7]);
    let hosts: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Binary"] == "nova-compute")
        .filter_map(|s| s["Host"].as_str())
        .collect();
    assert_eq!(hosts, ["compute", "compute2"]);
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
    let steps: [(&[&str], &str); 8] = [
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
        (&["aggregate-delete", "nosuch"], ""),
    ];
    let commands: Vec<&[&str]> = steps.iter().map(|(c, _)| *c).collect();
    // novaclient checks these for presence only; keep them on loopback anyway.
    let env = [
        ("OS_AUTH_URL", "http://127.0.0.1:9/unused"),
        ("OS_PROJECT_ID", "admin"),
    ];
    let outs = client(&srv, "novaclient.shell", &commands, &env).await;
    ok(&outs[..7], &commands[..7]);
    for ((args, want), out) in steps.iter().zip(&outs).take(7) {
        assert!(
            out.stdout.contains(want),
            "nova {args:?}: want {want:?}\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    let refused = &outs[7];
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
