//! `bcpvault` command-line entry point: parses arguments, runs one command, maps
//! errors to a one-line message on stderr and a non-zero exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
