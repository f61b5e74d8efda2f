//! The real `xenpool` binary's client verbs against an in-process server: every verb, every
//! output format, name/id/uuid resolution, exit codes 1/2/3, config precedence, and the seed's
//! admin workflow (nova/doc/source/devref/aggregates.rst) on SQLite and PostgreSQL.

use serde_json::{json, Value};

use crate::support::cli_env::{strs, CliEnv, Db, ADMIN, MEMBER, READER};
use crate::support::server::agent_token;

/// The seed document's workflow, verb by verb, checking each answer.
fn seed_workflow(db: Db) {
    let env = CliEnv::start(db);
    env.register_hosts(&["h1", "h2"]);
    assert_eq!(env.run(&["aggregate-list", "-f", "json"]).json(), json!([]));

    let created = env
        .run(&["aggregate-create", "pool1", "az1", "-f", "json"])
        .json();
    assert_eq!(created["name"], "pool1");
    assert_eq!(created["availability_zone"], "az1");
    assert_eq!(created["metadata"], json!({"availability_zone": "az1"}));
    let id = created["id"].as_u64().expect("numeric id").to_string();

    let details = env.run(&["aggregate-details", &id, "-f", "json"]).json();
    assert_eq!(
        details,
        env.run(&["aggregate-show", "pool1", "-f", "json"]).json()
    );

    let added = env
        .run(&["aggregate-add-host", &id, "h1", "-f", "json"])
        .json();
    assert_eq!(added["hosts"], json!(["h1"]));
    let added = env
        .run(&["aggregate-add-host", "pool1", "h2", "-f", "json"])
        .json();
    assert_eq!(added["hosts"], json!(["h1", "h2"]));

    let meta = env
        .run(&[
            "aggregate-set-metadata",
            "pool1",
            "hypervisor_pool=true",
            "ssd=yes",
            "-f",
            "json",
        ])
        .json();
    assert_eq!(
        meta["metadata"],
        json!({"availability_zone": "az1", "hypervisor_pool": "true", "ssd": "yes"})
    );
    let meta = env
        .run(&["aggregate-set-metadata", "pool1", "ssd", "-f", "json"])
        .json();
    assert_eq!(
        meta["metadata"],
        json!({"availability_zone": "az1", "hypervisor_pool": "true"})
    );

    let updated = env
        .run(&["aggregate-update", "pool1", "pool-one", "az2", "-f", "json"])
        .json();
    assert_eq!(
        strs(&updated, &["name", "availability_zone"]),
        [Some("pool-one"), Some("az2")]
    );

    let removed = env
        .run(&["aggregate-remove-host", "pool-one", "h2", "-f", "json"])
        .json();
    assert_eq!(removed["hosts"], json!(["h1"]));

    let hosts = env.run(&["host-list", "-f", "json"]).json();
    let zones: Vec<(&str, &str)> = hosts
        .as_array()
        .expect("array")
        .iter()
        .map(|h| {
            (
                h["host_name"].as_str().unwrap(),
                h["zone"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(zones, [("h1", "az2"), ("h2", "nova")]);
    for h in hosts.as_array().unwrap() {
        for field in ["host_name", "zone", "state", "status", "maintenance"] {
            assert!(h.get(field).is_some(), "host lacks {field}: {h}");
        }
    }

    // Maintenance: the CLI waits while "the agent" reports progress and per-VM outcomes.
    let vms =
        json!([{"name": "vm1", "from": "h1", "to": "h2", "result": "migrated", "error": null}]);
    let agent = env.agent_will(
        "h1",
        vec![
            json!({"state": "running", "progress": 0.5}),
            json!({"state": "succeeded", "progress": 1.0, "vms": vms}),
        ],
    );
    let out = env.run(&["host-update", "h1", "--maintenance", "enable"]);
    let op_id = agent.join().expect("agent thread");
    let stdout = out.ok();
    assert!(
        stdout.contains(&format!(
            "operation {op_id} (maintenance_enable on h1): succeeded"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("vm1") && stdout.contains("migrated"),
        "{stdout}"
    );
    assert!(
        out.stderr
            .contains(&format!("operation {op_id}: running 50%")),
        "plain progress lines: {}",
        out.stderr
    );
    let host = env.run(&["host-list", "-f", "json"]).json();
    assert_eq!(host[0]["maintenance"], true);

    let shown = env
        .run(&["operation-show", &op_id.to_string(), "-f", "json"])
        .json();
    assert_eq!(
        (shown["state"].as_str(), shown["vms"].clone()),
        (Some("succeeded"), vms)
    );

    let no_wait = env.run(&["host-update", "h1", "--maintenance", "disable", "--no-wait"]);
    let second: u64 = no_wait
        .ok()
        .trim()
        .parse()
        .expect("--no-wait prints the operation id");
    let ops = env.run(&["operation-list", "-f", "json"]).json();
    let ids: Vec<u64> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [second, op_id], "newest first");

    assert_eq!(
        env.run(&[
            "aggregate-remove-host",
            "pool-one",
            "h1",
            "-f",
            "value",
            "-c",
            "hosts"
        ])
        .ok(),
        "\n"
    );
    let deleted = env.run(&["aggregate-delete", "pool-one"]);
    assert_eq!(deleted.ok(), "Aggregate pool-one has been deleted.\n");
    assert_eq!(env.run(&["aggregate-list", "-f", "json"]).json(), json!([]));

    let events = env.run(&["event-list", "-f", "json"]).json();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "aggregate.created",
        "aggregate.host_added",
        "aggregate.metadata_set",
        "aggregate.deleted",
        "host.maintenance_requested",
    ] {
        assert!(kinds.contains(&kind), "no {kind} event in {kinds:?}");
    }
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "admin"),
        "every change by the admin token: {events}"
    );
}

#[test]
fn seed_workflow_on_sqlite() {
    seed_workflow(Db::Sqlite);
}

#[test]
fn seed_workflow_on_postgres() {
    seed_workflow(Db::Postgres);
}

#[test]
fn aggregate_is_found_by_name_id_and_uuid() {
    let env = CliEnv::start(Db::Sqlite);
    let agg = env
        .run(&["aggregate-create", "rack 7/a", "-f", "json"])
        .json();
    let id = agg["id"].as_u64().unwrap().to_string();
    let uuid = agg["uuid"].as_str().unwrap().to_string();
    for handle in ["rack 7/a", id.as_str(), uuid.as_str()] {
        let shown = env.run(&["aggregate-details", handle, "-f", "json"]).json();
        assert_eq!(shown["uuid"], agg["uuid"], "lookup by {handle:?}");
    }
    let err = env.run(&["aggregate-details", "nope"]);
    assert!(err.fails(1).contains("nope"), "{}", err.stderr);
}

#[test]
fn every_output_format_and_column_selection() {
    let env = CliEnv::start(Db::Sqlite);
    env.register_hosts(&["h1"]);
    env.run(&["aggregate-create", "pool1", "az1"]).ok();
    env.run(&["aggregate-add-host", "pool1", "h1"]).ok();
    env.register_hosts(&["h2"]);
    env.run(&["aggregate-create", "pool2", "az2"]).ok();

    let zone = |verb: &str, z: &str, col: &str| {
        env.run(&[verb, "--zone", z, "-f", "value", "-c", col])
            .ok()
            .to_string()
    };
    assert_eq!(zone("aggregate-list", "az1", "name"), "pool1\n");
    assert_eq!(zone("aggregate-list", "az2", "name"), "pool2\n");
    assert_eq!(zone("host-list", "az1", "host_name"), "h1\n");
    assert_eq!(zone("host-list", "nova", "host_name"), "h2\n");
    let by_agg = env.run(&[
        "event-list",
        "--aggregate",
        "pool2",
        "-f",
        "value",
        "-c",
        "kind",
    ]);
    assert_eq!(by_agg.ok(), "aggregate.created\n");
    env.run(&["aggregate-delete", "pool2"]).ok();

    let json_list = env.run(&["aggregate-list", "-f", "json"]).json();
    for field in [
        "id",
        "uuid",
        "name",
        "availability_zone",
        "hosts",
        "metadata",
    ] {
        assert!(json_list[0].get(field).is_some(), "json list lacks {field}");
    }
    let yaml = env.run(&["aggregate-list", "-f", "yaml"]);
    let from_yaml: Value = serde_yaml_ng::from_str(yaml.ok()).expect("yaml parses");
    assert_eq!(from_yaml, json_list);

    let value = env.run(&[
        "aggregate-list",
        "-f",
        "value",
        "-c",
        "name",
        "-c",
        "availability_zone",
        "-c",
        "hosts",
    ]);
    assert_eq!(value.ok(), "pool1 az1 h1\n");
    let one = env.run(&[
        "aggregate-details",
        "pool1",
        "-f",
        "value",
        "-c",
        "name",
        "-c",
        "metadata",
    ]);
    assert_eq!(one.ok(), "pool1\navailability_zone=az1\n");
    let cols = env
        .run(&[
            "aggregate-details",
            "pool1",
            "-f",
            "json",
            "-c",
            "name",
            "-c",
            "hosts",
        ])
        .json();
    assert_eq!(cols, json!({"name": "pool1", "hosts": ["h1"]}));

    let table = env.run(&["aggregate-list"]);
    let text = table.ok();
    let header = text.lines().nth(1).expect("header line");
    for col in [
        "id",
        "uuid",
        "name",
        "availability_zone",
        "hosts",
        "metadata",
    ] {
        assert!(header.contains(col), "table header {header:?} lacks {col}");
    }
    assert!(
        text.contains("pool1") && text.contains("availability_zone=az1"),
        "{text}"
    );

    let show = env.run(&["aggregate-details", "pool1"]);
    assert!(
        show.ok()
            .lines()
            .any(|l| l.contains("| name") && l.contains("pool1")),
        "{}",
        show.stdout
    );

    let host_table = env.run(&["host-list", "-c", "host_name", "-c", "maintenance"]);
    assert!(
        host_table
            .ok()
            .lines()
            .any(|l| l.contains("h1") && l.contains("false")),
        "{}",
        host_table.stdout
    );

    let bad = env.run(&["aggregate-list", "-c", "colour"]);
    assert!(
        bad.fails(2)
            .contains("unknown column \"colour\" for aggregates; choose from: id, uuid, name"),
        "{}",
        bad.stderr
    );
    env.run(&["aggregate-list", "-f", "xml"]).fails(2);
}

#[test]
fn aggregate_details_shows_the_pool_status_for_people() {
    let env = CliEnv::start(Db::Sqlite);
    env.register_hosts(&["h1", "h2"]);
    env.run(&["aggregate-create", "pool1", "-f", "json"]).json();
    for h in ["h1", "h2"] {
        env.run(&["aggregate-add-host", "pool1", h, "-f", "json"])
            .json();
    }
    env.run(&[
        "aggregate-set-metadata",
        "pool1",
        "hypervisor_pool=true",
        "-f",
        "json",
    ])
    .json();
    let report = |host: &str, body: Value| {
        let path = format!("/agents/{host}/report");
        let (status, answer) = env.api_as(&agent_token(host), "POST", &path, Some(body));
        assert_eq!(status, 204, "{answer}");
    };
    report(
        "h1",
        json!({"aggregate": "pool1", "operational_state": "active",
               "host_state": {"state": "active", "step": null}}),
    );
    report(
        "h2",
        json!({"aggregate": "pool1", "operational_state": "error",
               "host_state": {"state": "error", "step": "join"},
               "error": {"code": "JOINING_HOST_CANNOT_HAVE_RUNNING_VMS", "params": ["web"],
                         "message": "join failed: h2 runs 1 VM",
                         "fix": "shut down or migrate the joining host's VMs",
                         "vms": ["web"], "hosts": ["h2", "h1"]}}),
    );

    let table = env.run(&["aggregate-details", "pool1"]);
    let text = table.ok();
    for expected in [
        "pool: error (reported ",
        "h1: active",
        "h2: error, step join",
        "error: join failed: h2 runs 1 VM [JOINING_HOST_CANNOT_HAVE_RUNNING_VMS web]; \
         fix: shut down or migrate the joining host's VMs",
        "VMs: web",
        "hosts: h2, h1",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    let status_rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("| status"))
        .take_while(|l| !l.starts_with("|-") && !l.starts_with("+-"))
        .collect();
    assert!(
        !status_rows.is_empty() && status_rows.iter().all(|l| !l.contains('{')),
        "status is text, not JSON:\n{text}"
    );

    let shown = env
        .run(&["aggregate-details", "pool1", "-f", "json"])
        .json();
    let status = &shown["status"];
    assert_eq!(status["operational_state"], "error", "{shown}");
    assert_eq!(status["hosts"]["h2"]["step"], "join", "{shown}");
    assert_eq!(
        status["error"]["code"], "JOINING_HOST_CANNOT_HAVE_RUNNING_VMS",
        "{shown}"
    );
    assert_eq!(status["error"]["params"], json!(["web"]), "{shown}");
}

#[test]
fn tables_fit_the_terminal_width() {
    let env = CliEnv::start(Db::Sqlite);
    env.run(&[
        "aggregate-create",
        "a-rather-long-aggregate-name-for-wrapping",
        "zone-with-a-long-name",
    ])
    .ok();
    let long: Vec<String> = (0..6)
        .map(|i| format!("key{i}=a value long enough to need wrapping {i}"))
        .collect();
    let mut args = vec![
        "aggregate-set-metadata",
        "a-rather-long-aggregate-name-for-wrapping",
    ];
    args.extend(long.iter().map(String::as_str));
    env.run(&args).ok();
    for width in [60usize, 100] {
        let out = output_with_columns(&env, width, &["aggregate-list"]);
        for line in out.lines() {
            assert!(
                line.chars().count() <= width,
                "line wider than {width}: {line:?}\n{out}"
            );
        }
        assert!(out.contains("key5="), "content kept when wrapping:\n{out}");
    }
}

fn output_with_columns(env: &CliEnv, width: usize, args: &[&str]) -> String {
    let out =
        crate::support::cli_env::output(env.xenpool().env("COLUMNS", width.to_string()).args(args));
    out.ok().to_string()
}

#[test]
fn set_metadata_update_and_register_edge_cases() {
    let env = CliEnv::start(Db::Sqlite);
    env.run(&["aggregate-create", "p"]).ok();
    let meta = env
        .run(&[
            "aggregate-set-metadata",
            "p",
            "a=1",
            "b=x=y",
            "c=",
            "-f",
            "json",
        ])
        .json();
    assert_eq!(meta["metadata"], json!({"a": "1", "b": "x=y", "c": ""}));
    let meta = env
        .run(&["aggregate-set-metadata", "p", "a", "missing", "-f", "json"])
        .json();
    assert_eq!(
        meta["metadata"],
        json!({"b": "x=y", "c": ""}),
        "bare keys unset; a missing key is fine"
    );
    env.run(&["aggregate-set-metadata", "p", "k=1", "k=2"])
        .fails(2);
    env.run(&["aggregate-set-metadata", "p"]).fails(2);

    let upd = env
        .run(&[
            "aggregate-update",
            "p",
            "--availability-zone",
            "az9",
            "-f",
            "json",
        ])
        .json();
    assert_eq!(
        strs(&upd, &["name", "availability_zone"]),
        [Some("p"), Some("az9")]
    );
    let upd = env
        .run(&["aggregate-update", "p", "--name", "q", "-f", "json"])
        .json();
    assert_eq!(
        strs(&upd, &["name", "availability_zone"]),
        [Some("q"), Some("az9")]
    );
    let neither = env.run(&["aggregate-update", "q"]);
    assert!(neither.fails(2).contains("--name"), "{}", neither.stderr);
    env.run(&["aggregate-update", "q", "r", "--name", "s"])
        .fails(2);

    let host = env
        .run(&[
            "host-register",
            "h9",
            "--xapi-url",
            "https://192.0.2.9",
            "-f",
            "json",
        ])
        .json();
    assert_eq!(
        strs(&host, &["host_name", "xapi_url"]),
        [Some("h9"), Some("https://192.0.2.9")]
    );
    let again = env.run(&["host-register", "h9"]);
    let (_, body) = env.api("POST", "/hosts", Some(json!({"host_name": "h9"})));
    assert_eq!(
        again.fails(1).trim(),
        format!("xenpool: {}", body["error"]["message"].as_str().unwrap())
    );
}

#[test]
fn host_update_status_dry_run_failure_and_timeout() {
    let env = CliEnv::start(Db::Sqlite);
    env.register_hosts(&["h1", "h2"]);
    let disabled = env
        .run(&["host-update", "h1", "--status", "disable", "-f", "json"])
        .json();
    assert_eq!(disabled["status"], "disabled");
    let enabled = env.run(&[
        "host-update",
        "h1",
        "--status",
        "enable",
        "-f",
        "value",
        "-c",
        "status",
    ]);
    assert_eq!(enabled.ok(), "enabled\n");

    let plan = json!({"moves": [{"vm": "vm1", "from": "h1", "to": "h2"}], "cannot_move": []});
    let agent = env.agent_will(
        "h1",
        vec![json!({"state": "succeeded", "progress": 1.0, "plan": plan})],
    );
    let dry = env
        .run(&[
            "host-update",
            "h1",
            "--maintenance",
            "enable",
            "--dry-run",
            "-f",
            "json",
        ])
        .json();
    agent.join().unwrap();
    assert_eq!(dry, plan);
    let host = env.run(&["host-list", "-f", "json"]).json();
    assert_eq!(host[0]["maintenance"], false, "a dry run changes no intent");

    let error = json!({"code": "VM_REQUIRES_SR", "params": ["OpaqueRef:a", "OpaqueRef:b"],
        "message": "vm2 has a disk on local storage", "fix": "move the disk to a shared SR"});
    let vms = json!([{"name": "vm2", "from": "h1", "to": null, "result": "failed", "error": "VM_REQUIRES_SR"}]);
    let agent = env.agent_will(
        "h1",
        vec![json!({"state": "failed", "vms": vms, "error": error})],
    );
    let failed = env.run(&[
        "host-update",
        "h1",
        "--maintenance",
        "enable",
        "-f",
        "value",
    ]);
    let op = agent.join().unwrap();
    let stderr = failed.fails(1);
    assert!(
        stderr.contains(&format!("operation {op} (maintenance_enable on h1) failed: vm2 has a disk on local storage [VM_REQUIRES_SR OpaqueRef:a OpaqueRef:b]; fix: move the disk to a shared SR")),
        "{stderr}"
    );
    assert_eq!(
        failed.stdout, "vm2 h1  failed VM_REQUIRES_SR\n",
        "per-VM outcome printed before the error"
    );

    let timed_out = env.run(&[
        "host-update",
        "h2",
        "--maintenance",
        "enable",
        "--timeout",
        "1",
    ]);
    assert!(
        timed_out.fails(3).contains("xenpool operation-show"),
        "{}",
        timed_out.stderr
    );

    env.run(&["host-update", "h1"]).fails(2);
    env.run(&["host-update", "h1", "--dry-run"]).fails(2);
    env.run(&["host-update", "h1", "--maintenance", "sideways"])
        .fails(2);
    let missing = env.run(&["host-update", "ghost", "--maintenance", "enable"]);
    assert!(missing.fails(1).contains("ghost"), "{}", missing.stderr);
}

#[test]
fn operation_and_event_filters() {
    let env = CliEnv::start(Db::Sqlite);
    env.register_hosts(&["h1", "h2"]);
    let a: u64 = env
        .run(&["host-update", "h1", "--maintenance", "enable", "--no-wait"])
        .ok()
        .trim()
        .parse()
        .unwrap();
    let b = env
        .run(&[
            "host-update",
            "h2",
            "--maintenance",
            "enable",
            "--no-wait",
            "-f",
            "json",
        ])
        .json();
    assert_eq!(
        strs(&b, &["kind", "host", "state"]),
        [Some("maintenance_enable"), Some("h2"), Some("pending")]
    );
    let only_h1 = env.run(&["operation-list", "--host", "h1", "-f", "value", "-c", "id"]);
    assert_eq!(only_h1.ok(), format!("{a}\n"));
    let shown = env.run(&[
        "operation-show",
        &a.to_string(),
        "-f",
        "value",
        "-c",
        "host",
        "-c",
        "state",
    ]);
    assert_eq!(shown.ok(), "h1\npending\n");
    env.run(&["operation-show", "99999"]).fails(1);
    env.run(&["operation-show", "seven"]).fails(2);

    let all = env.run(&["event-list", "-f", "json"]).json();
    let first = all[0]["id"].as_u64().unwrap();
    let h2 = env
        .run(&["event-list", "--host", "h2", "-f", "json"])
        .json();
    assert!(
        !h2.as_array().unwrap().is_empty()
            && h2.as_array().unwrap().iter().all(|e| e["host"] == "h2"),
        "{h2}"
    );
    let later = env
        .run(&[
            "event-list",
            "--since",
            &first.to_string(),
            "--limit",
            "1",
            "-f",
            "json",
        ])
        .json();
    assert_eq!(later.as_array().unwrap().len(), 1);
    assert!(later[0]["id"].as_u64().unwrap() > first);
    let kind = env.run(&[
        "event-list",
        "--kind",
        "host.registered",
        "-f",
        "value",
        "-c",
        "host",
    ]);
    assert_eq!(kind.ok(), "h1\nh2\n");
    let table = env.run(&["event-list", "--kind", "host.registered"]);
    assert!(
        table.ok().contains("admin"),
        "actor shown: {}",
        table.stdout
    );
}

#[test]
fn refusals_exit_1_with_the_servers_message() {
    let env = CliEnv::start(Db::Sqlite);
    env.run(&["aggregate-create", "dup"]).ok();
    let again = env.run(&["aggregate-create", "dup"]);
    let (status, body) = env.api("POST", "/aggregates", Some(json!({"name": "dup"})));
    assert_eq!(status, 409);
    assert_eq!(
        again.fails(1).trim(),
        format!("xenpool: {}", body["error"]["message"].as_str().unwrap())
    );

    let read_only = env.run_as(READER, &["aggregate-create", "x"]);
    let (_, forbidden) = env.api_as(READER, "POST", "/aggregates", Some(json!({"name": "x"})));
    assert_eq!(
        read_only.fails(1).trim(),
        format!(
            "xenpool: {}",
            forbidden["error"]["message"].as_str().unwrap()
        )
    );
    assert_eq!(
        env.run_as(READER, &["aggregate-list", "-f", "json"]).json()[0]["name"],
        "dup",
        "reader may read"
    );
    env.run_as(MEMBER, &["aggregate-list"]).fails(1);
    let bad_token = env.run_as("not-a-token", &["host-list"]);
    let (status, unauthorized) = env.api_as("not-a-token", "GET", "/hosts", None);
    assert_eq!(status, 401);
    assert_eq!(
        bad_token.fails(1).trim(),
        format!(
            "xenpool: {}",
            unauthorized["error"]["message"].as_str().unwrap()
        )
    );

    env.run(&["aggregate-create", "bad name "]).fails(1);
    env.register_hosts(&["h1"]);
    env.run(&["aggregate-add-host", "dup", "h1"]).ok();
    let not_empty = env.run(&["aggregate-delete", "dup"]);
    assert!(
        not_empty.fails(1).contains("h1"),
        "names the remaining host: {}",
        not_empty.stderr
    );
    let not_member = env.run(&["aggregate-remove-host", "dup", "h2"]);
    not_member.fails(1);
    assert_eq!(
        env.run(&["aggregate-details", "dup", "-f", "json"]).json()["hosts"],
        json!(["h1"]),
        "nothing lost"
    );
}

#[test]
fn usage_errors_exit_2_and_name_the_fix() {
    let env = CliEnv::start(Db::Sqlite);
    let no_url = crate::support::cli_env::output(
        env.xenpool()
            .env_remove("XENPOOL_URL")
            .arg("aggregate-list"),
    );
    assert!(
        no_url
            .fails(2)
            .contains("pass --url URL, set XENPOOL_URL, or put url ="),
        "{}",
        no_url.stderr
    );
    let no_token = crate::support::cli_env::output(
        env.xenpool()
            .env_remove("XENPOOL_TOKEN")
            .arg("aggregate-list"),
    );
    assert!(
        no_token
            .fails(2)
            .contains("pass --token TOKEN, set XENPOOL_TOKEN"),
        "{}",
        no_token.stderr
    );
    let bad_url = env.run(&["aggregate-list", "--url", "ftp://x"]);
    assert!(bad_url.fails(2).contains("http://"), "{}", bad_url.stderr);
    let missing_config = env.run(&["aggregate-list", "--config", "/nonexistent/cli.toml"]);
    assert!(
        missing_config.fails(2).contains("/nonexistent/cli.toml"),
        "{}",
        missing_config.stderr
    );
    env.run(&["aggregate-frobnicate"]).fails(2);
    env.run(&["aggregate-create"]).fails(2);
    env.run(&["aggregate-add-host", "only-agg"]).fails(2);
}

#[test]
fn config_file_and_precedence() {
    let env = CliEnv::start(Db::Sqlite);
    let cfg_dir = env.home().join(".config/xenpool");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(
        cfg_dir.join("cli.toml"),
        format!("url = \"{}\"\ntoken = \"{ADMIN}\"\n", env.url),
    )
    .unwrap();
    let from_default = crate::support::cli_env::output(
        env.xenpool()
            .env_remove("XENPOOL_URL")
            .env_remove("XENPOOL_TOKEN")
            .args(["aggregate-list", "-f", "json"]),
    );
    assert_eq!(from_default.json(), json!([]), "default config file used");

    let other = env.home().join("reader.toml");
    std::fs::write(
        &other,
        format!("url = \"{}\"\ntoken = \"{READER}\"\n", env.url),
    )
    .unwrap();
    let via_flag = crate::support::cli_env::output(
        env.xenpool()
            .env_remove("XENPOOL_URL")
            .env_remove("XENPOOL_TOKEN")
            .args(["aggregate-create", "x", "--config", other.to_str().unwrap()]),
    );
    via_flag.fails(1); // the reader token from --config was used, and refused
    let env_beats_file = crate::support::cli_env::output(env.xenpool().args([
        "aggregate-create",
        "x",
        "--config",
        other.to_str().unwrap(),
        "-f",
        "value",
        "-c",
        "name",
    ]));
    assert_eq!(
        env_beats_file.ok(),
        "x\n",
        "XENPOOL_TOKEN (admin) overrides the file's reader token"
    );
    let flag_beats_env = env.run(&["aggregate-create", "y", "--token", READER]);
    flag_beats_env.fails(1);

    std::fs::write(
        cfg_dir.join("cli.toml"),
        "url = \"http://127.0.0.1:1\"\ncolour = 1\n",
    )
    .unwrap();
    let bad = env.run(&["aggregate-list"]);
    assert!(
        bad.fails(2).contains("cli.toml") && bad.stderr.contains("colour"),
        "{}",
        bad.stderr
    );
}

#[test]
fn unreachable_and_server_failures_exit_3() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env = CliEnv::start(Db::Sqlite);
    let out = env.run(&["aggregate-list", "--url", &dead]);
    assert!(
        out.fails(3).contains("cannot reach the xenpool API"),
        "{}",
        out.stderr
    );

    let failing = FailingServer::start();
    let out = env.run(&["aggregate-list", "--url", &failing.url]);
    let stderr = out.fails(3);
    assert!(
        stderr.contains("HTTP 503") && stderr.contains("database is down"),
        "{stderr}"
    );
}

#[test]
fn completions_for_each_shell() {
    let env = CliEnv::start(Db::Sqlite);
    for shell in ["bash", "zsh", "fish"] {
        let script = env.run(&["completions", shell]);
        assert!(
            script.ok().contains("aggregate-set-metadata"),
            "{shell} completion lacks verbs"
        );
    }
    env.run(&["completions", "tcsh"]).fails(2);
}

/// A loopback HTTP server that answers every request with a Nova-style 503.
struct FailingServer {
    url: String,
}

impl FailingServer {
    fn start() -> FailingServer {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            // Bounded: serves at most 8 connections, then the thread ends.
            for stream in listener.incoming().take(8).flatten() {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let body = r#"{"error": {"code": "unavailable", "message": "database is down", "details": {}}}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FailingServer { url }
    }
}
