//! `winfsp::filesystem::FileSystemContext` over [`VaultFs`]: each method converts
//! arguments with the platform-free helpers, calls the vault, and fills WinFsp's
//! reply; errors go through the table in `mount/ntstatus.rs`.
//!
//! How Windows requests line up with the vault's FUSE-shaped calls:
//! - `open`/`create` → `VaultFs::open`/`create`, but only when the caller asked
//!   for data: attribute-only opens (Explorer, `dir`) need no vault handle and so
//!   work on a sealed vault. An overwrite disposition opens with truncation.
//! - `cleanup` (the caller's last `CloseHandle`) → FLUSH: the file is sealed
//!   before the close returns, and a pending delete is carried out.
//! - `close` (after the last I/O) → RELEASE.
//! - `flush` (`FlushFileBuffers`) → `fsync`; a volume flush → group commit.
//!
//! The caller's identity comes from the access token of the create request: its
//! user SID is mapped to a uid by [`SidMap`].

use std::ffi::c_void;
use std::sync::{Arc, Mutex};

use winfsp::U16CStr;
use winfsp::constants::FspCleanupFlags;
use winfsp::filesystem::{
    DirBuffer, DirInfo, DirMarker, FileInfo, FileSecurity, FileSystemContext, OpenFileInfo,
    VolumeInfo, WideNameInfo,
};
use winfsp::{FspError, Result};

use crate::mount::ntstatus::{self, reported};
use crate::mount::winsid::{self, SidMap};
use crate::mount::{winattr, winopen, winpath, wintime};
use crate::vfs::{Attr, AttrChange, FileKind, Ino, ROOT, STATUS_INO, VaultFs, VfsError};

/// The WinFsp adapter.
pub struct WinVault {
    vault: Arc<VaultFs>,
    readers: SidMap,
}

/// One open handle: a file or directory, with the vault handle if the caller
/// asked for data.
pub struct WinFile {
    ino: Ino,
    dir: bool,
    uid: u32,
    fh: Option<u64>,
    /// Last component, for the HIDDEN attribute (updated by rename).
    name: Mutex<Vec<u8>>,
    /// WinFsp's buffer of directory entries, filled on the first read.
    listing: DirBuffer,
}

impl WinFile {
    fn new(ino: Ino, dir: bool, uid: u32, fh: Option<u64>, name: Vec<u8>) -> WinFile {
        WinFile {
            ino,
            dir,
            uid,
            fh,
            name: Mutex::new(name),
            listing: DirBuffer::new(),
        }
    }

    fn name(&self) -> Vec<u8> {
        self.name.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn status(code: i32) -> FspError {
    FspError::NTSTATUS(code)
}

fn fail(op: &'static str, e: VfsError) -> FspError {
    status(reported(op, e))
}

fn fill(info: &mut FileInfo, a: &Attr, name: &[u8]) {
    let mtime = wintime::filetime_from_unix_ns(a.mtime_ns);
    let ctime = wintime::filetime_from_unix_ns(a.ctime_ns);
    info.file_attributes = winattr::attributes(a, name);
    info.reparse_tag = 0;
    info.file_size = a.size;
    info.allocation_size = winattr::allocation_size(a.size);
    // The vault keeps no birth time; like the FUSE adapter's crtime, ctime stands in.
    info.creation_time = ctime;
    info.last_access_time = mtime;
    info.last_write_time = mtime;
    info.change_time = ctime;
    info.index_number = a.ino;
    info.hard_links = 0;
    info.ea_size = 0;
}

impl WinVault {
    /// Wraps a vault; `readers` maps caller SIDs to uids.
    pub fn new(vault: Arc<VaultFs>, readers: SidMap) -> WinVault {
        WinVault { vault, readers }
    }

    /// The uid of the caller of the current create request (open, create and
    /// the security lookup before them); [`winsid::OTHER_UID`] if it cannot be
    /// read.
    fn caller_uid(&self) -> u32 {
        match self.caller_sid() {
            Some(sid) => self.readers.uid_of(&sid),
            None => {
                tracing::warn!("caller's SID unreadable: treated as a non-reader");
                winsid::OTHER_UID
            }
        }
    }

    fn caller_sid(&self) -> Option<String> {
        use windows::Win32::Foundation::HANDLE;
        use windows::Win32::Security::{GetTokenInformation, TOKEN_USER, TokenUser};

        // SAFETY: called only while servicing open/create/get_security_by_name on
        // the dispatcher thread, so WinFsp's operation context (thread-local) holds
        // the current request. All three run for a Create request, whose `Req`
        // union member is `Create`; the closure reads that union member only after
        // checking Kind (the closure is inside this block, so it needs no block of
        // its own).
        let token = unsafe {
            self.with_operation_request(|req| {
                let create = winfsp::constants::FspTransactKind::FspFsctlTransactCreateKind as u32;
                if req.Kind != create {
                    return None;
                }
                Some(req.Req.Create.AccessToken)
            })
        }
        .flatten()?;
        let handle = HANDLE(token as usize as *mut c_void);

        let mut len = 0u32;
        // SAFETY: a size query: no buffer, `len` is a valid out pointer. The token
        // handle stays open until WinFsp answers the request we are serving.
        let _ = unsafe { GetTokenInformation(handle, TokenUser, None, 0, &mut len) };
        if len == 0 {
            return None;
        }
        // u64 elements: TOKEN_USER holds pointers and must be 8-byte aligned.
        let mut buf = vec![0u64; (len as usize).div_ceil(8)];
        // SAFETY: `buf` has room for `len` bytes and outlives the call.
        unsafe {
            GetTokenInformation(
                handle,
                TokenUser,
                Some(buf.as_mut_ptr().cast()),
                len,
                &mut len,
            )
        }
        .ok()?;
        // SAFETY: the call succeeded, so `buf` starts with an initialised, aligned
        // TOKEN_USER; all of `buf` is initialised (zeroed, then written).
        let (sid_ptr, bytes) = unsafe {
            let user = &*buf.as_ptr().cast::<TOKEN_USER>();
            (
                user.User.Sid.0 as usize,
                std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), buf.len() * 8),
            )
        };
        // The SID lies inside the same buffer, after the TOKEN_USER header; read
        // it from the byte slice (bounds-checked) rather than through the pointer.
        let start = sid_ptr.checked_sub(bytes.as_ptr() as usize)?;
        let raw = bytes.get(start..)?;
        let raw = raw.get(..winsid::sid_len(raw)?)?;
        winsid::sid_string(raw)
    }

    /// The entry at `path` and its last component (empty for the root).
    fn resolve(&self, path: &U16CStr, uid: u32) -> Result<(Attr, Vec<u8>)> {
        let split = winpath::split(path.as_slice()).map_err(|e| fail("path", e))?;
        let parent = self.walk(&split.dirs, uid)?;
        match split.name {
            None => Ok((
                self.vault.getattr(ROOT).map_err(|e| fail("getattr", e))?,
                Vec::new(),
            )),
            Some(name) => {
                let attr = self
                    .vault
                    .lookup(parent, &name, uid)
                    .map_err(|e| fail("lookup", e))?;
                Ok((attr, name))
            }
        }
    }

    /// The directory at the end of `dirs`, from the root.
    fn walk(&self, dirs: &[Vec<u8>], uid: u32) -> Result<Ino> {
        let mut ino = ROOT;
        for d in dirs {
            let attr = self
                .vault
                .lookup(ino, d, uid)
                .map_err(|e| status(ntstatus::on_the_way(&e)))?;
            if attr.kind != FileKind::Dir {
                return Err(status(ntstatus::STATUS_OBJECT_PATH_NOT_FOUND));
            }
            ino = attr.ino;
        }
        Ok(ino)
    }

    /// The parent directory and last component of `path`; the root has none.
    fn parent_of(&self, path: &U16CStr, uid: u32) -> Result<(Ino, Vec<u8>)> {
        let split = winpath::split(path.as_slice()).map_err(|e| fail("path", e))?;
        let Some(name) = split.name else {
            return Err(status(ntstatus::STATUS_ACCESS_DENIED));
        };
        Ok((self.walk(&split.dirs, uid)?, name))
    }

    fn attr(&self, ctx: &WinFile) -> Result<Attr> {
        self.vault.getattr(ctx.ino).map_err(|e| fail("getattr", e))
    }

    fn handle(ctx: &WinFile) -> Result<u64> {
        ctx.fh
            .ok_or_else(|| fail("io", VfsError::Invalid("handle opened without data access")))
    }

    /// The delete that `cleanup` carries out (the last handle closed with the
    /// delete flag set).
    fn delete(&self, ctx: &WinFile, path: &U16CStr) -> std::result::Result<(), FspError> {
        let (parent, name) = self.parent_of(path, ctx.uid)?;
        let done = if ctx.dir {
            self.vault.rmdir(parent, &name)
        } else {
            self.vault.unlink(parent, &name)
        };
        done.map_err(|e| fail("delete", e))
    }
}

impl FileSystemContext for WinVault {
    type FileContext = WinFile;

    fn get_security_by_name(
        &self,
        file_name: &U16CStr,
        _security_descriptor: Option<&mut [c_void]>,
        _reparse_point_resolver: impl FnOnce(&U16CStr) -> Option<FileSecurity>,
    ) -> Result<FileSecurity> {
        let uid = self.caller_uid();
        let (attr, name) = self.resolve(file_name, uid)?;
        // No security descriptor (size 0): WinFsp then grants what is asked and
        // the vault decides (sealed, readers). Only READONLY is enforced by WinFsp.
        Ok(FileSecurity {
            reparse: false,
            sz_security_descriptor: 0,
            attributes: winattr::attributes(&attr, &name),
        })
    }

    fn open(
        &self,
        file_name: &U16CStr,
        create_options: u32,
        granted_access: u32,
        file_info: &mut OpenFileInfo,
    ) -> Result<WinFile> {
        let uid = self.caller_uid();
        let (attr, name) = self.resolve(file_name, uid)?;
        let dir = attr.kind == FileKind::Dir;
        if create_options & winopen::FILE_DIRECTORY_FILE != 0 && !dir {
            return Err(fail("open", VfsError::NotDir));
        }
        if create_options & winopen::FILE_NON_DIRECTORY_FILE != 0 && dir {
            return Err(fail("open", VfsError::IsDir));
        }
        let fh = match winopen::open_mode(granted_access, create_options) {
            Some(mode) if !dir => Some(
                self.vault
                    .open(attr.ino, mode, uid)
                    .map_err(|e| fail("open", e))?,
            ),
            _ => None,
        };
        let ctx = WinFile::new(attr.ino, dir, uid, fh, name);
        // An overwrite open has cut the staged content: show that size.
        let attr = if fh.is_some() { self.attr(&ctx)? } else { attr };
        fill(file_info.as_mut(), &attr, &ctx.name());
        Ok(ctx)
    }

    fn close(&self, ctx: WinFile) {
        if let Some(fh) = ctx.fh
            && let Err(e) = self.vault.release(fh)
        {
            reported("close", e);
        }
    }

    fn create(
        &self,
        file_name: &U16CStr,
        create_options: u32,
        granted_access: u32,
        file_attributes: u32,
        _security_descriptor: Option<&[c_void]>,
        _allocation_size: u64,
        _extra_buffer: Option<&[u8]>,
        _extra_buffer_is_reparse_point: bool,
        file_info: &mut OpenFileInfo,
    ) -> Result<WinFile> {
        let uid = self.caller_uid();
        let (parent, name) = self.parent_of(file_name, uid)?;
        let dir = create_options & winopen::FILE_DIRECTORY_FILE != 0;
        let mode = winattr::new_mode(dir, file_attributes);
        // Windows has no gid for the caller; 0 as the FUSE adapter's root group.
        let (attr, fh) = if dir {
            let attr = self
                .vault
                .mkdir(parent, &name, mode, uid, 0)
                .map_err(|e| fail("mkdir", e))?;
            (attr, None)
        } else {
            let open = winopen::open_mode(granted_access, create_options).unwrap_or_default();
            let (attr, fh) = self
                .vault
                .create(parent, &name, mode, uid, 0, open)
                .map_err(|e| fail("create", e))?;
            (attr, Some(fh))
        };
        fill(file_info.as_mut(), &attr, &name);
        Ok(WinFile::new(attr.ino, dir, uid, fh, name))
    }

    fn cleanup(&self, ctx: &WinFile, file_name: Option<&U16CStr>, flags: u32) {
        // Delete first: sealing a file that no longer has a name stores nothing.
        if FspCleanupFlags::FspCleanupDelete.is_flagged(flags)
            && let Some(path) = file_name
        {
            // Cleanup cannot fail; set_delete checked what could be checked.
            let _ = self.delete(ctx, path);
        }
        if let Some(fh) = ctx.fh
            && let Err(e) = self.vault.flush(fh)
        {
            reported("cleanup", e);
        }
    }

    fn flush(&self, ctx: Option<&WinFile>, file_info: &mut FileInfo) -> Result<()> {
        let Some(ctx) = ctx else {
            // The whole volume.
            return self.vault.commit().map_err(|e| fail("flush", e));
        };
        match ctx.fh {
            Some(fh) => self.vault.fsync(fh).map_err(|e| fail("fsync", e))?,
            None => self.vault.commit().map_err(|e| fail("flush", e))?,
        }
        fill(file_info, &self.attr(ctx)?, &ctx.name());
        Ok(())
    }

    fn get_file_info(&self, ctx: &WinFile, file_info: &mut FileInfo) -> Result<()> {
        fill(file_info, &self.attr(ctx)?, &ctx.name());
        Ok(())
    }

    fn overwrite(
        &self,
        ctx: &WinFile,
        file_attributes: u32,
        replace_file_attributes: bool,
        _allocation_size: u64,
        _extra_buffer: Option<&[u8]>,
        file_info: &mut FileInfo,
    ) -> Result<()> {
        let before = self.attr(ctx)?;
        let requested = winattr::overwrite_request(file_attributes, replace_file_attributes);
        let change = AttrChange {
            mode: winattr::mode_after(before.mode, requested),
            ..AttrChange::default()
        };
        // open() already truncated (the disposition said so); cut again in case
        // the staging is shared with a handle that wrote since.
        let size = (before.size != 0).then_some(0);
        let attr = self
            .vault
            .setattr(ctx.ino, &change, size, ctx.uid)
            .map_err(|e| fail("overwrite", e))?;
        fill(file_info, &attr, &ctx.name());
        Ok(())
    }

    fn read_directory(
        &self,
        ctx: &WinFile,
        _pattern: Option<&U16CStr>,
        marker: DirMarker,
        buffer: &mut [u8],
    ) -> Result<u32> {
        // The first read (no marker) lists the directory into WinFsp's buffer;
        // later reads page through it from the marker.
        if let Ok(lock) = ctx.listing.acquire(marker.is_none(), None) {
            let mut entries = Vec::new();
            if ctx.ino != ROOT {
                let me = self.attr(ctx)?;
                entries.push((b".".to_vec(), me.clone()));
                entries.push((b"..".to_vec(), me));
            }
            entries.extend(
                self.vault
                    .readdir(ctx.ino, ctx.uid)
                    .map_err(|e| fail("readdir", e))?,
            );
            for (name, attr) in entries {
                let Some(wide) = winpath::wide_name(&name) else {
                    tracing::debug!(
                        ino = attr.ino,
                        "entry name not representable on Windows: not listed"
                    );
                    continue;
                };
                let mut info: DirInfo = DirInfo::new();
                if info.set_name_raw(wide.as_slice()).is_err() {
                    continue;
                }
                fill(info.file_info_mut(), &attr, &name);
                lock.write(&mut info)?;
            }
        }
        Ok(ctx.listing.read(marker, buffer))
    }

    fn rename(
        &self,
        ctx: &WinFile,
        file_name: &U16CStr,
        new_file_name: &U16CStr,
        replace_if_exists: bool,
    ) -> Result<()> {
        let (parent, name) = self.parent_of(file_name, ctx.uid)?;
        let (new_parent, new_name) = self.parent_of(new_file_name, ctx.uid)?;
        // Windows never replaces a directory by rename (NTFS: access denied).
        if replace_if_exists
            && let Ok(target) = self.vault.lookup(new_parent, &new_name, ctx.uid)
            && target.kind == FileKind::Dir
            && target.ino != ctx.ino
        {
            return Err(status(ntstatus::STATUS_ACCESS_DENIED));
        }
        self.vault
            .rename(parent, &name, new_parent, &new_name, !replace_if_exists)
            .map_err(|e| fail("rename", e))?;
        *ctx.name.lock().unwrap_or_else(|p| p.into_inner()) = new_name;
        Ok(())
    }

    fn set_basic_info(
        &self,
        ctx: &WinFile,
        file_attributes: u32,
        _creation_time: u64,
        _last_access_time: u64,
        last_write_time: u64,
        _last_change_time: u64,
        file_info: &mut FileInfo,
    ) -> Result<()> {
        let before = self.attr(ctx)?;
        let change = AttrChange {
            mode: winattr::mode_after(before.mode, file_attributes),
            mtime_ns: wintime::requested_time(last_write_time),
            ..AttrChange::default()
        };
        let attr = if change.mode.is_some() || change.mtime_ns.is_some() {
            self.vault
                .setattr(ctx.ino, &change, None, ctx.uid)
                .map_err(|e| fail("setattr", e))?
        } else {
            before
        };
        fill(file_info, &attr, &ctx.name());
        Ok(())
    }

    fn set_delete(&self, ctx: &WinFile, _file_name: &U16CStr, delete_file: bool) -> Result<()> {
        if !delete_file {
            return Ok(());
        }
        // Refuse now what the delete at cleanup would refuse: cleanup cannot
        // report an error, so the caller would believe the file gone.
        if ctx.ino == STATUS_INO || crate::vfs::history::is_history(ctx.ino) {
            return Err(fail("delete", VfsError::ReadOnly));
        }
        let attr = self.attr(ctx)?;
        if winattr::attributes(&attr, &ctx.name()) & winattr::FILE_ATTRIBUTE_READONLY != 0 {
            return Err(status(ntstatus::STATUS_CANNOT_DELETE));
        }
        if ctx.dir
            && !self
                .vault
                .readdir(ctx.ino, ctx.uid)
                .map_err(|e| fail("delete", e))?
                .is_empty()
        {
            return Err(fail("delete", VfsError::NotEmpty));
        }
        Ok(())
    }

    fn set_file_size(
        &self,
        ctx: &WinFile,
        new_size: u64,
        set_allocation_size: bool,
        file_info: &mut FileInfo,
    ) -> Result<()> {
        let before = self.attr(ctx)?;
        // An allocation size below the file size cuts the file; above it, the
        // vault has nothing to reserve.
        let size = if set_allocation_size {
            (new_size < before.size).then_some(new_size)
        } else {
            (new_size != before.size).then_some(new_size)
        };
        let attr = match size {
            Some(size) => self
                .vault
                .setattr(ctx.ino, &AttrChange::default(), Some(size), ctx.uid)
                .map_err(|e| fail("truncate", e))?,
            None => before,
        };
        fill(file_info, &attr, &ctx.name());
        Ok(())
    }

    fn read(&self, ctx: &WinFile, buffer: &mut [u8], offset: u64) -> Result<u32> {
        let fh = Self::handle(ctx)?;
        let data = self
            .vault
            .read(fh, offset, buffer.len())
            .map_err(|e| fail("read", e))?;
        if data.is_empty() && !buffer.is_empty() {
            return Err(status(ntstatus::STATUS_END_OF_FILE));
        }
        buffer[..data.len()].copy_from_slice(&data);
        Ok(data.len() as u32)
    }

    fn write(
        &self,
        ctx: &WinFile,
        buffer: &[u8],
        offset: u64,
        write_to_eof: bool,
        constrained_io: bool,
        file_info: &mut FileInfo,
    ) -> Result<u32> {
        let fh = Self::handle(ctx)?;
        let size = self.attr(ctx)?.size;
        let written =
            match winopen::write_span(offset, buffer.len(), size, write_to_eof, constrained_io) {
                Some((at, len)) => self
                    .vault
                    .write(fh, at, &buffer[..len])
                    .map_err(|e| fail("write", e))?,
                None => 0,
            };
        fill(file_info, &self.attr(ctx)?, &ctx.name());
        Ok(written as u32)
    }

    fn get_volume_info(&self, out_volume_info: &mut VolumeInfo) -> Result<()> {
        // As the FUSE statfs: the quota is the size, stored bytes are used.
        let used = self.vault.stored_bytes();
        let total = self.vault.quota().unwrap_or(u64::MAX / 2);
        out_volume_info.total_size = total;
        out_volume_info.free_size = total.saturating_sub(used);
        out_volume_info.set_volume_label(&self.vault.repo().bundle().vault_name);
        Ok(())
    }

    fn dispatcher_stopped(&self, normally: bool) {
        // Unmount or a driver stop: seal what is still open, as FUSE's destroy.
        if !normally {
            tracing::warn!("WinFsp dispatcher stopped abnormally");
        }
        if let Err(e) = self.vault.seal_all() {
            tracing::error!(error = %e, "sealing open files at unmount failed");
        }
    }
}
