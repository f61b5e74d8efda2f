//! The `xenpool` binary: every subcommand is parsed and dispatched in `xenpool::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    xenpool::cli::main()
}
