//! The client verbs (`aggregate-*`, `host-*`, `operation-*`, `event-list`): parse
//! ([`commands`]), resolve the endpoint ([`config`]), call the native API ([`http`]), render
//! ([`output`]; agent-reported status and errors: [`status`]), follow operations ([`wait`]).
//! Exit codes: see [`error::ClientError::exit_code`].

mod commands;
mod config;
mod error;
mod http;
mod output;
mod status;
mod verbs;
mod wait;

use std::io::Write;
use std::process::ExitCode;

pub use commands::ClientCommand;
use error::ClientError;

/// Runs one client verb to completion and prints its output or error.
pub fn run(cmd: ClientCommand) -> ExitCode {
    let runtime = match super::current_thread_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(verbs::execute(&cmd)) {
        Ok(text) => print_stdout(&text),
        Err(e) => {
            if let ClientError::OperationFailed { output, .. } = &e {
                print_stdout(output);
            }
            eprintln!("xenpool: {e}");
            e.exit_code()
        }
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
fn print_stdout(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xenpool: writing output: {e}");
            ExitCode::from(3)
        }
    }
}
