//! `bcpvault sync <profile> [--remote NAME]`: back up the profile's `sources` (if
//! any), then copy what each remote lacks, snapshots last.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use bcpvault::repo::Repository;
use bcpvault::sync::sync_remote;

use super::backup::{BackupArgs, run as run_backup};
use super::common::load_profile;
use super::progress_bar::{Bar, size};
use super::remotes::find_remote;

/// Arguments of `sync`.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Sync only this remote (default: every remote of the profile).
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
}

/// Runs the backup, then each remote's sync; one summary line per remote.
pub fn run(args: SyncArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let remotes = match &args.remote {
        Some(name) => vec![find_remote(&profile, name)?.clone()],
        None if profile.remotes.is_empty() => bail!(
            "{}: nothing to sync to: the profile has no [[remote]] table",
            args.profile.display()
        ),
        None => profile.remotes.clone(),
    };
    // While the drive is mounted the daemon owns the store: it backs up the
    // sources, snapshots the live drive and syncs.
    let request = bcpvault::daemon::protocol::Request::Sync {
        remote: args.remote.clone(),
    };
    if bcpvault::daemon::client::call(
        &profile.store,
        &profile.name,
        &bcpvault::daemon::protocol::Request::Status,
    )
    .is_ok()
    {
        match bcpvault::daemon::client::call(&profile.store, &profile.name, &request)? {
            bcpvault::daemon::protocol::Response::Synced { lines } => {
                for l in lines {
                    println!("{l}");
                }
                return Ok(());
            }
            other => bail!("unexpected answer from the mount daemon: {other:?}"),
        }
    }
    if !profile.sources.is_empty() {
        // Before the backup, so its snapshot keeps off packs a prune deleted.
        let repo = Repository::open(&profile.store)?;
        for remote in &remotes {
            // An unreachable remote is reported by its sync below.
            if let Ok(p) = bcpvault::sync::take_in_prunes(&repo, remote, None)
                && p.markers > 0
            {
                println!(
                    "remote {}: prune taken in: {} deleted pack(s) retired here, {} object(s) to upload again",
                    remote.name, p.retired, p.restored
                );
            }
        }
    }
    let backup_error = if profile.sources.is_empty() {
        None
    } else {
        run_backup(BackupArgs {
            profile: args.profile.clone(),
            paths: Vec::new(),
        })
        .err()
    };
    let repo = Repository::open(&profile.store)?;
    let mut failed = Vec::new();
    for remote in &remotes {
        let bar = Bar::new(&format!("sync {}", remote.name));
        let result = sync_remote(&repo, remote, &bar);
        bar.finish();
        match result {
            Ok(s) => {
                let secs = s.elapsed.as_secs_f64();
                println!(
                    "remote {}: {} object(s) sent ({}, {}/s), {} already there, {} new snapshot(s), {:.1}s",
                    s.remote,
                    s.uploaded,
                    size(s.bytes_sent),
                    size((s.bytes_sent as f64 / secs.max(0.001)) as u64),
                    s.already_present,
                    s.snapshots,
                    secs
                );
            }
            Err(e) => {
                println!("sync failed: {e}");
                failed.push(e.to_string());
            }
        }
    }
    if let Some(e) = backup_error {
        bail!(
            "backup before sync: {}{}",
            super::one_line(&e),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; sync: {}", failed.join("; "))
            }
        );
    }
    if !failed.is_empty() {
        bail!("sync failed: {}", failed.join("; "));
    }
    Ok(())
}
