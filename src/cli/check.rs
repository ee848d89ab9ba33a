//! `bcpvault check <profile> [--read-data --executive …]`: verify the store.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use bcpvault::repo::Repository;
use bcpvault::repo::check::check;
use bcpvault::repo::source::Keyring;

use super::approvals::unlock;
use super::common::{ExecutiveArgs, load_profile};
use super::progress_bar::{Bar, size};

/// Arguments of `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Also decrypt and verify every blob (needs executives).
    #[arg(long)]
    pub read_data: bool,
    #[command(flatten)]
    pub exec: ExecutiveArgs,
}

/// Runs the check; fails naming the first damaged object.
pub fn run(args: CheckArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let repo = Repository::open(&profile.store)?;
    let unlocked = if args.read_data {
        Some(unlock(&profile, &args.exec)?)
    } else {
        if !args.exec.executives.is_empty() {
            bail!("--executive is only used with --read-data");
        }
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
    for p in &r.problems {
        println!("{}: {}", p.object, p.problem);
    }
    println!(
        "checked {} objects ({}), {} snapshots{}: {}",
        r.objects,
        size(r.bytes),
        r.snapshots,
        if keys.is_some() {
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
            "check found {} problem(s); first: {}: {}",
            r.problems.len(),
            first.object,
            first.problem
        );
    }
    Ok(())
}
