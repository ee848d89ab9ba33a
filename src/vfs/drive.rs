//! [`Drive`]: what a platform adapter (FUSE, WinFsp) serves. Two filesystems
//! implement it: the vault drive of a file server ([`VaultFs`]) and the read-only
//! drive of a recovery machine ([`RecoveredFs`]), so one adapter serves both.
//!
//! The methods mirror the adapters' requests; see [`VaultFs`] for their meaning.

use super::attr::Attr;
use super::error::VfsResult;
use super::inode::Ino;
use super::namespace::AttrChange;
use super::recovered::RecoveredFs;
use super::vault::{OpenMode, VaultFs};

/// A filesystem an adapter can mount.
#[allow(missing_docs)]
pub trait Drive: Send + Sync {
    /// The vault's name (the mount's file-system name).
    fn vault_name(&self) -> String;
    fn getattr(&self, ino: Ino) -> VfsResult<Attr>;
    fn lookup(&self, parent: Ino, name: &[u8], uid: u32) -> VfsResult<Attr>;
    fn readdir(&self, ino: Ino, uid: u32) -> VfsResult<Vec<(Vec<u8>, Attr)>>;
    fn mkdir(&self, parent: Ino, name: &[u8], mode: u32, uid: u32, gid: u32) -> VfsResult<Attr>;
    fn symlink(
        &self,
        parent: Ino,
        name: &[u8],
        target: &[u8],
        uid: u32,
        gid: u32,
    ) -> VfsResult<Attr>;
    fn readlink(&self, ino: Ino) -> VfsResult<Vec<u8>>;
    fn unlink(&self, parent: Ino, name: &[u8]) -> VfsResult<()>;
    fn rmdir(&self, parent: Ino, name: &[u8]) -> VfsResult<()>;
    fn rename(
        &self,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
        no_replace: bool,
    ) -> VfsResult<()>;
    fn setattr(
        &self,
        ino: Ino,
        change: &AttrChange,
        size: Option<u64>,
        uid: u32,
    ) -> VfsResult<Attr>;
    fn open(&self, ino: Ino, mode: OpenMode, uid: u32) -> VfsResult<u64>;
    fn create(
        &self,
        parent: Ino,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
        open: OpenMode,
    ) -> VfsResult<(Attr, u64)>;
    fn read(&self, fh: u64, offset: u64, len: usize) -> VfsResult<Vec<u8>>;
    fn write(&self, fh: u64, offset: u64, data: &[u8]) -> VfsResult<usize>;
    fn flush(&self, fh: u64) -> VfsResult<()>;
    fn fsync(&self, fh: u64) -> VfsResult<()>;
    fn release(&self, fh: u64) -> VfsResult<()>;
    /// Seals every open file (unmount).
    fn seal_all(&self) -> VfsResult<()>;
    /// Bytes used (statfs).
    fn stored_bytes(&self) -> u64;
    /// Size limit, if any (statfs).
    fn quota(&self) -> Option<u64>;
    /// Number of inodes (statfs).
    fn inode_count(&self) -> u64;
    /// Whether the whole drive is read-only (mounted so: the kernel refuses
    /// changes with EROFS before asking).
    fn read_only(&self) -> bool {
        false
    }
}

/// Forwards each request to the inherent method of the same name.
macro_rules! forward {
    ($t:ty, $name:expr, $ro:expr) => {
        impl Drive for $t {
            fn read_only(&self) -> bool {
                $ro
            }
            fn vault_name(&self) -> String {
                $name(self)
            }
            fn getattr(&self, ino: Ino) -> VfsResult<Attr> {
                <$t>::getattr(self, ino)
            }
            fn lookup(&self, parent: Ino, name: &[u8], uid: u32) -> VfsResult<Attr> {
                <$t>::lookup(self, parent, name, uid)
            }
            fn readdir(&self, ino: Ino, uid: u32) -> VfsResult<Vec<(Vec<u8>, Attr)>> {
                <$t>::readdir(self, ino, uid)
            }
            fn mkdir(
                &self,
                parent: Ino,
                name: &[u8],
                mode: u32,
                uid: u32,
                gid: u32,
            ) -> VfsResult<Attr> {
                <$t>::mkdir(self, parent, name, mode, uid, gid)
            }
            fn symlink(
                &self,
                parent: Ino,
                name: &[u8],
                target: &[u8],
                uid: u32,
                gid: u32,
            ) -> VfsResult<Attr> {
                <$t>::symlink(self, parent, name, target, uid, gid)
            }
            fn readlink(&self, ino: Ino) -> VfsResult<Vec<u8>> {
                <$t>::readlink(self, ino)
            }
            fn unlink(&self, parent: Ino, name: &[u8]) -> VfsResult<()> {
                <$t>::unlink(self, parent, name)
            }
            fn rmdir(&self, parent: Ino, name: &[u8]) -> VfsResult<()> {
                <$t>::rmdir(self, parent, name)
            }
            fn rename(
                &self,
                parent: Ino,
                name: &[u8],
                new_parent: Ino,
                new_name: &[u8],
                no_replace: bool,
            ) -> VfsResult<()> {
                <$t>::rename(self, parent, name, new_parent, new_name, no_replace)
            }
            fn setattr(
                &self,
                ino: Ino,
                change: &AttrChange,
                size: Option<u64>,
                uid: u32,
            ) -> VfsResult<Attr> {
                <$t>::setattr(self, ino, change, size, uid)
            }
            fn open(&self, ino: Ino, mode: OpenMode, uid: u32) -> VfsResult<u64> {
                <$t>::open(self, ino, mode, uid)
            }
            fn create(
                &self,
                parent: Ino,
                name: &[u8],
                mode: u32,
                uid: u32,
                gid: u32,
                open: OpenMode,
            ) -> VfsResult<(Attr, u64)> {
                <$t>::create(self, parent, name, mode, uid, gid, open)
            }
            fn read(&self, fh: u64, offset: u64, len: usize) -> VfsResult<Vec<u8>> {
                <$t>::read(self, fh, offset, len)
            }
            fn write(&self, fh: u64, offset: u64, data: &[u8]) -> VfsResult<usize> {
                <$t>::write(self, fh, offset, data)
            }
            fn flush(&self, fh: u64) -> VfsResult<()> {
                <$t>::flush(self, fh)
            }
            fn fsync(&self, fh: u64) -> VfsResult<()> {
                <$t>::fsync(self, fh)
            }
            fn release(&self, fh: u64) -> VfsResult<()> {
                <$t>::release(self, fh)
            }
            fn seal_all(&self) -> VfsResult<()> {
                <$t>::seal_all(self)
            }
            fn stored_bytes(&self) -> u64 {
                <$t>::stored_bytes(self)
            }
            fn quota(&self) -> Option<u64> {
                <$t>::quota(self)
            }
            fn inode_count(&self) -> u64 {
                <$t>::inode_count(self)
            }
        }
    };
}

forward!(
    VaultFs,
    |v: &VaultFs| v.repo().bundle().vault_name.clone(),
    false
);
forward!(
    RecoveredFs,
    |v: &RecoveredFs| v.vault_name().to_string(),
    true
);
