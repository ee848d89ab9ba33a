//! `bcpvault forget <profile> --remote NAME [--keep-daily N] [--keep-weekly N]
//! [--keep-monthly N] [--keep-last N] [--prune --executive …] [--dry-run]`:
//! retention on a remote with the admin key.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use bcpvault::backend::Credential;
use bcpvault::profile::Retention;
use bcpvault::repo::source::Keyring;
use bcpvault::sync::forget::{forget, prune};

use super::approvals::unlock_bundle;
use super::common::{ExecutiveArgs, load_profile};
use super::progress_bar::size;
use super::remotes::{bundle_for, find_remote, open};

/// Arguments of `forget`.
#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// The remote to apply retention to (needs its admin_identity).
    #[arg(long, value_name = "NAME")]
    pub remote: String,
    /// Keep the newest snapshot of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the N newest snapshots.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Also delete packs no kept snapshot uses (needs executives: trees are encrypted).
    #[arg(long)]
    pub prune: bool,
    /// Show what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub exec: ExecutiveArgs,
}

/// Applies the policy (flags, else the profile's `[retention]`).
pub fn run(args: ForgetArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let remote = find_remote(&profile, &args.remote)?;
    if !args.prune && !args.exec.executives.is_empty() {
        bail!("--executive is only used with --prune");
    }
    let flags = Retention {
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
        keep_last: args.keep_last,
    };
    let policy = if flags.is_empty() {
        profile.retention
    } else {
        flags
    };
    let backend = open(remote, Credential::Admin)?;
    let bundle = bundle_for(&profile, &backend)?;
    // Unlock before deleting anything, so a wrong password changes nothing.
    let unlocked = if args.prune {
        Some(unlock_bundle(bundle.clone(), &args.exec)?)
    } else {
        None
    };
    let s = forget(
        &backend,
        &remote.name,
        &bundle,
        &policy,
        profile.timezone,
        args.dry_run,
    )?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for name in &s.removed {
        println!("{verb} {name}");
    }
    for name in &s.unverified {
        println!("left alone (does not verify; see check --remote): {name}");
    }
    println!(
        "remote {}: kept {} snapshot(s), {verb} {}",
        remote.name,
        s.kept.len(),
        s.removed.len()
    );
    if let Some(u) = &unlocked {
        let keys = Keyring::new(u, &bundle)?;
        let public = bundle.public_key()?;
        let p = prune(&backend, &remote.name, &keys, &[&public], args.dry_run)?;
        println!(
            "remote {}: prune {verb} {} pack(s) ({}), kept {} pack(s) in use, replaced {} index cop(ies)",
            remote.name,
            p.packs_removed,
            size(p.bytes_freed),
            p.packs_kept,
            p.indexes_replaced
        );
    }
    Ok(())
}
