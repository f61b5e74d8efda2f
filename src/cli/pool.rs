//! Manual pool verbs for operators working without the control plane: `pool-status`,
//! `pool-join`, `pool-eject`, `evacuate`. They talk to XAPI directly with the credentials and
//! TLS settings of the agent's config file. Exit codes: 0 done, 1 XAPI refused (code, params
//! with names, and the fix are printed), 2 usage or configuration, 3 XAPI unreachable.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::agent::config::AgentConfig;
use crate::agent::maintenance::{self, RunLimits};
use crate::agent::observe::{observe, Identity, Observation};
use crate::planner::EvacuationPolicy;
use crate::xenapi::{Session, XenApiError};

/// Where the credentials come from.
#[derive(Debug, clap::Args)]
pub struct PoolConfig {
    /// The agent's TOML configuration (its XAPI URL, credentials and TLS settings are used).
    #[arg(long, value_name = "FILE", default_value = "/etc/xenpool/agent.toml")]
    config: PathBuf,
}

/// The manual verbs.
#[derive(Debug, clap::Subcommand)]
pub enum PoolCommand {
    /// Show this host's pool: name, master, members (enabled, live, free memory), VMs per host.
    PoolStatus(PoolConfig),
    /// Join this host to the pool whose master is at URL (`pool.join` on this host's XAPI).
    PoolJoin {
        /// The master's XAPI URL (its host part is the bare address XAPI wants).
        #[arg(long, value_name = "URL")]
        master: url::Url,
        /// Use `pool.join_force` (skips the software-version and CPU-vendor checks only).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        config: PoolConfig,
    },
    /// Eject HOST from this host's pool (`pool.eject`; it must have no running VMs: evacuate first).
    PoolEject {
        /// The member to eject (its name_label).
        host: String,
        #[command(flatten)]
        config: PoolConfig,
    },
    /// Live-migrate HOST's running VMs to the other members, or with --dry-run print the plan.
    Evacuate {
        /// The member to empty (its name_label).
        host: String,
        /// Print the plan only; nothing moves.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        config: PoolConfig,
    },
}

/// Runs one manual verb.
pub fn run(command: PoolCommand) -> ExitCode {
    super::init_tracing();
    let config_path = match &command {
        PoolCommand::PoolStatus(c) => &c.config,
        PoolCommand::PoolJoin { config, .. }
        | PoolCommand::PoolEject { config, .. }
        | PoolCommand::Evacuate { config, .. } => &config.config,
    };
    let config = match AgentConfig::load(config_path, std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xenpool: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match super::current_thread_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(execute(command, &config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("xenpool: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Refused(message)) => {
            eprintln!("xenpool: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Xapi(e)) if e.code().is_some() => {
            eprintln!("xenpool: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Xapi(e)) => {
            eprintln!("xenpool: {e}");
            ExitCode::from(3)
        }
    }
}

enum Failure {
    Usage(String),
    Refused(String),
    Xapi(XenApiError),
}

impl From<XenApiError> for Failure {
    fn from(e: XenApiError) -> Failure {
        Failure::Xapi(e)
    }
}

async fn execute(command: PoolCommand, config: &AgentConfig) -> Result<(), Failure> {
    let client = config.xapi_client()?;
    let credentials = config.xapi_credentials();
    let session =
        Session::login_with_password(client, config.xapi_url.clone(), credentials.clone()).await?;
    let identity = Identity {
        name: config.host.clone(),
        address: config.xapi_address(),
    };
    let obs = observe(&session, &identity, &Default::default()).await?;
    let result = match command {
        PoolCommand::PoolStatus(_) => {
            print_status(&obs);
            Ok(())
        }
        PoolCommand::PoolJoin { master, force, .. } => {
            let address = master
                .host_str()
                .unwrap_or_default()
                .trim_matches(['[', ']'])
                .to_owned();
            if address.is_empty() {
                return Err(Failure::Usage(format!("--master {master} has no host")));
            }
            let joined = if force {
                session.pool_join_force(&address, &credentials).await
            } else {
                session.pool_join(&address, &credentials).await
            };
            joined.map_err(|e| Failure::Refused(obs.ref_names().describe(&e)))?;
            println!(
                "{} joined the pool of {address}; its XAPI restarts as a member",
                config.host
            );
            Ok(())
        }
        PoolCommand::PoolEject { host, .. } => {
            let member = obs.host(&host).ok_or_else(|| {
                Failure::Usage(format!(
                    "{host} is not a member of this pool; see xenpool pool-status"
                ))
            })?;
            session
                .pool_eject(&member.reference)
                .await
                .map_err(|e| Failure::Refused(obs.ref_names().describe(&e)))?;
            println!("{host} ejected; it reboots into a standalone pool");
            Ok(())
        }
        PoolCommand::Evacuate { host, dry_run, .. } => {
            evacuate(&session, &obs, &host, dry_run, config).await
        }
    };
    let _ = session.logout().await;
    result
}

async fn evacuate(
    session: &Session,
    obs: &Observation,
    host: &str,
    dry_run: bool,
    config: &AgentConfig,
) -> Result<(), Failure> {
    if obs.host(host).is_none() {
        return Err(Failure::Usage(format!(
            "{host} is not a member of this pool; see xenpool pool-status"
        )));
    }
    let plan =
        maintenance::plan_evacuation_of(session, obs, host, EvacuationPolicy::Migrate).await?;
    for m in &plan.moves {
        println!(
            "{}: {} -> {} ({})",
            m.vm,
            m.from,
            m.to,
            crate::planner::mib(m.memory)
        );
    }
    for u in &plan.unplaceable {
        println!("{u}");
    }
    if !plan.is_complete() {
        return Err(Failure::Refused(format!(
            "{} VM(s) cannot leave {host}; nothing was moved",
            plan.unplaceable.len()
        )));
    }
    if dry_run {
        return Ok(());
    }
    let limits = RunLimits {
        concurrency: config.concurrency,
        migration_timeout: config.xapi_timeout * 10,
    };
    let outcomes =
        maintenance::run_moves(session, obs, plan.moves, limits, None, |o, done, total| {
            println!(
                "[{done}/{total}] {}: {}{}",
                o.name,
                o.result,
                o.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
        })
        .await;
    let failed = outcomes.iter().filter(|o| o.result != "migrated").count();
    match failed {
        0 => Ok(()),
        n => Err(Failure::Refused(format!(
            "{n} of {} migrations failed",
            outcomes.len()
        ))),
    }
}

fn print_status(obs: &Observation) {
    let (_, pool) = &obs.pool;
    println!(
        "pool {:?} (uuid {}), master {}",
        pool.name_label,
        pool.uuid,
        obs.master_name()
    );
    let mut hosts: Vec<_> = obs.hosts.iter().collect();
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    for h in hosts {
        let vms: Vec<&str> = obs
            .vms
            .iter()
            .filter(|(_, v)| v.resident_on == h.reference)
            .map(|(_, v)| v.name_label.as_str())
            .collect();
        println!(
            "  {:<12} {:<8} {:<5} free {:>10}  VMs: {}",
            h.name,
            if h.record.enabled {
                "enabled"
            } else {
                "disabled"
            },
            if h.live { "live" } else { "dead" },
            crate::planner::mib(h.free_memory),
            if vms.is_empty() {
                "-".to_owned()
            } else {
                vms.join(", ")
            }
        );
    }
}
