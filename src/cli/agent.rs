//! `xenpool agent --config FILE [--check-config]`: the per-host agent as systemd runs it.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::agent::config::AgentConfig;
use crate::agent::Agent;

/// Arguments of `xenpool agent`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The agent's TOML configuration (each key overridable by XENPOOL_AGENT_<KEY>).
    #[arg(long, value_name = "FILE", default_value = "/etc/xenpool/agent.toml")]
    config: PathBuf,
    /// Validate the configuration, log in to XAPI and to the control plane, then exit.
    #[arg(long)]
    check_config: bool,
}

/// Runs the agent until SIGTERM/SIGINT: 0 on a clean stop, 2 for a bad configuration, 3 when
/// `--check-config` cannot reach XAPI or the control plane.
pub fn run(args: AgentArgs) -> ExitCode {
    super::init_tracing();
    let config = match AgentConfig::load(&args.config, std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xenpool agent: {e}");
            return ExitCode::from(2);
        }
    };
    // One thread: the agent mostly waits, and dom0 memory is scarce.
    let rt = match super::current_thread_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let mut agent = match Agent::new(config) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("xenpool agent: {e}");
                return ExitCode::from(2);
            }
        };
        if args.check_config {
            return match agent.check().await {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("xenpool agent: check failed: {e}");
                    ExitCode::from(3)
                }
            };
        }
        match agent.run(super::shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xenpool agent: {e}");
                ExitCode::from(3)
            }
        }
    })
}
