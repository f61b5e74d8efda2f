//! Agents as systemd runs them: real `xenpool agent` processes, one per host, killed with
//! SIGKILL in the middle of a join and started again.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::json;
use xenpool::agent::config::AgentConfig;
use xenpool_mocks::{Fault, FaultKind, Phase};

use crate::support::server::Db;
use crate::support::stack::{farm, Stack};

/// A running `xenpool agent` process; SIGKILLed when dropped.
struct AgentProcess(Child);

impl AgentProcess {
    /// SIGKILL, then reap.
    fn kill(mut self) {
        self.0.kill().expect("SIGKILL the agent");
        self.0.wait().expect("reap the agent");
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write secret file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

/// Writes `config` as the TOML file and secret files an operator would install, in `dir`.
fn install(dir: &Path, config: &AgentConfig) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("agent dir");
    let (token, password) = (dir.join("token"), dir.join("xapi-password"));
    write_private(&token, config.token.expose());
    write_private(&password, config.xapi_password.expose());
    let file = dir.join("agent.toml");
    let toml = format!(
        "host = {:?}\ncontrol_url = {:?}\ntoken_file = {:?}\nxapi_url = {:?}\n\
         xapi_username = {:?}\nxapi_password_file = {:?}\nstate_dir = {:?}\n\
         handover_cooldown_seconds = 1\n",
        config.host,
        config.control_url.as_str(),
        token,
        config.xapi_url.as_str(),
        config.xapi_username,
        password,
        config.state_dir,
    );
    std::fs::write(&file, toml).expect("write agent config");
    file
}

fn spawn(config_file: &Path, log: &Path) -> AgentProcess {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("agent log");
    let child = Command::new(env!("CARGO_BIN_EXE_xenpool"))
        .args(["agent", "--config"])
        .arg(config_file)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start xenpool agent");
    AgentProcess(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_agent_process_resumes_its_join_when_started_again() {
    let mut stack = Stack::start(Db::Sqlite, farm(2, 0)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    // Take each host's configuration from the demo's in-process agent, then run it as a process.
    let mut configs = Vec::new();
    for host in ["xs1", "xs2"] {
        let mut taken = None;
        stack
            .demo
            .start_agent_with(host, |c| taken = Some(c.clone()))
            .expect("agent config");
        stack.demo.kill_agent(host);
        let config = taken.expect("the demo hands out its agent config");
        let file = install(&dir.path().join(host), &config);
        configs.push((file, config.token.expose().to_owned()));
    }
    let log = |host: &str| dir.path().join(host).join("agent.log");
    let xs1 = spawn(&configs[0].0, &log("xs1"));
    let mut xs2 = Some(spawn(&configs[1].0, &log("xs2")));

    stack
        .demo
        .farm
        .inject(Fault {
            kind: FaultKind::Latency,
            host: Some("xs2".into()),
            method: Some("pool.join".into()),
            count: Some(1),
            error: None,
            latency_ms: Some(1500),
            phase: Phase::Before,
        })
        .unwrap();
    stack.create_pool("pool1", json!({})).await;
    stack.add_host("pool1", "xs1").await;
    stack.add_host("pool1", "xs2").await;
    stack
        .until("xs2's pool.join under way", || async {
            let calls = stack
                .farm()
                .calls
                .get("xs2")
                .and_then(|m| m.get("pool.join").copied());
            calls.is_some_and(|n| n > 0).then_some(())
        })
        .await;
    xs2.take().expect("running").kill();
    let restarted = spawn(&configs[1].0, &log("xs2"));
    stack.until_pool("pool1", &["xs1", "xs2"], "xs1").await;
    stack.assert_invariants();
    let agg = stack.aggregate("pool1").await;
    assert_eq!(agg["metadata"]["operational_state"], "active", "{agg}");
    for (host, (_, token)) in ["xs1", "xs2"].iter().zip(&configs) {
        let text = std::fs::read_to_string(log(host)).expect("agent log");
        assert!(text.contains("registered"), "{host}'s log: {text}");
        assert!(
            !text.contains(token.as_str()),
            "{host}'s token is in its log"
        );
    }
    restarted.kill();
    xs1.kill();
    stack.shutdown().await;
}
