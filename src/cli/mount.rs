//! `bcpvault mount <profile> [--foreground]` and `bcpvault umount <profile>`.
//!
//! Without `--foreground`, `mount` starts the daemon as a background process of its
//! own (logging to `<store>/daemon.log`) and returns once the drive answers.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use bcpvault::daemon::{self, client, paths, protocol::Request};

use super::common::{load_profile, write_options};

/// Arguments of `mount`.
#[derive(Args, Debug)]
pub struct MountArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
    /// Stay in the foreground and log to stderr (systemd, debugging).
    #[arg(long)]
    pub foreground: bool,
}

/// Arguments of `umount`.
#[derive(Args, Debug)]
pub struct UmountArgs {
    /// Vault profile (TOML).
    pub profile: PathBuf,
}

/// Mounts the vault.
pub fn run(args: MountArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    if !bcpvault::keys::KeyFiles::new(&profile.store).exists() {
        bail!(
            "{}: no vault in store {} yet: run `bcpvault init {}` (the key ceremony) first",
            args.profile.display(),
            profile.store.display(),
            args.profile.display()
        );
    }
    if args.foreground {
        super::logging::init_stderr();
        daemon::serve(&profile, write_options(&profile))?;
        return Ok(());
    }
    let mountpoint =
        profile
            .mountpoint
            .clone()
            .ok_or_else(|| daemon::DaemonError::NoMountpoint {
                profile: profile.origin.clone(),
            })?;
    daemon::clear_dead_mount(&mountpoint, &profile.store, &profile.name)?;
    if daemon::is_mounted(&mountpoint) {
        bail!(daemon::DaemonError::AlreadyMounted {
            vault: profile.name.clone(),
            mountpoint
        });
    }
    let log_path = paths::log_file(&profile.store);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("{}: cannot open the daemon log", log_path.display()))?;
    let exe = std::env::current_exe().context("cannot find the bcpvault executable")?;
    let profile_path = std::fs::canonicalize(&args.profile)
        .with_context(|| format!("{}: cannot resolve", args.profile.display()))?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .arg("mount")
            .arg(&profile_path)
            .arg("--foreground")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("cannot start the mount daemon")?
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Some(status) = child.try_wait()? {
            let last = std::fs::read_to_string(&log_path)
                .ok()
                .and_then(|l| {
                    l.lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            bail!(
                "the mount daemon exited ({status}): {last} (log: {})",
                log_path.display()
            );
        }
        if daemon::is_mounted(&mountpoint)
            && client::call(&profile.store, &profile.name, &Request::Status).is_ok()
        {
            println!(
                "vault {} mounted at {} (sealed; pid {}, log {})",
                profile.name,
                mountpoint.display(),
                child.id(),
                log_path.display()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "the mount daemon did not come up within 60 s (log: {})",
        log_path.display()
    )
}

/// Seals open files and unmounts.
pub fn umount(args: UmountArgs) -> Result<()> {
    let profile = load_profile(&args.profile)?;
    client::call(&profile.store, &profile.name, &Request::Umount)?;
    let pid_file = paths::pid_file(&profile.store);
    let start = Instant::now();
    while pid_file.exists() && start.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if pid_file.exists() {
        bail!(
            "vault {}: the daemon did not stop within 10 minutes",
            profile.name
        );
    }
    println!(
        "vault {} unmounted; every open file was sealed",
        profile.name
    );
    Ok(())
}
