//! The command-line interface: argument parsing and one module per command.
//! This is the only layer that prints to the terminal or uses `anyhow`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// BCP Vault: write-only encrypted business-continuity backups with quorum unlock.
#[derive(Parser)]
#[command(name = "bcpvault", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

/// Parse arguments, run the command, map any error to one stderr line and exit 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bcpvault: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {}
}

/// Joins an error chain into one line: "outer: cause: root cause".
fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
