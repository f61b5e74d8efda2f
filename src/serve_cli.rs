//! The `xenpool serve` subcommand's arguments and entry point.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{ServeConfig, ServeFlags};

/// `xenpool serve [--config FILE] [--listen ADDR] [--database URL] [--tokens FILE]`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML config file (keys: listen, database, tokens, data_dir, service_down_time,
    /// default_availability_zone, revision_poll_ms, max_db_connections, sqlite_synchronous).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8774; env XENPOOL_LISTEN].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// sqlite://PATH or postgres://… [default: SQLite in the data dir; env XENPOOL_DATABASE].
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Tokens file [default: <data dir>/tokens.toml; env XENPOOL_TOKENS].
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
}

/// Runs `xenpool serve`: 0 after a clean shutdown, 3 if it could not start or failed.
pub fn main(args: ServeArgs) -> ExitCode {
    crate::cli::init_tracing();
    let flags = ServeFlags {
        config: args.config,
        listen: args.listen,
        database: args.database,
        tokens: args.tokens,
    };
    let config = match ServeConfig::resolve(&flags, std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xenpool serve: {e}");
            return ExitCode::from(2);
        }
    };
    if config.token_entries.is_none() && !config.tokens_path().exists() {
        eprintln!(
            "xenpool serve: tokens file {} does not exist; create an admin token with \
             `xenpool token add --tokens {} --name admin --role admin`",
            config.tokens_path().display(),
            config.tokens_path().display()
        );
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xenpool serve: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match rt.block_on(crate::serve::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            eprintln!("xenpool serve: {msg}");
            ExitCode::from(3)
        }
    }
}
