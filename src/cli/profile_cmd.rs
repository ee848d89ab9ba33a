//! `bcpvault profile check <file>`: validate a profile with precise errors.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use super::common::load_profile;

/// `profile` subcommands.
#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// Validate a profile file and print a summary.
    Check {
        /// Profile file (TOML).
        file: PathBuf,
    },
}

/// Runs a profile subcommand.
pub fn run(cmd: ProfileCommand) -> Result<()> {
    match cmd {
        ProfileCommand::Check { file } => {
            let profile = load_profile(&file)?;
            println!("{}: OK", file.display());
            println!("{}", profile.summary());
            Ok(())
        }
    }
}
