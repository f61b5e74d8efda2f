//! Agents as systemd runs them: real `xenpool agent` processes, one per host, killed with
//! SIGKILL in the middle of a join and started again.

use serde_json::json;
use xenpool::agent::config::AgentConfig;
use xenpool_mocks::{Fault, FaultKind, Phase};

use crate::support::agent_process::{install, AgentProcess, AgentSetup};
use crate::support::server::Db;
use crate::support::stack::{farm, Stack};

/// Installs `config` the way an operator would, in `dir`; returns the config file.
fn install_config(dir: &std::path::Path, config: &AgentConfig) -> std::path::PathBuf {
    install(
        dir,
        &AgentSetup {
            host: &config.host,
            control_url: config.control_url.as_str(),
            token: config.token.expose(),
            xapi_url: config.xapi_url.as_str(),
            xapi_username: &config.xapi_username,
            xapi_password: config.xapi_password.expose(),
            state_dir: &config.state_dir,
        },
    )
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
        let file = install_config(&dir.path().join(host), &config);
        configs.push((file, config.token.expose().to_owned()));
    }
    let log = |host: &str| dir.path().join(host).join("agent.log");
    let xs1 = AgentProcess::spawn("xs1", &configs[0].0, &log("xs1"), "info");
    let mut xs2 = Some(AgentProcess::spawn(
        "xs2",
        &configs[1].0,
        &log("xs2"),
        "info",
    ));

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
    stack.until_called(Some("xs2"), "pool.join").await;
    let joiner = xs2.take().expect("running");
    assert!(
        std::path::Path::new(&format!("/proc/{}", joiner.pid())).exists(),
        "{}'s agent runs as its own process",
        joiner.host
    );
    joiner.kill();
    let restarted = AgentProcess::spawn("xs2", &configs[1].0, &log("xs2"), "info");
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
