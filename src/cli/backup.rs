//! `bcpvault backup <profile> [<dir>…]`: snapshot folders of the file server
//! (the profile's `sources` when none are given). Needs no executive.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use bcpvault::repo::{Repository, backup};

use super::common::{load_profile, write_options};
use super::progress_bar::{Bar, size};

/// Arguments of `backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Folders or files to back up (default: the profile's `sources`).
    pub paths: Vec<PathBuf>,
}

/// Runs one backup and prints a summary line.
pub fn run(args: BackupArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let sources = if args.paths.is_empty() {
        profile.sources.clone()
    } else {
        args.paths.clone()
    };
    if sources.is_empty() {
        bail!(
            "{}: nothing to back up: give folders on the command line or set `sources` in the profile",
            args.profile.display()
        );
    }
    let repo = Repository::open(&profile.store)?;
    let bar = Bar::new("backup");
    let s = backup(
        &repo,
        &sources,
        &write_options(&profile),
        &host_name(),
        &bar,
    )?;
    bar.finish();
    let w = &s.write;
    let dedup = if w.new_bytes == 0 {
        "all".to_string()
    } else {
        format!("{:.1}x", s.logical_bytes as f64 / w.new_bytes as f64)
    };
    println!(
        "snapshot {} saved: {} files, {} folders, {} ({} read); new {} stored as {}; dedup {}; {:.1}s",
        s.snapshot.short(),
        s.files,
        s.dirs,
        size(s.logical_bytes),
        s.files_read,
        size(w.new_bytes),
        size(w.stored_bytes),
        dedup,
        s.elapsed.as_secs_f64()
    );
    for (path, why) in &s.skipped {
        println!("left out: {}: {why}", path.display());
    }
    if !s.skipped.is_empty() {
        bail!(
            "{} path(s) could not be read and were left out of snapshot {} (first: {}: {})",
            s.skipped.len(),
            s.snapshot.short(),
            s.skipped[0].0.display(),
            s.skipped[0].1
        );
    }
    Ok(())
}

/// This machine's host name, recorded (encrypted) in snapshots.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
