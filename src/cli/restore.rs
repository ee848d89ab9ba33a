//! `bcpvault restore <profile> <target> [--snapshot ID|latest] [--path P]
//! --executive A --executive B`: unlock in memory, verify, decrypt, write back.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use bcpvault::backend::LocalBackend;
use bcpvault::keys::KeyFiles;
use bcpvault::repo::restore::restore;
use bcpvault::repo::source::{Keyring, RepoReader};

use super::approvals::unlock;
use super::common::{ExecutiveArgs, load_profile};
use super::progress_bar::{Bar, size};

/// Arguments of `restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Folder to restore into (created if missing; existing files are never overwritten).
    pub target: PathBuf,
    /// Snapshot id (or a unique prefix), or `latest`.
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
    /// Restore only this file or folder (its path inside the snapshot).
    #[arg(long)]
    pub path: Option<String>,
    #[command(flatten)]
    pub exec: ExecutiveArgs,
}

/// Unlocks, restores, reports; fails if anything was left out.
pub fn run(args: RestoreArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let bundle = KeyFiles::new(&profile.store).load_bundle()?;
    let unlocked = unlock(&profile, &args.exec)?;
    let keys = Keyring::new(&unlocked, &bundle)?;
    let backend = LocalBackend::open(&profile.store.join("repo"))?;
    let mut reader = RepoReader::open(&backend, &keys)?;
    let bar = Bar::new("restore");
    let s = restore(
        &mut reader,
        &args.snapshot,
        args.path.as_deref(),
        &args.target,
        &bar,
    )?;
    bar.finish();
    println!(
        "restored snapshot {} into {}: {} files, {} folders, {} symlinks, {}",
        s.snapshot.short(),
        args.target.display(),
        s.files,
        s.dirs,
        s.symlinks,
        size(s.bytes)
    );
    for (object, problem) in &s.bad_objects {
        println!("refused {object}: {problem}");
    }
    for (path, why) in &s.failed {
        println!("not restored: {}: {why}", path.display());
    }
    if !s.failed.is_empty() || !s.bad_objects.is_empty() {
        let objects: Vec<&str> = s.bad_objects.iter().map(|(o, _)| o.as_str()).collect();
        bail!(
            "restore incomplete: {} path(s) not restored; refused damaged or tampered object(s): {}",
            s.failed.len(),
            if objects.is_empty() {
                "none".to_string()
            } else {
                objects.join(", ")
            }
        );
    }
    Ok(())
}
