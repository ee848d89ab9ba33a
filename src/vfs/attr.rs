//! Attributes as the platform adapters need them (`stat`).

use super::inode::{Ino, Inode, InodeKind};

/// File type for `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
}

/// What `stat` shows of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// Inode number.
    pub ino: Ino,
    /// Type.
    pub kind: FileKind,
    /// Length in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Status change time, ns since the epoch.
    pub ctime_ns: i64,
    /// Link count (directories: 2; the vault has no hard links).
    pub nlink: u32,
}

impl Attr {
    /// The read-only virtual status file (`/.bcpvault-status`) of `size` bytes.
    pub fn status_file(size: u64) -> Attr {
        let now = super::namespace::now_ns();
        Attr {
            ino: super::vault::STATUS_INO,
            kind: FileKind::File,
            size,
            mode: 0o444,
            uid: 0,
            gid: 0,
            mtime_ns: now,
            ctime_ns: now,
            nlink: 1,
        }
    }

    /// The attributes of a stored inode.
    pub fn of(inode: &Inode) -> Attr {
        let kind = match inode.kind {
            InodeKind::File { .. } => FileKind::File,
            InodeKind::Dir => FileKind::Dir,
            InodeKind::Symlink { .. } => FileKind::Symlink,
        };
        Attr {
            ino: inode.ino,
            kind,
            size: inode.size(),
            mode: inode.mode,
            uid: inode.uid,
            gid: inode.gid,
            mtime_ns: inode.mtime_ns,
            ctime_ns: inode.ctime_ns,
            nlink: if kind == FileKind::Dir { 2 } else { 1 },
        }
    }
}
