//! Linux adapter: the vault drive as a FUSE filesystem (`fuser`, mounted through
//! `fusermount3`, no libfuse).

mod errno;
mod ops;

use std::path::Path;
use std::sync::Arc;

use fuser::{BackgroundSession, Config, MountOption, SessionACL};

use crate::vfs::Drive;

pub use errno::errno;
pub use ops::FuseVault;

/// Mounts `vault` (the vault drive or a recovery drive) at `mountpoint` and serves it on background threads until the
/// returned session is dropped or the filesystem is unmounted.
///
/// `allow_other` lets other OS users reach the drive (needs `user_allow_other` in
/// `/etc/fuse.conf` unless root). `auto_unmount` is not used: its fusermount3
/// watcher did not survive the daemon being started in a process group of its own
/// (the unmount then hung); a daemon that died leaves a dead mount point that
/// [`clear_stale`] removes at the next start.
pub fn mount(
    vault: Arc<dyn Drive>,
    mountpoint: &Path,
    allow_other: bool,
) -> std::io::Result<BackgroundSession> {
    let mut cfg = Config::default();
    cfg.mount_options = vec![
        MountOption::FSName(format!("bcpvault:{}", vault.vault_name())),
        MountOption::Subtype("bcpvault".to_string()),
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if vault.read_only() {
        cfg.mount_options.push(MountOption::RO);
    }
    // Readers other than the daemon's owner need allow_other.
    cfg.acl = if allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    cfg.n_threads = Some(2);
    fuser::spawn_mount(FuseVault::new(vault), mountpoint, &cfg)
}

/// Lazily unmounts a mount point whose daemon is gone (ENOTCONN on stat), so a
/// crashed daemon can be restarted. Returns whether something was cleared.
pub fn clear_stale(mountpoint: &Path) -> std::io::Result<bool> {
    match std::fs::metadata(mountpoint) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {}
        _ => return Ok(false),
    }
    let status = std::process::Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(mountpoint)
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "fusermount3 -u -z {} failed ({status})",
            mountpoint.display()
        )));
    }
    tracing::warn!(mountpoint = %mountpoint.display(), "cleared the dead mount of a daemon that died");
    Ok(true)
}
