//! The `xenpool token` subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::auth::{add_token, Role};

/// `xenpool token …`.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Generate a token, append its SHA-256 hash to the tokens file and print the token once.
    Add {
        /// Tokens file (created with mode 0600 if missing).
        #[arg(long, value_name = "FILE")]
        tokens: PathBuf,
        /// Name recorded as the actor of this token's changes.
        #[arg(long)]
        name: String,
        /// admin, reader, member or agent.
        #[arg(long)]
        role: Role,
        /// The host an agent token may act as (agent tokens only).
        #[arg(long)]
        host: Option<String>,
    },
}

/// Runs a token subcommand: 0 on success, 1 if refused (message on stderr).
pub fn main(cmd: TokenCommand) -> ExitCode {
    match cmd {
        TokenCommand::Add {
            tokens,
            name,
            role,
            host,
        } => match add_token(&tokens, &name, role, host.as_deref()) {
            Ok(token) => {
                println!("{token}");
                eprintln!(
                    "xenpool token: added {role} token {name:?} to {}; the token above is shown only once",
                    tokens.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xenpool token: {e}");
                ExitCode::from(1)
            }
        },
    }
}
