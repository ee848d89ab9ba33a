//! `bcpvault snapshots <profile> [--json]`: list the store's snapshots (no key
//! needed: time, counts and sizes are public; names stay encrypted).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use bcpvault::backend::ReadBackend;
use bcpvault::repo::Repository;
use bcpvault::repo::id::snapshot_name;
use bcpvault::repo::snapshot::{Snapshot, format_time};

use super::common::load_profile;
use super::progress_bar::size;

/// Arguments of `snapshots`.
#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Row {
    id: String,
    time: String,
    files: u64,
    dirs: u64,
    bytes: u64,
    paths: Vec<String>,
    signature_ok: bool,
}

/// Prints the snapshot table.
pub fn run(args: SnapshotsArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let repo = Repository::open(&profile.store)?;
    let verifier = repo.verifying_key()?;
    let mut rows = Vec::new();
    for s in repo.local_snapshots()? {
        let bytes = repo.backend().read(&snapshot_name(&s.id))?;
        let parsed = Snapshot::parse(&bytes)?;
        rows.push(Row {
            id: s.id.to_hex(),
            time: format_time(parsed.header.time_us),
            files: parsed.header.files,
            dirs: parsed.header.dirs,
            bytes: parsed.header.logical_bytes,
            paths: s.paths,
            signature_ok: Snapshot::parse_verified(&bytes, &verifier).is_ok()
                && bcpvault::repo::ObjectId::of(&bytes) == s.id,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<10} {:<25} {:>8} {:>10}  paths",
        "id", "time", "files", "size"
    );
    for r in &rows {
        println!(
            "{:<10} {:<25} {:>8} {:>10}  {}{}",
            &r.id[..8],
            r.time,
            r.files,
            size(r.bytes),
            r.paths.join(", "),
            if r.signature_ok {
                ""
            } else {
                "  [BAD SIGNATURE OR HASH]"
            }
        );
    }
    println!("{} snapshot(s)", rows.len());
    Ok(())
}
