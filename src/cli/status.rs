//! `bcpvault status <profile> [--json]` and `bcpvault snapshot <profile>`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use bcpvault::daemon::client;
use bcpvault::daemon::protocol::{Request, Response};

use super::common::load_profile;

/// Arguments of `status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `snapshot`.
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
}

/// Prints the mount's state.
pub fn run(args: StatusArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    let Response::Status(s) = client::call(&profile.store, &profile.name, &Request::Status)? else {
        bail!("unexpected answer from the mount daemon");
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!("vault:        {}", s.vault);
    println!("mounted at:   {} (pid {})", s.mountpoint, s.pid);
    match &s.unlocked_until {
        Some(t) => println!(
            "state:        unlocked until {}",
            super::common::local_minute(t)
        ),
        None => println!("state:        sealed"),
    }
    println!(
        "approvals:    {} of {}{}",
        s.approvals,
        s.threshold,
        if s.approved_by.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.approved_by.join(", "))
        }
    );
    println!("open handles: {}", s.open_handles);
    match s.quota {
        Some(q) => println!("stored:       {} of {} bytes quota", s.stored_bytes, q),
        None => println!("stored:       {} bytes", s.stored_bytes),
    }
    println!(
        "last snapshot: {}",
        s.last_snapshot.as_deref().unwrap_or("none yet")
    );
    for line in &s.remotes {
        println!("{line}");
    }
    Ok(())
}

/// Commits the live drive as a snapshot.
pub fn snapshot(args: SnapshotArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    match client::call(&profile.store, &profile.name, &Request::Snapshot)? {
        Response::Snapshot { id } => println!("snapshot {id} committed (vault {})", profile.name),
        other => bail!("unexpected answer from the mount daemon: {other:?}"),
    }
    Ok(())
}
