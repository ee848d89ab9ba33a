//! `bcpvault mount <profile> [--foreground]`, `bcpvault mount --recover
//! [--remote NAME] [--cache-size SIZE] <profile>` and `bcpvault umount <profile>`.
//!
//! Without `--foreground`, `mount` starts the daemon as a background process of its
//! own (logging to `<store>/daemon.log`) and returns once the drive answers. With
//! `--recover` the remote is reached and its recovery bundle checked here first,
//! so a wrong name or an unreachable server is one line at the terminal.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use bcpvault::daemon::recover::{self, RecoverOptions, pick_remote};
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
    /// Recovery on a fresh machine: serve the vault read-only from a remote
    /// (the store holds only a cache of encrypted packs).
    #[arg(long)]
    pub recover: bool,
    /// The remote to recover from (default: the profile's first).
    #[arg(long, value_name = "NAME", requires = "recover")]
    pub remote: Option<String>,
    /// Bound of the local pack cache, e.g. "20 GiB".
    #[arg(
        long,
        value_name = "SIZE",
        requires = "recover",
        default_value = "2 GiB"
    )]
    pub cache_size: String,
}

impl MountArgs {
    /// A plain `bcpvault mount <profile>` (daemon in the background).
    pub fn background(profile: PathBuf) -> MountArgs {
        MountArgs {
            profile,
            foreground: false,
            recover: false,
            remote: None,
            cache_size: "2 GiB".into(),
        }
    }
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
    let has_vault = bcpvault::keys::KeyFiles::new(&profile.store).exists();
    let recover = if args.recover {
        let cache_bytes = bcpvault::profile::parse_size(&args.cache_size)
            .map_err(|e| anyhow::anyhow!("--cache-size {:?}: {e}", args.cache_size))?;
        if has_vault {
            bail!(
                "{}: store {} holds a vault: mount it without --recover (--recover is for a machine without the store)",
                args.profile.display(),
                profile.store.display()
            );
        }
        Some(RecoverOptions {
            remote: args.remote.clone(),
            cache_bytes,
        })
    } else {
        if !has_vault {
            bail!(
                "{}: no vault in store {} yet: run `bcpvault init {}` (the key ceremony) first, or `bcpvault mount --recover` to serve it from a remote",
                args.profile.display(),
                profile.store.display(),
                args.profile.display()
            );
        }
        None
    };
    if args.foreground {
        super::logging::init_stderr();
        match &recover {
            Some(opts) => recover::serve_recovered(&profile, opts)?,
            None => daemon::serve(&profile, write_options(&profile))?,
        }
        return Ok(());
    }
    let mut extra: Vec<String> = Vec::new();
    if let Some(opts) = &recover {
        let (remote, bundle) = recover::preflight(&profile, opts)?;
        println!(
            "vault {} key {} on {remote} (compare with the ceremony record)",
            bundle.vault_name,
            bcpvault::keys::format_fingerprint(&bundle.fingerprint())
        );
        // The daemon reaches the same remote: name it, so both agree.
        let name = pick_remote(&profile, opts.remote.as_deref())?.name.clone();
        extra = vec![
            "--recover".into(),
            "--remote".into(),
            name,
            "--cache-size".into(),
            opts.cache_bytes.to_string(),
        ];
        std::fs::create_dir_all(&profile.store)
            .with_context(|| format!("{}: cannot create the store", profile.store.display()))?;
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
            .args(&extra)
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
            let what = if recover.is_some() {
                "read-only recovery drive, sealed until executives unlock it"
            } else {
                "sealed"
            };
            println!(
                "vault {} mounted at {} ({what}; pid {}, log {})",
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
    let pid_file = paths::pid_file(&profile.store);
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok());
    client::call(&profile.store, &profile.name, &Request::Umount)?;
    let start = Instant::now();
    // The daemon's pid file goes after its last commit; the process (holding the
    // store's database lock) exits right after. Wait for both, so the next
    // command finds the store free.
    while (pid_file.exists() || pid.is_some_and(process_alive))
        && start.elapsed() < Duration::from_secs(600)
    {
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

/// Whether process `pid` still runs (a zombie has exited: it holds no locks).
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            // Field 3, after the parenthesised command name, is the state.
            let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
            !matches!(state, Some(Some('Z')) | Some(Some('X')))
        })
        .unwrap_or(false)
}
