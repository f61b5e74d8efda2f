//! The `xenpool` command line: one clap `Command` enum, each variant owned by the module that
//! implements it. Exit codes: 0 success, 1 the remote side refused, 2 usage, 3 unreachable or
//! failed (subcommands document their own where they differ).

mod client;
mod completions;

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
    /// Run the control plane (Nova-compatible API + native /v1 API).
    Serve(crate::serve_cli::ServeArgs),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(crate::auth_cli::TokenCommand),
    #[command(flatten)]
    Client(Box<client::ClientCommand>),
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
        Command::Serve(args) => crate::serve_cli::main(args),
        Command::Token(cmd) => crate::auth_cli::main(cmd),
        Command::Client(cmd) => client::run(*cmd),
        Command::Completions { shell } => completions::run(shell),
    }
}
