//! `fuser::Filesystem` over a [`Drive`] ([`crate::vfs::VaultFs`] or [`crate::vfs::RecoveredFs`]): each method converts arguments, calls
//! the vault, and replies; errors go through the table in `errno.rs`.
//!
//! FUSE settings that matter here (measured, see SPEC §11): `FOPEN_DIRECT_IO` on
//! content (no second page-cache copy), 1 MiB max_write, readdirplus, 1 s TTLs.
//! Hard links and special files are refused with EPERM; extended attributes are
//! not offered: the xattr calls answer ENOSYS, which the kernel remembers for the
//! mount and turns into EOPNOTSUPP for callers, so the `security.capability`
//! lookup before writes and `ls -l`'s ACL probes stop costing a round trip; POSIX and flock locks are kept by the kernel (this
//! filesystem does not implement the lock calls, so they stay local to the mount).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::vfs::{Attr, AttrChange, Drive, FileKind, OpenMode, VfsError};

use super::errno::reported;

const TTL: Duration = Duration::from_secs(1);
const MAX_WRITE: u32 = 1024 * 1024;

/// The FUSE adapter.
pub struct FuseVault {
    vault: Arc<dyn Drive>,
}

impl FuseVault {
    /// Wraps a drive.
    pub fn new(vault: Arc<dyn Drive>) -> FuseVault {
        FuseVault { vault }
    }
}

fn time(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

fn ns_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos().min(i64::MAX as u128) as i64,
        Err(e) => -(e.duration().as_nanos().min(i64::MAX as u128) as i64),
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    let kind = match a.kind {
        FileKind::File => FileType::RegularFile,
        FileKind::Dir => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
    };
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: time(a.mtime_ns),
        mtime: time(a.mtime_ns),
        ctime: time(a.ctime_ns),
        crtime: time(a.ctime_ns),
        kind,
        perm: (a.mode & 0o7777) as u16,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn open_mode(flags: i32) -> OpenMode {
    let acc = OpenFlags(flags).acc_mode();
    OpenMode {
        read: matches!(acc, OpenAccMode::O_RDONLY | OpenAccMode::O_RDWR),
        write: matches!(acc, OpenAccMode::O_WRONLY | OpenAccMode::O_RDWR),
        truncate: flags & libc::O_TRUNC != 0,
        append: flags & libc::O_APPEND != 0,
    }
}

fn name(n: &OsStr) -> &[u8] {
    n.as_bytes()
}

impl Filesystem for FuseVault {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(MAX_WRITE);
        let _ = config.set_max_readahead(MAX_WRITE);
        let _ = config.add_capabilities(fuser::InitFlags::FUSE_DO_READDIRPLUS);
        // Without it the kernel opens without O_TRUNC and truncates afterwards, and
        // an overwrite of a sealed file would be refused as a read-modify-write.
        let _ = config.add_capabilities(fuser::InitFlags::FUSE_ATOMIC_O_TRUNC);
        Ok(())
    }

    fn destroy(&mut self) {
        if let Err(e) = self.vault.seal_all() {
            tracing::error!(error = %e, "sealing open files at unmount failed");
        }
    }

    fn lookup(&self, req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEntry) {
        match self.vault.lookup(parent.0, name(n), req.uid()) {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(reported("lookup", e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.vault.getattr(ino.0) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(reported("getattr", e)),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let change = AttrChange {
            mode,
            uid,
            gid,
            mtime_ns: mtime.map(|t| match t {
                TimeOrNow::SpecificTime(t) => ns_of(t),
                TimeOrNow::Now => ns_of(SystemTime::now()),
            }),
        };
        match self.vault.setattr(ino.0, &change, size, req.uid()) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(reported("setattr", e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.vault.readlink(ino.0) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(reported("readlink", e)),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(reported("mknod", VfsError::Unsupported("special files")));
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        n: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        match self
            .vault
            .mkdir(parent.0, name(n), mode & !umask, req.uid(), req.gid())
        {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(reported("mkdir", e)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEmpty) {
        match self.vault.unlink(parent.0, name(n)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(reported("unlink", e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEmpty) {
        match self.vault.rmdir(parent.0, name(n)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(reported("rmdir", e)),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let target = target.as_os_str().as_bytes();
        match self
            .vault
            .symlink(parent.0, name(link_name), target, req.uid(), req.gid())
        {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(reported("symlink", e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        n: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            reply.error(Errno::EINVAL);
            return;
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        match self
            .vault
            .rename(parent.0, name(n), newparent.0, name(newname), no_replace)
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(reported("rename", e)),
        }
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(reported("link", VfsError::Unsupported("hard links")));
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.vault.open(ino.0, open_mode(flags.0), req.uid()) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(reported("open", e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.vault.read(fh.0, offset, size as usize) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(reported("read", e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.vault.write(fh.0, offset, data) {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(reported("write", e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        match self.vault.flush(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(reported("flush", e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        match self.vault.release(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(reported("release", e)),
        }
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.vault.fsync(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(reported("fsync", e)),
        }
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.listing(ino.0, req.uid()) {
            Ok(e) => e,
            Err(e) => return reply.error(reported("readdir", e)),
        };
        for (i, (n, a)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(
                INodeNo(a.ino),
                (i + 1) as u64,
                file_attr(a).kind,
                OsStr::from_bytes(n),
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let entries = match self.listing(ino.0, req.uid()) {
            Ok(e) => e,
            Err(e) => return reply.error(reported("readdirplus", e)),
        };
        for (i, (n, a)) in entries.iter().enumerate().skip(offset as usize) {
            let full = reply.add(
                INodeNo(a.ino),
                (i + 1) as u64,
                OsStr::from_bytes(n),
                &TTL,
                &file_attr(a),
                Generation(0),
            );
            if full {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        const BSIZE: u64 = 4096;
        let used = self.vault.stored_bytes().div_ceil(BSIZE);
        let total = self
            .vault
            .quota()
            .map(|q| q / BSIZE)
            .unwrap_or(u64::MAX / BSIZE / 2);
        let free = total.saturating_sub(used);
        let files = self.vault.inode_count();
        reply.statfs(
            total,
            free,
            free,
            files,
            u64::MAX / 2,
            BSIZE as u32,
            255,
            BSIZE as u32,
        );
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::ENOSYS);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        n: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let open = open_mode(flags);
        match self
            .vault
            .create(parent.0, name(n), mode & !umask, req.uid(), req.gid(), open)
        {
            Ok((a, fh)) => reply.created(
                &TTL,
                &file_attr(&a),
                Generation(0),
                FileHandle(fh),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(reported("create", e)),
        }
    }
}

impl FuseVault {
    /// `.`, `..` and the entries of a directory.
    fn listing(&self, ino: u64, uid: u32) -> Result<Vec<(Vec<u8>, Attr)>, VfsError> {
        let me = self.vault.getattr(ino)?;
        let mut out = vec![(b".".to_vec(), me.clone()), (b"..".to_vec(), me)];
        out.extend(self.vault.readdir(ino, uid)?);
        Ok(out)
    }
}
