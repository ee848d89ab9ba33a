//! `bcpvault check <profile> [--remote NAME] [--read-data --executive …]`: verify
//! the store, or a remote (read through a hash-verifying backend; no local DB).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use bcpvault::backend::{Credential, VerifyingBackend};
use bcpvault::repo::Repository;
use bcpvault::repo::check::{CheckReport, check};
use bcpvault::repo::source::Keyring;

use super::approvals::{unlock, unlock_bundle};
use super::common::{ExecutiveArgs, load_profile};
use super::progress_bar::{Bar, size};
use super::remotes::{bundle_for, find_remote, open};

/// Arguments of `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Also decrypt and verify every blob (needs executives).
    #[arg(long)]
    pub read_data: bool,
    /// Check this remote instead of the local store.
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    #[command(flatten)]
    pub exec: ExecutiveArgs,
}

/// Runs the check; fails naming the first damaged object.
pub fn run(args: CheckArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    if !args.read_data && !args.exec.executives.is_empty() {
        bail!("--executive is only used with --read-data");
    }
    if let Some(name) = &args.remote {
        let remote = find_remote(&profile, name)?;
        let backend = VerifyingBackend::new(open(remote, Credential::Writer)?);
        let bundle = bundle_for(&profile, &backend)?;
        let unlocked = if args.read_data {
            Some(unlock_bundle(bundle.clone(), &args.exec)?)
        } else {
            None
        };
        let keys = match &unlocked {
            Some(u) => Some(Keyring::new(u, &bundle)?),
            None => None,
        };
        let bar = Bar::new("check");
        let r = check(&backend, &bundle, None, keys.as_ref(), &bar)?;
        bar.finish();
        return report(&r, keys.is_some(), &format!("remote {name}"));
    }
    let repo = Repository::open(&profile.store)?;
    let unlocked = if args.read_data {
        Some(unlock(&profile, &args.exec)?)
    } else {
        None
    };
    let keys = match &unlocked {
        Some(u) => Some(Keyring::new(u, repo.bundle())?),
        None => None,
    };
    let bar = Bar::new("check");
    let r = check(
        repo.backend(),
        repo.bundle(),
        Some(&repo),
        keys.as_ref(),
        &bar,
    )?;
    bar.finish();
    report(&r, keys.is_some(), "store")
}

/// Prints the problems and the summary line; fails naming the first problem.
fn report(r: &CheckReport, decrypted: bool, what: &str) -> Result<()> {
    for p in &r.problems {
        println!("{}: {}", p.object, p.problem);
    }
    println!(
        "checked {what}: {} objects ({}), {} snapshots{}: {}",
        r.objects,
        size(r.bytes),
        r.snapshots,
        if decrypted {
            format!(", {} blobs decrypted", r.blobs)
        } else {
            String::new()
        },
        if r.ok() {
            "no problems".to_string()
        } else {
            format!("{} problem(s)", r.problems.len())
        }
    );
    if let Some(first) = r.problems.first() {
        bail!(
            "check of {what} found {} problem(s); first: {}: {}",
            r.problems.len(),
            first.object,
            first.problem
        );
    }
    Ok(())
}
