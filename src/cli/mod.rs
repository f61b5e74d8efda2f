//! The `xenpool` command line: one clap `Command` enum, each variant owned by the module that
//! implements it. Exit codes: 0 success, 1 the remote side refused, 2 usage, 3 unreachable or
//! failed (subcommands document their own where they differ).

mod agent;
mod client;
mod completions;
mod demo;
mod pool;
mod xapi;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "xenpool",
    version,
    about = "Keeps XenServer pools in line with host aggregates"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand of `xenpool`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version and exit.
    Version,
    /// Run the per-host agent (one per compute host, as a systemd service).
    Agent(agent::AgentArgs),
    /// Run the control plane, a mock XenServer farm and one agent per host in one process.
    Demo(demo::DemoArgs),
    /// Talk to one XenServer host's XenAPI directly (manual checks, scripts).
    Xapi(Box<xapi::XapiArgs>),
    /// Run the control plane (Nova-compatible API + native /v1 API).
    Serve(crate::serve_cli::ServeArgs),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(crate::auth_cli::TokenCommand),
    #[command(flatten)]
    Client(Box<client::ClientCommand>),
    #[command(flatten)]
    Pool(pool::PoolCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// Parses the process arguments, runs the chosen subcommand and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("xenpool {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Agent(args) => agent::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Xapi(args) => xapi::run(*args),
        Command::Serve(args) => crate::serve_cli::main(args),
        Command::Token(cmd) => crate::auth_cli::main(cmd),
        Command::Client(cmd) => client::run(*cmd),
        Command::Pool(cmd) => pool::run(cmd),
        Command::Completions { shell } => completions::run(shell),
    }
}

/// A single-threaded tokio runtime for a command that mostly waits on the network; on failure
/// the message is printed and exit code 3 returned.
pub(crate) fn current_thread_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("xenpool: cannot start the async runtime: {e}");
            ExitCode::from(3)
        })
}

/// Logs to stderr at `RUST_LOG` (default `info`); stdout stays for results.
pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
