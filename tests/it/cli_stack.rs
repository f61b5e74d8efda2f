//! The real `xenpool` binary's `host-update --maintenance` against the whole stack with agents
//! running on the mock: the dry run's plan (each VM, its destination, the order), the per-VM
//! outcome in a table and, with `-f json`, the `operation` object with its `vms` list; on a
//! terminal (a pty from script(1)) an indicatif progress bar instead of plain lines.

use serde_json::{json, Value};
use xenpool_mocks::{FarmOptions, Scenario};

use crate::support::cli_env::{output, table_rows, xenpool_command, Out};
use crate::support::server::Db;
use crate::support::stack::{farm, Stack};

/// `host-update xs1 --maintenance enable`, to which each call adds its flags.
const ENABLE_XS1: &[&str] = &["host-update", "xs1", "--maintenance", "enable"];

/// Runs `xenpool ARGS` as admin against `stack`, off the async runtime.
async fn xenpool(stack: &Stack, home: &std::path::Path, args: &[&str]) -> Out {
    let mut cmd = xenpool_command(stack.demo.url(), &stack.demo.admin_token, home);
    cmd.args(args);
    tokio::task::spawn_blocking(move || output(&mut cmd))
        .await
        .expect("command thread")
}

/// The table's data rows (after the header) as trimmed cells.
fn rows(table: &str) -> Vec<Vec<String>> {
    table_rows(table).into_iter().skip(1).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_update_prints_the_plan_and_each_vms_outcome() {
    let toml = "[[hosts]]\nname = \"xs1\"\n\
                [[hosts.vms]]\nname = \"a1\"\nmemory_mib = 1024\n\
                [[hosts.vms]]\nname = \"a2\"\nmemory_mib = 2048\n\
                [[hosts.vms]]\nname = \"a3\"\nmemory_mib = 512\n\
                [[hosts]]\nname = \"xs2\"\n[[hosts]]\nname = \"xs3\"\n";
    let options = FarmOptions {
        scenario: Some(Scenario::from_toml(toml).expect("scenario parses")),
        ..farm(3, 0)
    };
    let stack = Stack::start(Db::Sqlite, options).await;
    stack.form_pool("pool1", &["xs1", "xs2", "xs3"]).await;
    let home = tempfile::tempdir().expect("temp dir");

    // The dry run: each VM, where it goes and in which order; nothing moves.
    let dry = xenpool(&stack, home.path(), &[ENABLE_XS1, &["--dry-run"]].concat()).await;
    let text = dry.ok();
    assert!(text.contains("the plan (nothing was changed)"), "{text}");
    let table = rows(text);
    let plan = xenpool(
        &stack,
        home.path(),
        &[ENABLE_XS1, &["--dry-run", "-f", "json"]].concat(),
    )
    .await
    .json();
    let moves = plan["moves"].as_array().expect("moves");
    assert_eq!(moves.len(), 3, "{plan}");
    assert_eq!(table.len(), 3, "one row per VM:\n{text}");
    for (k, (row, m)) in table.iter().zip(moves).enumerate() {
        let want = [
            (k + 1).to_string(),
            m["vm"].as_str().unwrap().to_string(),
            "xs1".to_string(),
            m["to"].as_str().unwrap().to_string(),
            "migrate".to_string(),
        ];
        assert_eq!(
            row[..],
            want[..],
            "row {k} follows the plan's order:\n{text}"
        );
        assert!(want[3] == "xs2" || want[3] == "xs3", "{plan}");
    }
    assert!(stack.all_vms_on("xs1"), "a dry run moves nothing");

    // Maintenance on, waited for, as JSON: the operation object with its per-VM outcomes.
    let enabled = xenpool(&stack, home.path(), &[ENABLE_XS1, &["-f", "json"]].concat()).await;
    let op = &enabled.json()["operation"];
    assert_eq!(
        (&op["kind"], &op["host"], &op["state"]),
        (
            &json!("maintenance_enable"),
            &json!("xs1"),
            &json!("succeeded")
        ),
        "{op}"
    );
    let vms = op["vms"].as_array().expect("vms list");
    let mut names: Vec<&str> = vms.iter().map(|v| v["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["a1", "a2", "a3"], "{op}");
    let farm = stack.farm();
    for vm in vms {
        let keys: Vec<&String> = vm.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "from", "to", "result", "error"], "{vm}");
        assert_eq!(
            (&vm["from"], &vm["result"], &vm["error"]),
            (&json!("xs1"), &json!("migrated"), &Value::Null),
            "{vm}"
        );
        let name = vm["name"].as_str().unwrap();
        assert_eq!(
            farm.vm(name).unwrap().resident_on.as_deref(),
            vm["to"].as_str(),
            "{name} is where the outcome says"
        );
        let line = format!("{name}: migrated xs1 -> {}", vm["to"].as_str().unwrap());
        assert!(
            enabled.stderr.contains(&line),
            "a progress line per VM ({line}):\n{}",
            enabled.stderr
        );
    }

    // Maintenance off, as a table: the summary and a row per VM that came home.
    let disabled = xenpool(
        &stack,
        home.path(),
        &["host-update", "xs1", "--maintenance", "disable"],
    )
    .await;
    let text = disabled.ok();
    assert!(
        text.contains("(maintenance_disable on xs1): succeeded"),
        "{text}"
    );
    let mut table = rows(text);
    table.sort();
    assert_eq!(table.len(), 3, "{text}");
    for (row, name) in table.iter().zip(["a1", "a2", "a3"]) {
        assert_eq!(
            (row[0].as_str(), row[2].as_str(), row[3].as_str()),
            (name, "xs1", "migrated"),
            "{text}"
        );
    }
    assert!(stack.all_vms_on("xs1"), "every VM home");

    // On a terminal (a pty from script(1)) the wait is an indicatif bar, not plain lines.
    let command = format!(
        "'{}' host-update xs1 --maintenance enable",
        env!("CARGO_BIN_EXE_xenpool")
    );
    let mut cmd = std::process::Command::new("script");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("TERM", "xterm")
        .env("XENPOOL_URL", stack.demo.url())
        .env("XENPOOL_TOKEN", &stack.demo.admin_token)
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::null());
    let tty = tokio::task::spawn_blocking(move || output(&mut cmd))
        .await
        .expect("command thread");
    let screen = tty.ok();
    assert!(
        screen.contains("] 100%") && screen.contains("succeeded"),
        "a finished progress bar:\n{screen}"
    );
    assert!(
        !screen.contains(": running ") && screen.contains("(maintenance_enable on xs1): succeeded"),
        "no plain progress lines on a terminal, then the outcome:\n{screen}"
    );
    stack.assert_invariants();
    stack.shutdown().await;
}
