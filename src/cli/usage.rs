//! `bcpvault usage <profile> [--json]`: logical size, stored size, ratios, quota.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use bcpvault::repo::Repository;
use bcpvault::repo::usage::usage;

use super::common::load_profile;
use super::progress_bar::size;

/// Arguments of `usage`.
#[derive(Args, Debug)]
pub struct UsageArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prints the usage report.
pub fn run(args: UsageArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let repo = Repository::open(&profile.store)?;
    let u = usage(&repo, profile.quota)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&u)?);
        return Ok(());
    }
    println!("vault {} ({} snapshots)", profile.name, u.snapshots);
    println!(
        "  logical size (newest snapshot): {}",
        size(u.logical_bytes)
    );
    println!(
        "  unique data after dedup:        {} (dedup {:.2}x over all snapshots)",
        size(u.unique_bytes),
        u.dedup_ratio()
    );
    println!(
        "  stored (compressed, encrypted): {} in {} packs (compression {:.2}x)",
        size(u.stored_bytes),
        u.packs,
        u.compression_ratio()
    );
    match u.quota {
        Some(q) => println!(
            "  quota: {} of {} used ({:.1}%)",
            size(u.stored_bytes),
            size(q),
            u.stored_bytes as f64 * 100.0 / q as f64
        ),
        None => println!("  quota: none set"),
    }
    Ok(())
}
