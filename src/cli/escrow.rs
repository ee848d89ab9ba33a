//! `bcpvault escrow import <profile> <file>`: type a paper copy back in (or copy a
//! binary escrow file) to install the recovery bundle on a machine without one.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use bcpvault::keys::{EscrowText, KeyFiles, format_fingerprint};

use super::common::load_profile;

/// `escrow` subcommands.
#[derive(Subcommand, Debug)]
pub enum EscrowCommand {
    /// Check an escrow copy (text or binary) and install it as the store's bundle.
    Import(ImportArgs),
    /// Check an escrow copy and print what it holds, without installing it.
    Verify(VerifyArgs),
}

/// Arguments of `escrow import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Escrow copy: the printed text typed back in, or the binary file.
    pub file: PathBuf,
}

/// Arguments of `escrow verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Escrow copy (text or binary).
    pub file: PathBuf,
}

/// Runs an escrow subcommand.
pub fn run(cmd: EscrowCommand) -> Result<()> {
    match cmd {
        EscrowCommand::Import(args) => import(args),
        EscrowCommand::Verify(args) => {
            let bytes = std::fs::read(&args.file)
                .with_context(|| format!("{}: cannot read", args.file.display()))?;
            let bundle = EscrowText::parse_any(&bytes, &args.file.display().to_string())?;
            println!(
                "{}: valid recovery bundle of vault {} generation {}, key {}, {} of {}",
                args.file.display(),
                bundle.vault_name,
                bundle.generation,
                format_fingerprint(&bundle.fingerprint()),
                bundle.threshold,
                bundle.executive_names().join(", ")
            );
            Ok(())
        }
    }
}

fn import(args: ImportArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("{}: cannot read", args.file.display()))?;
    let bundle = EscrowText::parse_any(&bytes, &args.file.display().to_string())?;
    if bundle.vault_name != profile.name {
        bail!(
            "{}: bundle is for vault {:?} but profile {} is vault {:?}",
            args.file.display(),
            bundle.vault_name,
            args.profile.display(),
            profile.name
        );
    }
    let files = KeyFiles::new(&profile.store);
    if files.exists() {
        let current = files.load_bundle()?;
        if current == bundle {
            println!(
                "{}: identical bundle already installed",
                files.bundle_path().display()
            );
            return Ok(());
        }
        bail!(
            "{}: a different recovery bundle is already installed (vault id {} generation {}); nothing changed",
            files.bundle_path().display(),
            hex::encode(current.vault_id),
            current.generation
        );
    }
    files.install_bundle(&bundle)?;
    println!(
        "installed recovery bundle of vault {} (key {}) at {}",
        bundle.vault_name,
        format_fingerprint(&bundle.fingerprint()),
        files.bundle_path().display()
    );
    Ok(())
}
