//! The real OpenStack clients from the test venv (python-novaclient 18.13.1,
//! python-openstackclient 10.5.0, openstacksdk 4.22.0) against an in-process server's Nova
//! surface, without Keystone (keystoneauth's `admin_token` plugin with a fixed endpoint, as
//! `reference/nova-aggregates-api.md` §8.4 says), on SQLite and on PostgreSQL. Each output is
//! compared with what the same client prints against Nova 34 (§8.1, §8.3).

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::cli_env::{output, python, strs, table_rows, CliEnv, Db, Out, ADMIN};

/// Runs a client's console entry point with the venv's interpreter; `extra` adds variables.
fn client(env: &CliEnv, module: &str, extra: &[(&str, &str)], args: &[&str]) -> Out {
    let mut c = Command::new(python());
    c.arg("-c")
        .arg(format!(
            "import sys; from {module} import main; sys.argv[0] = {module:?}; sys.exit(main())"
        ))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("OS_AUTH_TYPE", "admin_token")
        .env("OS_ENDPOINT", format!("{}/v2.1", env.url))
        .env("OS_TOKEN", ADMIN)
        .envs(extra.iter().copied());
    output(&mut c)
}

fn openstack(env: &CliEnv, args: &[&str]) -> Out {
    client(env, "openstackclient.shell", &[], args)
}

fn nova(env: &CliEnv, args: &[&str]) -> Out {
    // novaclient checks these two for presence only (§8.4); openstackclient must not get them.
    let presence = [
        ("OS_AUTH_URL", "http://127.0.0.1:9/unused"),
        ("OS_PROJECT_ID", "admin"),
    ];
    client(env, "novaclient.shell", &presence, args)
}

fn openstack_workflow(db: Db) {
    let env = CliEnv::start(db);
    env.register_hosts(&["h1", "h2"]);

    let created = openstack(
        &env,
        &[
            "aggregate",
            "create",
            "osc-agg",
            "--zone",
            "az1",
            "--property",
            "ssd=true",
            "-f",
            "json",
        ],
    )
    .json();
    let mut keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "availability_zone",
            "created_at",
            "deleted_at",
            "hosts",
            "id",
            "is_deleted",
            "name",
            "properties",
            "updated_at",
            "uuid"
        ]
    );
    assert_eq!(
        strs(&created, &["name", "availability_zone"]),
        [Some("osc-agg"), Some("az1")]
    );
    assert_eq!(created["is_deleted"], false);
    // As against Nova: with --property, OSC prints the set_metadata answer, which the SDK asks
    // for without a microversion, so it has the 2.1 shape: no uuid, and properties still
    // holding availability_zone (only `show` strips it).
    assert_eq!(created["uuid"], Value::Null);
    assert_eq!(
        created["properties"],
        json!({"availability_zone": "az1", "ssd": "true"})
    );

    let shown = openstack(&env, &["aggregate", "show", "osc-agg", "-f", "json"]).json();
    assert_eq!(
        shown["properties"],
        json!({"ssd": "true"}),
        "show hides availability_zone from properties"
    );
    assert_eq!(shown["hosts"], json!([]));
    assert_eq!(shown["id"], created["id"]);
    let uuid = shown["uuid"].clone();
    assert_eq!(
        uuid.as_str().map(str::len),
        Some(36),
        "show negotiates a microversion ≥ 2.41"
    );

    let list = openstack(&env, &["aggregate", "list", "-f", "json"]).json();
    assert_eq!(
        list,
        json!([{"ID": created["id"], "UUID": uuid, "Name": "osc-agg", "Availability Zone": "az1"}])
    );
    let long = openstack(&env, &["aggregate", "list", "--long", "-f", "json"]).json();
    assert_eq!(long[0]["Properties"], json!({"ssd": "true"}));
    assert_eq!(long[0]["Hosts"], json!([]));

    assert_eq!(
        openstack(
            &env,
            &[
                "aggregate",
                "set",
                "osc-agg",
                "--name",
                "osc-agg2",
                "--zone",
                "az2",
                "--property",
                "gpu=no"
            ]
        )
        .ok(),
        ""
    );
    assert_eq!(
        openstack(
            &env,
            &["aggregate", "unset", "osc-agg2", "--property", "ssd"]
        )
        .ok(),
        ""
    );
    let after = openstack(&env, &["aggregate", "show", "osc-agg2", "-f", "json"]).json();
    assert_eq!(
        (
            after["availability_zone"].as_str(),
            after["properties"].clone()
        ),
        (Some("az2"), json!({"gpu": "no"}))
    );

    let added = openstack(
        &env,
        &["aggregate", "add", "host", "osc-agg2", "h1", "-f", "json"],
    )
    .json();
    assert_eq!(added["hosts"], json!(["h1"]));
    // `--compute`: without a catalog every service resolves to this one endpoint, and OSC's
    // volume and network zone lookups fail there (as they would against Nova so configured).
    let zones = openstack(
        &env,
        &["availability", "zone", "list", "--compute", "-f", "json"],
    )
    .json();
    assert_eq!(
        zones,
        json!([{"Zone Name": "az2", "Zone Status": "available"}, {"Zone Name": "nova", "Zone Status": "available"}])
    );
    let services = openstack(&env, &["compute", "service", "list", "-f", "json"]).json();
    let rows: Vec<(String, String, String, String, String)> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (f("Binary"), f("Host"), f("Zone"), f("Status"), f("State"))
        })
        .collect();
    let expected = |h: &str, z: &str| {
        (
            "nova-compute".to_string(),
            h.to_string(),
            z.to_string(),
            "enabled".to_string(),
            "down".to_string(),
        )
    };
    assert_eq!(
        rows,
        [expected("h1", "az2"), expected("h2", "nova")],
        "no agent heartbeats: down, never faked"
    );

    let removed = openstack(
        &env,
        &[
            "aggregate",
            "remove",
            "host",
            "osc-agg2",
            "h1",
            "-f",
            "json",
        ],
    )
    .json();
    assert_eq!(removed["hosts"], json!([]));
    assert_eq!(
        openstack(&env, &["aggregate", "delete", "osc-agg2"]).ok(),
        ""
    );
    assert_eq!(
        openstack(&env, &["aggregate", "list", "-f", "json"]).json(),
        json!([])
    );
    let missing = openstack(&env, &["aggregate", "delete", "osc-agg2"]);
    assert!(
        missing
            .fails(1)
            .contains("1 of 1 aggregates failed to delete."),
        "{}",
        missing.stderr
    );
}

fn nova_workflow(db: Db) {
    let env = CliEnv::start(db);
    env.register_hosts(&["h1"]);

    let created = nova(&env, &["aggregate-create", "nova-agg", "az9"]);
    let rows = table_rows(created.ok());
    assert_eq!(
        rows[0],
        [
            "Id",
            "Name",
            "Availability Zone",
            "Hosts",
            "Metadata",
            "UUID"
        ]
    );
    let id = rows[1][0].clone();
    assert_eq!(
        rows[1][1..5],
        ["nova-agg", "az9", "", "'availability_zone=az9'"]
    );
    let uuid = rows[1][5].clone();
    assert_eq!(uuid.len(), 36, "uuid column at the negotiated microversion");

    let list = table_rows(nova(&env, &["aggregate-list"]).ok());
    assert_eq!(
        list,
        [
            vec!["Id", "Name", "Availability Zone", "UUID"],
            vec![id.as_str(), "nova-agg", "az9", uuid.as_str()]
        ]
    );

    let meta = nova(
        &env,
        &["aggregate-set-metadata", "nova-agg", "foo=bar", "gone=1"],
    );
    assert!(
        meta.ok().starts_with(&format!(
            "Metadata has been successfully updated for aggregate {id}."
        )),
        "{}",
        meta.stdout
    );
    nova(&env, &["aggregate-set-metadata", "nova-agg", "gone"]).ok();
    let added = nova(&env, &["aggregate-add-host", "nova-agg", "h1"]);
    assert!(
        added.ok().starts_with(&format!(
            "Host h1 has been successfully added for aggregate {id} "
        )),
        "{}",
        added.stdout
    );
    let shown = table_rows(nova(&env, &["aggregate-show", "nova-agg"]).ok());
    assert_eq!(
        shown[1][1..5],
        [
            "nova-agg",
            "az9",
            "'h1'",
            "'availability_zone=az9', 'foo=bar'"
        ]
    );

    let updated = nova(
        &env,
        &[
            "aggregate-update",
            "nova-agg",
            "--name",
            "nova-agg2",
            "--availability-zone",
            "az8",
        ],
    );
    assert!(
        updated
            .ok()
            .starts_with(&format!("Aggregate {id} has been successfully updated.")),
        "{}",
        updated.stdout
    );
    let by_id = table_rows(nova(&env, &["aggregate-show", &id]).ok());
    assert_eq!(by_id[1][1..3], ["nova-agg2", "az8"]);

    let dup = nova(&env, &["aggregate-create", "nova-agg2"]);
    let stderr = dup.fails(1);
    assert!(
        stderr.contains(
            "ERROR (Conflict): Aggregate nova-agg2 already exists. (HTTP 409) (Request-ID: req-"
        ),
        "{stderr}"
    );
    let not_empty = nova(&env, &["aggregate-delete", "nova-agg2"]);
    assert!(
        not_empty.fails(1).contains(&format!("ERROR (BadRequest): Cannot remove host from aggregate {id}. Reason: Host aggregate is not empty. (HTTP 400)")),
        "{}",
        not_empty.stderr
    );

    let removed = nova(&env, &["aggregate-remove-host", "nova-agg2", "h1"]);
    assert!(
        removed.ok().starts_with(&format!(
            "Host h1 has been successfully removed from aggregate {id} "
        )),
        "{}",
        removed.stdout
    );
    assert_eq!(
        nova(&env, &["aggregate-delete", "nova-agg2"]).ok().trim(),
        format!("Aggregate {id} has been successfully deleted.")
    );
    assert_eq!(
        table_rows(nova(&env, &["aggregate-list"]).ok()).len(),
        1,
        "only the header remains"
    );
}

fn sdk_workflow(db: Db) {
    let env = CliEnv::start(db);
    env.register_hosts(&["h1"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/sdk_aggregates.py");
    let out = output(
        Command::new(python())
            .arg(script)
            .arg(format!("{}/v2.1", env.url))
            .arg(ADMIN)
            .arg("h1")
            .env("HOME", env.home()),
    );
    let steps: Vec<Value> = out
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no {name} step"))
            .clone()
    };
    let created = step("create");
    assert_eq!(
        strs(&created, &["name", "availability_zone"]),
        [Some("sdk-agg"), Some("sdk-az")]
    );
    assert_eq!(created["uuid"].as_str().map(str::len), Some(36));
    assert_eq!(step("list")["names"], json!(["sdk-agg"]));
    assert_eq!(
        step("get")["metadata"],
        json!({"availability_zone": "sdk-az"})
    );
    assert_eq!(step("find")["id"], created["id"]);
    assert_eq!(step("update")["name"], "sdk-agg2");
    assert_eq!(
        step("set_metadata")["metadata"],
        json!({"availability_zone": "sdk-az", "ssd": "true"})
    );
    assert_eq!(step("add_host")["hosts"], json!(["h1"]));
    assert_eq!(step("remove_host")["hosts"], json!([]));
    assert_eq!(step("delete")["remaining"], json!([]));
}

#[test]
fn openstack_cli_on_sqlite() {
    openstack_workflow(Db::Sqlite);
}

#[test]
fn openstack_cli_on_postgres() {
    openstack_workflow(Db::Postgres);
}

#[test]
fn novaclient_on_sqlite() {
    nova_workflow(Db::Sqlite);
}

#[test]
fn novaclient_on_postgres() {
    nova_workflow(Db::Postgres);
}

#[test]
fn openstacksdk_on_sqlite() {
    sdk_workflow(Db::Sqlite);
}

#[test]
fn openstacksdk_on_postgres() {
    sdk_workflow(Db::Postgres);
}
