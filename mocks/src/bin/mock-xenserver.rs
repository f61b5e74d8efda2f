//! `mock-xenserver`: runs a mock XenServer farm until interrupted. Prints one JSON ready line
//! on stdout (host URLs, control URL, credentials hint, fingerprints), then logs to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use xenpool_mocks::{Farm, FarmOptions, Scenario, DEFAULT_PASSWORD, DEFAULT_USERNAME};

/// A mock XenServer farm speaking XAPI's XML-RPC protocol, with fault injection.
#[derive(Debug, Parser)]
#[command(name = "mock-xenserver", version)]
struct Cli {
    /// Number of hosts xs1…xsN (each on its own loopback address 127.0.0.2, …).
    #[arg(long, default_value_t = 3)]
    hosts: usize,
    /// VMs per host, named <host>-vm<k> (Running, diskless).
    #[arg(long, default_value_t = 2)]
    vms_per_host: usize,
    /// Memory per host in MiB (dom0 takes 1024).
    #[arg(long, default_value_t = 16384)]
    host_memory_mib: u64,
    /// Memory per VM in MiB.
    #[arg(long, default_value_t = 1024)]
    vm_memory_mib: u64,
    /// Scenario file (TOML): hosts, versions, VMs with disks and PCI devices.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate per host (fingerprints in the ready line).
    #[arg(long)]
    tls: bool,
    /// Port every host listens on (0: pick a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Multiplies simulated durations (join restart, eject reboot, migrations); 0 = instant.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// User name the hosts accept.
    #[arg(long, default_value = DEFAULT_USERNAME)]
    username: String,
    /// File holding the password the hosts accept (default password: "mock").
    #[arg(long)]
    password_file: Option<PathBuf>,
}

fn options(cli: Cli) -> Result<FarmOptions, String> {
    if !(cli.time_scale.is_finite() && cli.time_scale >= 0.0) {
        return Err(format!(
            "--time-scale {}: must be a number ≥ 0",
            cli.time_scale
        ));
    }
    let password = match &cli.password_file {
        None => DEFAULT_PASSWORD.to_owned(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--password-file {}: {e}", path.display()))?;
            let password = text.trim_end_matches(['\n', '\r']).to_owned();
            if password.is_empty() {
                return Err(format!(
                    "--password-file {}: the file is empty",
                    path.display()
                ));
            }
            password
        }
    };
    let scenario = match &cli.scenario {
        None => None,
        Some(path) => Some(Scenario::load(path).map_err(|e| e.to_string())?),
    };
    Ok(FarmOptions {
        hosts: cli.hosts,
        vms_per_host: cli.vms_per_host,
        host_memory_mib: cli.host_memory_mib,
        vm_memory_mib: cli.vm_memory_mib,
        scenario,
        tls: cli.tls,
        port: cli.port,
        time_scale: cli.time_scale,
        username: cli.username,
        password,
        ..FarmOptions::default()
    })
}

async fn run(opts: FarmOptions) -> Result<(), String> {
    let farm = Farm::start(opts).await.map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", farm.ready_line())
        .and_then(|_| out.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    drop(out);
    wait_for_signal().await;
    tracing::info!("stopping");
    farm.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let opts = match options(cli) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mock-xenserver: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mock-xenserver: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-xenserver: {e}");
            ExitCode::FAILURE
        }
    }
}
