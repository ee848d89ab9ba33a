//! The mount daemon: serves the vault drive, holds the unlock state, answers the
//! control socket, group-commits every 300 ms and seals at the unlock's expiry.
//!
//! Lifecycle: open the store (replaying a crash's journal) → mount → bind the
//! control socket → serve until `bcpvault umount`, an external unmount, or
//! `fusermount3 -u`; then seal every open file, commit, unmount, remove the socket.

pub mod approvals;
pub mod client;
pub mod control;
pub mod error;
pub mod paths;
pub mod protocol;
pub mod recover;
pub mod schedule;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::profile::Profile;
use crate::repo::{Repository, WriteOptions};
use crate::vfs::{VaultFs, VaultOptions};

pub use error::DaemonError;

/// Whether `mountpoint` is currently a mount point (from `/proc/self/mounts`).
pub fn is_mounted(mountpoint: &Path) -> bool {
    let Ok(canon) = std::fs::canonicalize(mountpoint) else {
        return false;
    };
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts.lines().any(|l| {
        l.split(' ')
            .nth(1)
            .map(|m| m.replace("\\040", " "))
            .is_some_and(|m| Path::new(&m) == canon)
    })
}

/// Clears the mount a dead daemon left behind. A daemon that was just killed may
/// still be tearing down its threads (its FUSE connection not yet aborted), so a
/// mount whose daemon does not answer is waited for, up to 5 s, until it is dead.
pub fn clear_dead_mount(mountpoint: &Path, store: &Path, vault: &str) -> Result<(), DaemonError> {
    let start = std::time::Instant::now();
    loop {
        crate::mount::fuse::clear_stale(mountpoint)
            .map_err(|e| DaemonError::io(mountpoint, "clear a dead mount", e))?;
        if !is_mounted(mountpoint)
            || client::call(store, vault, &protocol::Request::Status).is_ok()
            || start.elapsed() > Duration::from_secs(5)
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn group_id(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        let g = f.next()?;
        let gid = f.nth(1)?.parse().ok()?;
        (g == name).then_some(gid)
    })
}

/// What every mount needs before it serves: the mount point (free, created),
/// its owner, the readers' uids and the control socket's group.
pub(crate) struct MountPrelude {
    pub(crate) mountpoint: std::path::PathBuf,
    pub(crate) owner: (u32, u32),
    pub(crate) readers: std::collections::HashSet<u32>,
    pub(crate) control_group: Option<u32>,
}

/// Checks and prepares the mount point and resolves the profile's accounts.
pub(crate) fn prepare_mount(profile: &Profile) -> Result<MountPrelude, DaemonError> {
    let mountpoint = profile
        .mountpoint
        .clone()
        .ok_or_else(|| DaemonError::NoMountpoint {
            profile: profile.origin.clone(),
        })?;
    clear_dead_mount(&mountpoint, &profile.store, &profile.name)?;
    if is_mounted(&mountpoint) {
        return Err(DaemonError::AlreadyMounted {
            vault: profile.name.clone(),
            mountpoint,
        });
    }
    std::fs::create_dir_all(&mountpoint)
        .map_err(|e| DaemonError::io(&mountpoint, "create the mount point", e))?;
    let (readers, unknown) = crate::mount::users::resolve(&profile.readers);
    for name in unknown {
        tracing::warn!(reader = %name, "profile reader is not a local account; ignored");
    }
    let meta = std::fs::metadata(&mountpoint)
        .map_err(|e| DaemonError::io(&mountpoint, "stat the mount point", e))?;
    let owner = {
        use std::os::unix::fs::MetadataExt;
        (meta.uid(), meta.gid())
    };
    let control_group = match &profile.mount.control_group {
        Some(g) => Some(group_id(g).ok_or_else(|| {
            DaemonError::Refused(format!(
                "{}: [mount] control_group = {g:?}: no such group",
                profile.origin.display()
            ))
        })?),
        None => None,
    };
    Ok(MountPrelude {
        mountpoint,
        owner,
        readers,
        control_group,
    })
}

/// Mounts `drive` and records the daemon's pid in the store; returns the FUSE
/// session and the pid file.
pub(crate) fn mount_drive(
    drive: Arc<dyn crate::vfs::Drive>,
    mountpoint: &Path,
    profile: &Profile,
) -> Result<(fuser::BackgroundSession, std::path::PathBuf), DaemonError> {
    let session =
        crate::mount::fuse::mount(drive, mountpoint, profile.mount.allow_other).map_err(|e| {
            DaemonError::io(
                mountpoint,
                "mount (is fuse3 installed, /dev/fuse present?)",
                e,
            )
        })?;
    let pid_file = paths::pid_file(&profile.store);
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))
        .map_err(|e| DaemonError::io(&pid_file, "write", e))?;
    Ok((session, pid_file))
}

/// Answers control connections (each through `on_conn`) and calls `tick` every
/// 300 ms, until `stopped` says so.
pub(crate) fn accept_loop(
    listener: &std::os::unix::net::UnixListener,
    socket: &Path,
    stopped: &dyn Fn() -> bool,
    mut on_conn: impl FnMut(std::os::unix::net::UnixStream),
    mut tick: impl FnMut(),
) -> Result<(), DaemonError> {
    listener
        .set_nonblocking(true)
        .map_err(|e| DaemonError::io(socket, "configure", e))?;
    let mut last_tick = std::time::Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                on_conn(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => tracing::warn!(error = %e, "control socket accept failed"),
        }
        if last_tick.elapsed() >= Duration::from_millis(300) {
            tick();
            last_tick = std::time::Instant::now();
        }
        if stopped() {
            return Ok(());
        }
    }
}

/// Mounts the vault of `profile` and serves it until told to stop. Returns after
/// a clean unmount.
pub fn serve(profile: &Profile, write: WriteOptions) -> Result<(), DaemonError> {
    let MountPrelude {
        mountpoint,
        owner,
        readers,
        control_group,
    } = prepare_mount(profile)?;
    let repo = Arc::new(Repository::open(&profile.store)?);
    let vault = Arc::new(VaultFs::new(
        repo.clone(),
        VaultOptions {
            write,
            staging_memory: profile.mount.staging_memory,
            readers,
            root_owner: owner,
        },
    )?);
    let socket = paths::socket(&profile.store);
    let listener = control::bind(&socket, control_group)?;
    let (session, pid_file) = mount_drive(vault.clone(), &mountpoint, profile)?;
    tracing::info!(vault = %profile.name, mountpoint = %mountpoint.display(), "mounted (sealed)");

    let shared = Arc::new(control::Shared {
        vault: vault.clone(),
        approvals: Mutex::new(approvals::Approvals::new(repo.bundle().clone())),
        unlock_ttl: profile.unlock_ttl,
        mountpoint: mountpoint.display().to_string(),
        stop: AtomicBool::new(false),
        host: hostname(),
        syncer: schedule::Syncer::new(profile.clone()),
    });
    let scheduler = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            while !shared.stop.load(Ordering::Acquire) {
                let due = shared.syncer.due(&shared.vault, chrono::Utc::now());
                if !due.is_empty() {
                    tracing::info!(remotes = due.len(), "scheduled sync due");
                    let _ = shared.syncer.run(&shared.vault, &shared.host, &due);
                }
                for _ in 0..20 {
                    if shared.stop.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
    };
    let stopped = || shared.stop.load(Ordering::Acquire) || session.guard.is_finished();
    accept_loop(
        &listener,
        &socket,
        &stopped,
        |stream| {
            let shared = shared.clone();
            std::thread::spawn(move || control::handle(&shared, stream));
        },
        || {
            if let Err(e) = vault.commit() {
                tracing::error!(error = %e, "group commit failed; will retry");
            }
            // Checking the view seals an expired unlock.
            vault.unlocked_until();
            let (p, _) = shared
                .approvals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .progress();
            vault.set_status_note(format!("approvals: {} of {}\n", p.have, p.need));
        },
    )?;
    shared.stop.store(true, Ordering::Release);
    let _ = scheduler.join();
    tracing::info!("stopping: sealing open files and unmounting");
    if let Err(e) = vault.seal_all() {
        tracing::error!(error = %e, "sealing open files at unmount failed");
    }
    vault.seal();
    if let Err(e) = session.umount_and_join() {
        tracing::warn!(error = %e, "unmount reported an error");
    }
    let _ = std::fs::remove_file(&socket);
    let committed = vault.commit();
    // Last: `bcpvault umount` returns once the pid file is gone (and the process
    // with it), and a command run right after must find everything committed.
    let _ = std::fs::remove_file(&pid_file);
    committed?;
    Ok(())
}

/// This machine's host name (recorded in snapshots).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
