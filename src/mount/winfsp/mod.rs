//! Windows adapter: the vault drive as a WinFsp file system (`winfsp` crate).
//!
//! Built only on Windows with the `winfsp` cargo feature (GPL-3.0 dependency, off
//! by default). Everything that can be decided without Windows — the NTSTATUS
//! table, FILETIMEs, path splitting, attributes, open modes, SIDs — lives in the
//! platform-free `mount::{ntstatus, wintime, winpath, winattr, winopen, winsid}`
//! modules, which are tested on Linux; this module only wires them to WinFsp.

mod ops;

use std::sync::Arc;

use winfsp::host::{FileSystemHost, FineGuard, VolumeParams};

use crate::mount::winsid::SidMap;
use crate::mount::wintime;
use crate::vfs::VaultFs;

pub use ops::{WinFile, WinVault};

/// How long Windows may cache file and directory information, in ms. Not
/// `u32::MAX`: that would turn on WinFsp's cache manager, whose lazy writes
/// would arrive after the close that promised the file was sealed (the FUSE
/// adapter uses direct I/O for the same reason).
const INFO_TIMEOUT_MS: u32 = 1000;

/// A mounted vault drive. Dropping it unmounts the drive, stops the dispatcher
/// (which seals the files still open) and frees WinFsp's resources.
pub struct Mounted {
    // Only held: its Drop unmounts and stops.
    _host: FileSystemHost<WinVault, FineGuard>,
}

impl Mounted {
    /// Unmounts now (the same as dropping).
    pub fn unmount(self) {
        drop(self);
    }
}

/// Mounts `vault` on `drive` (`"V:"`) and serves it on WinFsp's dispatcher
/// threads until the returned [`Mounted`] is dropped.
///
/// `prefix` is the network volume prefix (`\bcpvault\soumu`) when the drive is
/// started by the WinFsp Launcher for `net use V: \\bcpvault\soumu`; `None`
/// mounts a local disk volume. `readers` maps the callers' SIDs to the uids the
/// vault knows (see [`SidMap`]); the daemon must have put
/// [`SidMap::reader_uids`] into the vault's `readers`.
pub fn mount(
    vault: Arc<VaultFs>,
    drive: &str,
    prefix: Option<&str>,
    readers: SidMap,
) -> std::io::Result<Mounted> {
    winfsp::winfsp_init().map_err(|e| fsp_io("loading WinFsp (is it installed?)", &e))?;
    let name = vault.repo().bundle().vault_name.clone();

    let mut params = VolumeParams::new();
    params
        .filesystem_name("bcpvault")
        .sector_size(512)
        .sectors_per_allocation_unit(8)
        .max_component_length(255)
        .volume_creation_time(wintime::filetime_from_unix_ns(
            crate::vfs::namespace::now_ns(),
        ))
        .volume_serial_number(serial_of(&name))
        .file_info_timeout(INFO_TIMEOUT_MS)
        // The vault's names are bytes: two names differing in case are two files.
        .case_sensitive_search(true)
        .case_preserved_names(true)
        .unicode_on_disk(true)
        // No security descriptors: the vault itself decides (sealed, readers).
        .persistent_acls(false)
        .reparse_points(false)
        .named_streams(false)
        .extended_attributes(false)
        // Cleanup seals (and deletes): it must come for every handle.
        .post_cleanup_when_modified_only(false);
    if let Some(prefix) = prefix {
        params.prefix(prefix);
    }

    // Fine-grained guard: WinFsp serialises namespace changes, I/O runs in
    // parallel (VaultFs locks per file).
    let mut host: FileSystemHost<WinVault, FineGuard> =
        FileSystemHost::new(params, WinVault::new(vault, readers))
            .map_err(|e| std::io::Error::other(format!("creating the WinFsp file system: {e}")))?;
    host.mount(drive)
        .map_err(|e| std::io::Error::other(format!("mounting {drive}: {e}")))?;
    host.start()
        .map_err(|e| std::io::Error::other(format!("starting the WinFsp dispatcher: {e}")))?;
    tracing::info!(drive, prefix = prefix.unwrap_or(""), vault = %name, "vault drive mounted (WinFsp)");
    Ok(Mounted { _host: host })
}

/// A volume serial number derived from the vault name, so the same vault keeps
/// its serial across mounts (Windows uses it to recognise a volume).
fn serial_of(name: &str) -> u32 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(name.as_bytes());
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

fn fsp_io(what: &str, e: &winfsp::FspError) -> std::io::Error {
    std::io::Error::other(format!("{what}: NTSTATUS {:#010x}", e.to_ntstatus() as u32))
}
