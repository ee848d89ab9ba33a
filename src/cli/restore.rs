//! `bcpvault restore <profile> <target> [--snapshot ID|latest] [--path P]
//! [--remote NAME] --executive A --executive B`: unlock in memory, verify, decrypt,
//! write back. With `--remote` everything comes from the remote (its
//! `keys/recovery` and `config` too), so it works on a fresh machine whose store
//! directory is empty or missing.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use bcpvault::backend::{Credential, LocalBackend, ReadBackend};
use bcpvault::keys::{KeyFiles, format_fingerprint};
use bcpvault::repo::restore::restore;
use bcpvault::repo::source::{Keyring, RepoReader};

use super::approvals::{unlock, unlock_bundle};
use super::common::{ExecutiveArgs, load_profile};
use super::progress_bar::{Bar, size};
use super::remotes::{find_remote, open, remote_bundle};

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
    /// Restore from this remote only (no local store needed).
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    #[command(flatten)]
    pub exec: ExecutiveArgs,
}

/// Unlocks, restores, reports; fails if anything was left out.
pub fn run(args: RestoreArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let (backend, bundle, unlocked): (Box<dyn ReadBackend>, _, _) = match &args.remote {
        Some(name) => {
            let remote = find_remote(&profile, name)?;
            let backend = open(remote, Credential::Writer)?;
            let bundle = remote_bundle(&backend)?;
            println!(
                "vault {} key {} (compare with the ceremony record)",
                bundle.vault_name,
                format_fingerprint(&bundle.fingerprint())
            );
            let unlocked = unlock_bundle(bundle.clone(), &args.exec)?;
            (Box::new(backend), bundle, unlocked)
        }
        None => {
            let bundle = KeyFiles::new(&profile.store).load_bundle()?;
            let unlocked = unlock(&profile, &args.exec)?;
            let backend = LocalBackend::open(&profile.store.join("repo"))?;
            (Box::new(backend), bundle, unlocked)
        }
    };
    let keys = Keyring::new(&unlocked, &bundle)?;
    let mut reader = RepoReader::open(backend.as_ref(), &keys)?;
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
