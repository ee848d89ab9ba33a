//! [`VaultFs`]: the vault drive, independent of any platform. FUSE (Linux) and
//! WinFsp (Windows) adapters translate their requests into these calls and the
//! [`VfsError`]s back into errno / NTSTATUS.
//!
//! Namespace operations (`lookup`, `mkdir`, `rename`, …) work whatever the view.
//! Content operations follow SPEC §3: a file open for writing is staged in memory
//! or an encrypted temp file and sealed into the store at every FLUSH that finds it
//! dirty and at RELEASE; reading content back needs the unlocked view and a caller
//! allowed to read it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::keys::UnlockedVault;
use crate::repo::{Repository, WriteOptions};

use super::attr::Attr;
use super::decrypt::Decryptor;
use super::error::{VfsError, VfsResult};
use super::handles::{Access, FileState, Handle, HandleTable, OpenFile};
use super::history::{HISTORY_NAME, History, is_history};
use super::inode::{Ino, InodeKind, ROOT};
use super::namespace::{AttrChange, Namespace, now_ns};
use super::preseal::{PRESEAL_MAX, PreSealer, looks_final};
use super::readback::StreamReadback;
use super::sealer::{StreamSealer, StreamSlots};
use super::staging::{MemoryBudget, Staging};
use super::stream::{Advance, WriteStream};
use super::view::ViewState;

/// Name of the virtual status file in the root directory.
pub const STATUS_NAME: &[u8] = b".bcpvault-status";
/// Inode of the virtual status file (never allocated to a real entry).
pub const STATUS_INO: Ino = u64::MAX - 1;

/// Files up to this size are sealed in the calling thread (one chunk or a few).
const INLINE_SEAL: u64 = 4 * 1024 * 1024;

/// Settings of one mount.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    /// Write pipeline settings (`deferred` is forced on: the mount group-commits).
    pub write: WriteOptions,
    /// Memory for staged plaintext before spilling to encrypted temp files.
    pub staging_memory: u64,
    /// Uids allowed to read the unlocked view.
    pub readers: HashSet<u32>,
    /// Owner of the root directory when the vault is first mounted.
    pub root_owner: (u32, u32),
}

/// `open` flags, platform-free.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenMode {
    /// Read access requested.
    pub read: bool,
    /// Write access requested.
    pub write: bool,
    /// O_TRUNC.
    pub truncate: bool,
    /// O_APPEND.
    pub append: bool,
}

/// The platform-free vault filesystem.
pub struct VaultFs {
    repo: Arc<Repository>,
    ns: Namespace,
    handles: HandleTable,
    view: ViewState,
    write: WriteOptions,
    readers: HashSet<u32>,
    budget: MemoryBudget,
    spill_dir: PathBuf,
    stored: AtomicU64,
    uncommitted: AtomicBool,
    /// Files sealed by their write stream rather than from staging at close.
    streamed: AtomicU64,
    /// Running write streams.
    stream_slots: StreamSlots,
    /// Files whose tail was prepared between their last write and FLUSH.
    presealed: AtomicU64,
    /// Prepares small files' tails between their last write and FLUSH.
    presealer: PreSealer,
    status_note: std::sync::Mutex<String>,
    history: History,
}

impl VaultFs {
    /// Opens the vault drive on an opened store.
    pub fn new(repo: Arc<Repository>, opts: VaultOptions) -> VfsResult<VaultFs> {
        let ns = Namespace::open(repo.clone(), opts.root_owner.0, opts.root_owner.1)?;
        let spill_dir = repo.store().join("staging");
        // Spill files are unlinked at creation; anything here is from an old crash.
        let _ = std::fs::remove_dir_all(&spill_dir);
        let stored = repo.stored_bytes().map_err(VfsError::from_repo)?;
        let mut write = opts.write;
        write.deferred = true;
        let presealer = PreSealer::start(repo.clone(), write.clone())
            .map_err(|e| VfsError::io("starting the preseal worker", e))?;
        Ok(VaultFs {
            presealer,
            ns,
            handles: HandleTable::default(),
            view: ViewState::default(),
            write,
            readers: opts.readers,
            budget: MemoryBudget::new(opts.staging_memory),
            spill_dir,
            stored: AtomicU64::new(stored),
            uncommitted: AtomicBool::new(false),
            streamed: AtomicU64::new(0),
            presealed: AtomicU64::new(0),
            stream_slots: StreamSlots::default(),
            status_note: std::sync::Mutex::new(String::new()),
            history: History::default(),
            repo,
        })
    }

    /// The store.
    pub fn repo(&self) -> &Arc<Repository> {
        &self.repo
    }

    /// The namespace (for snapshots).
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    // ----------------------------------------------------------------- view

    /// Switches to the decrypted view until `until`.
    pub fn unlock(&self, key: Arc<UnlockedVault>, until: DateTime<Utc>) {
        self.view
            .unlock(Decryptor::new(self.repo.clone(), key), until);
        tracing::info!(until = %until, "vault unlocked: decrypted view");
    }

    /// Seals the view; returns whether it was unlocked.
    pub fn seal(&self) -> bool {
        let was = self.view.seal();
        if was {
            tracing::info!("vault sealed");
        }
        was
    }

    /// End of the current unlock (`None` while sealed). Checking also seals an
    /// expired unlock.
    pub fn unlocked_until(&self) -> Option<DateTime<Utc>> {
        self.view.decryptor()?;
        self.view.until()
    }

    /// Text the daemon adds to the status file (approvals, sync).
    pub fn set_status_note(&self, note: String) {
        *self.status_note.lock().unwrap_or_else(|p| p.into_inner()) = note;
    }

    fn decryptor_for(&self, uid: u32) -> VfsResult<Arc<Decryptor>> {
        let Some(d) = self.view.decryptor() else {
            tracing::warn!(uid, "read refused: the vault is sealed");
            return Err(VfsError::Sealed);
        };
        if !self.readers.contains(&uid) {
            tracing::warn!(uid, "read refused: not a reader of the unlocked vault");
            return Err(VfsError::NotReader { uid });
        }
        Ok(d)
    }

    // ------------------------------------------------------------ namespace

    fn status_attr(&self) -> Attr {
        Attr::status_file(self.status_text().len() as u64)
    }

    /// `stat` of an inode; a file open for writing shows its staged size.
    pub fn getattr(&self, ino: Ino) -> VfsResult<Attr> {
        if ino == STATUS_INO {
            return Ok(self.status_attr());
        }
        if is_history(ino) {
            return self.history.getattr(ino);
        }
        let mut attr = match self.ns.get(ino) {
            Ok(inode) => Attr::of(&inode),
            // Unlinked (or renamed over) while open: the handles still see it.
            Err(VfsError::NotFound) => match self.handles.file(ino) {
                Some(f) => f.lock().attr.clone(),
                None => return Err(VfsError::NotFound),
            },
            Err(e) => return Err(e),
        };
        if let Some(f) = self.handles.file(ino) {
            let st = f.lock();
            if let Some(s) = &st.staging {
                attr.size = s.size();
                if st.dirty {
                    attr.mtime_ns = st.mtime_ns;
                }
            }
        }
        Ok(attr)
    }

    /// Looks `name` up in `parent` for caller `uid` (entries inside a past
    /// snapshot need the unlocked view).
    pub fn lookup(&self, parent: Ino, name: &[u8], uid: u32) -> VfsResult<Attr> {
        if parent == ROOT && name == STATUS_NAME {
            return Ok(self.status_attr());
        }
        if parent == ROOT && name == HISTORY_NAME {
            return Ok(self.history.folder_attr());
        }
        if is_history(parent) {
            return self
                .history
                .lookup(parent, name, &self.repo, || self.decryptor_for(uid));
        }
        let inode = self.ns.lookup(parent, name)?;
        self.getattr(inode.ino)
    }

    /// Entries of a directory (the root also lists the status file and the
    /// snapshots folder) for caller `uid`.
    pub fn readdir(&self, ino: Ino, uid: u32) -> VfsResult<Vec<(Vec<u8>, Attr)>> {
        if is_history(ino) {
            return self
                .history
                .readdir(ino, &self.repo, || self.decryptor_for(uid));
        }
        let mut out = Vec::new();
        if ino == ROOT {
            out.push((STATUS_NAME.to_vec(), self.status_attr()));
            out.push((HISTORY_NAME.to_vec(), self.history.folder_attr()));
        }
        for (name, inode) in self.ns.list(ino)? {
            let attr = self.getattr(inode.ino)?;
            out.push((name, attr));
        }
        Ok(out)
    }

    fn refuse_virtual(&self, parent: Ino, name: &[u8]) -> VfsResult<()> {
        if is_history(parent) {
            return Err(VfsError::ReadOnly);
        }
        if parent == ROOT && (name == STATUS_NAME || name == HISTORY_NAME) {
            return Err(VfsError::Exists);
        }
        Ok(())
    }

    fn refuse_read_only(&self, parent: Ino, name: &[u8]) -> VfsResult<()> {
        if is_history(parent) || (parent == ROOT && (name == STATUS_NAME || name == HISTORY_NAME)) {
            return Err(VfsError::ReadOnly);
        }
        Ok(())
    }

    /// `mkdir`.
    pub fn mkdir(
        &self,
        parent: Ino,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> VfsResult<Attr> {
        self.refuse_virtual(parent, name)?;
        let inode = self
            .ns
            .create(parent, name, InodeKind::Dir, mode, uid, gid)?;
        self.uncommitted.store(true, Ordering::Release);
        Ok(Attr::of(&inode))
    }

    /// `symlink`.
    pub fn symlink(
        &self,
        parent: Ino,
        name: &[u8],
        target: &[u8],
        uid: u32,
        gid: u32,
    ) -> VfsResult<Attr> {
        self.refuse_virtual(parent, name)?;
        let kind = InodeKind::Symlink {
            target: target.to_vec(),
        };
        let inode = self.ns.create(parent, name, kind, 0o777, uid, gid)?;
        self.uncommitted.store(true, Ordering::Release);
        Ok(Attr::of(&inode))
    }

    /// `readlink`.
    pub fn readlink(&self, ino: Ino) -> VfsResult<Vec<u8>> {
        if is_history(ino) {
            return self.history.readlink(ino);
        }
        match self.ns.get(ino)?.kind {
            InodeKind::Symlink { target } => Ok(target),
            _ => Err(VfsError::Invalid("not a symbolic link")),
        }
    }

    /// `unlink` (files and symlinks).
    pub fn unlink(&self, parent: Ino, name: &[u8]) -> VfsResult<()> {
        self.refuse_read_only(parent, name)?;
        self.ns.remove(parent, name, false)?;
        self.uncommitted.store(true, Ordering::Release);
        Ok(())
    }

    /// `rmdir` (empty directories only).
    pub fn rmdir(&self, parent: Ino, name: &[u8]) -> VfsResult<()> {
        self.refuse_read_only(parent, name)?;
        self.ns.remove(parent, name, true)?;
        self.uncommitted.store(true, Ordering::Release);
        Ok(())
    }

    /// `rename`, replacing a compatible target unless `no_replace`.
    pub fn rename(
        &self,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
        no_replace: bool,
    ) -> VfsResult<()> {
        if (parent == ROOT && name == STATUS_NAME)
            || (new_parent == ROOT && new_name == STATUS_NAME)
        {
            return Err(VfsError::ReadOnly);
        }
        self.ns
            .rename(parent, name, new_parent, new_name, no_replace)?;
        self.uncommitted.store(true, Ordering::Release);
        Ok(())
    }

    /// `setattr`: mode, owner, mtime on anything; size on files (see [`Self::truncate`]).
    pub fn setattr(
        &self,
        ino: Ino,
        change: &AttrChange,
        size: Option<u64>,
        uid: u32,
    ) -> VfsResult<Attr> {
        if ino == STATUS_INO || is_history(ino) {
            return Err(VfsError::ReadOnly);
        }
        if let Some(size) = size {
            self.truncate(ino, size, uid)?;
        }
        if change.mode.is_some()
            || change.uid.is_some()
            || change.gid.is_some()
            || change.mtime_ns.is_some()
        {
            self.ns.set_attr(ino, change)?;
            if let (Some(t), Some(f)) = (change.mtime_ns, self.handles.file(ino)) {
                f.lock().mtime_ns = t;
            }
            self.uncommitted.store(true, Ordering::Release);
        }
        self.getattr(ino)
    }

    // -------------------------------------------------------------- content

    /// Changes a file's length. An open file's staging is cut or grown; a closed
    /// file can be emptied while sealed, other sizes need its content (unlocked).
    pub fn truncate(&self, ino: Ino, size: u64, uid: u32) -> VfsResult<()> {
        if let Some(f) = self.handles.file(ino) {
            let mut guard = f.lock();
            let st = &mut *guard;
            if let Some(s) = st.staging.as_mut() {
                if s.size() != size {
                    // The content no longer is what was streamed; empty, it starts over.
                    st.stream = (size == 0).then(WriteStream::default);
                }
                s.truncate(size)?;
                st.changed(now_ns());
                return Ok(());
            }
        }
        let inode = self.ns.get(ino)?;
        let InodeKind::File { size: old, .. } = inode.kind else {
            return Err(VfsError::IsDir);
        };
        if size == old {
            return Ok(());
        }
        if size == 0 {
            self.ns.set_content(ino, 0, Vec::new(), now_ns())?;
            self.uncommitted.store(true, Ordering::Release);
            return Ok(());
        }
        let mut staging = self.load_staging(ino, uid)?;
        staging.truncate(size)?;
        let mut state = FileState::new(now_ns(), Attr::of(&inode));
        state.staging = Some(staging);
        state.dirty = true;
        let file = OpenFile::new(ino, state);
        self.seal_file(&file)
    }

    /// Staging filled with a file's current content (needs the unlocked view).
    fn load_staging(&self, ino: Ino, uid: u32) -> VfsResult<Staging> {
        let inode = self.ns.get(ino)?;
        let InodeKind::File { size, chunks } = inode.kind else {
            return Err(VfsError::IsDir);
        };
        let mut staging = Staging::new(self.budget.clone(), &self.spill_dir);
        if size == 0 {
            return Ok(staging);
        }
        let d = self.decryptor_for(uid)?;
        let mut offset = 0u64;
        while offset < size {
            let data = d.read(&chunks, offset, 1 << 20)?;
            if data.is_empty() {
                return Err(VfsError::Damaged(format!(
                    "inode {ino} is shorter than its size"
                )));
            }
            staging.write(offset, &data)?;
            offset += data.len() as u64;
        }
        Ok(staging)
    }

    /// Opens a file. Reading needs the unlocked view and a reader, except through a
    /// handle that writes; writing a sealed file needs O_TRUNC (or an empty file).
    pub fn open(&self, ino: Ino, mode: OpenMode, uid: u32) -> VfsResult<u64> {
        if ino == STATUS_INO {
            if mode.write {
                return Err(VfsError::ReadOnly);
            }
            return Ok(self.handles.open_text(self.status_text().into_bytes()));
        }
        if is_history(ino) {
            if mode.write || mode.truncate {
                return Err(VfsError::ReadOnly);
            }
            self.decryptor_for(uid)?;
            let chunks = self.history.file_chunks(ino, &self.repo)?;
            return Ok(self.handles.open_frozen(chunks, uid));
        }
        let inode = self.ns.get(ino)?;
        let InodeKind::File { size, .. } = inode.kind else {
            return Err(match inode.kind {
                InodeKind::Dir => VfsError::IsDir,
                _ => VfsError::Invalid("not a regular file"),
            });
        };
        let access = Access {
            read: mode.read,
            write: mode.write,
            append: mode.append,
        };
        // Take the handle first, then decide under the file's lock: a RELEASE of
        // an earlier descriptor can no longer drop the staging in between.
        let (fh, file) = self.handles.open_file(ino, access, uid, || {
            FileState::new(inode.mtime_ns, Attr::of(&inode))
        });
        if let Err(e) = self.init_handle(&file, size, mode, uid) {
            if let Some((file, true)) = self.handles.release(fh) {
                file.lock().staging = None;
            }
            return Err(e);
        }
        Ok(fh)
    }

    /// Checks access and prepares the staging of a freshly counted handle.
    fn init_handle(&self, file: &OpenFile, size: u64, mode: OpenMode, uid: u32) -> VfsResult<()> {
        let ino = file.ino;
        let mut guard = file.lock();
        let st = &mut *guard;
        let staged = st.staging.is_some();
        if !mode.write {
            if staged && self.view.decryptor().is_none() {
                tracing::warn!(uid, ino, "read refused: the vault is sealed");
                return Err(VfsError::Sealed);
            }
            self.decryptor_for(uid)?;
            return Ok(());
        }
        // Writing: the staged content starts empty (O_TRUNC, empty file), is the
        // one other handles already stage, or the decrypted content (unlocked).
        if !staged {
            let initial = if mode.truncate || size == 0 {
                st.stream = Some(WriteStream::default());
                Staging::new(self.budget.clone(), &self.spill_dir)
            } else {
                match self.load_staging(ino, uid) {
                    Ok(s) => s,
                    Err(VfsError::Sealed) => {
                        tracing::warn!(
                            uid,
                            ino,
                            "open for writing without O_TRUNC refused: the vault is sealed"
                        );
                        return Err(VfsError::Sealed);
                    }
                    Err(e) => return Err(e),
                }
            };
            st.staging = Some(initial);
        }
        if mode.truncate {
            if let Some(s) = st.staging.as_mut()
                && s.size() != 0
            {
                s.truncate(0)?;
                st.stream = Some(WriteStream::default());
            }
            if size != 0 || st.dirty {
                st.changed(now_ns());
            }
        }
        Ok(())
    }

    /// Creates and opens a new, empty file.
    pub fn create(
        &self,
        parent: Ino,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
        open: OpenMode,
    ) -> VfsResult<(Attr, u64)> {
        self.refuse_virtual(parent, name)?;
        let kind = InodeKind::File {
            size: 0,
            chunks: Vec::new(),
        };
        let inode = self.ns.create(parent, name, kind, mode, uid, gid)?;
        self.uncommitted.store(true, Ordering::Release);
        let open = OpenMode {
            write: true,
            ..open
        };
        let fh = self.open(inode.ino, open, uid)?;
        Ok((Attr::of(&inode), fh))
    }

    /// Reads through a handle: staged content if the file is staged (the writer's
    /// read-back), decrypted content otherwise.
    pub fn read(&self, fh: u64, offset: u64, len: usize) -> VfsResult<Vec<u8>> {
        match self
            .handles
            .get(fh)
            .ok_or(VfsError::Invalid("unknown file handle"))?
        {
            Handle::Text(text) => {
                let start = (offset as usize).min(text.len());
                let end = (start + len).min(text.len());
                Ok(text[start..end].to_vec())
            }
            Handle::Frozen { chunks, uid } => self.decryptor_for(uid)?.read(&chunks, offset, len),
            Handle::File { file, access, uid } => {
                {
                    let st = file.lock();
                    if let Some(s) = &st.staging {
                        if !access.write {
                            // A reader sees staged bytes only while unlocked.
                            self.decryptor_for(uid)?;
                        }
                        return s.read(offset, len);
                    }
                }
                let d = self.decryptor_for(uid)?;
                let inode = self.ns.get(file.ino)?;
                let InodeKind::File { chunks, .. } = inode.kind else {
                    return Err(VfsError::IsDir);
                };
                d.read(&chunks, offset, len)
            }
        }
    }

    /// Writes through a handle into the staging.
    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> VfsResult<usize> {
        let Some(Handle::File { file, access, .. }) = self.handles.get(fh) else {
            return Err(VfsError::Invalid("not a writable handle"));
        };
        if !access.write {
            return Err(VfsError::Invalid("handle not open for writing"));
        }
        let mut st = file.lock();
        let staging = st
            .staging
            .get_or_insert_with(|| Staging::new(self.budget.clone(), &self.spill_dir));
        let offset = if access.append {
            staging.size()
        } else {
            offset
        };
        if let Some(quota) = self.write.quota {
            let end = offset + data.len() as u64;
            let need = self.stored.load(Ordering::Acquire) + end.max(staging.size());
            if need > quota {
                tracing::warn!(
                    ino = file.ino,
                    quota,
                    need,
                    "write refused: the vault quota is full"
                );
                return Err(VfsError::NoSpace(format!(
                    "quota of {quota} bytes would be exceeded ({need} bytes)"
                )));
            }
        }
        staging.write(offset, data)?;
        st.changed(now_ns());
        self.stream_write(&mut st, file.ino, offset, data);
        if looks_final(data.len()) {
            self.preseal(&mut st);
        }
        Ok(data.len())
    }

    /// Hands what a write added to the contiguous prefix to the file's stream
    /// sealer, starting it once the prefix is past [`INLINE_SEAL`]. Any trouble
    /// just drops the stream: the file is then sealed from its staging.
    fn stream_write(&self, st: &mut FileState, ino: Ino, offset: u64, data: &[u8]) {
        let FileState {
            staging: Some(staging),
            stream: Some(stream),
            ..
        } = st
        else {
            return;
        };
        let before = stream.prefix.end();
        let end = match stream.prefix.write(offset, data.len() as u64) {
            Advance::To(end) => end,
            Advance::Gap => return,
            Advance::Broken => {
                st.stream = None;
                return;
            }
        };
        let fed = if let Some(sealer) = stream.sealer.as_mut() {
            // `offset == before` here: a write that extends the prefix starts at
            // its end. What it joined up with comes out of the staging.
            sealer.feed(data) && feed_from(sealer, staging, before + data.len() as u64, end)
        } else if end - stream.base_len > INLINE_SEAL {
            // All slots busy: stay staged; a later write starts it once one frees.
            let Some(slot) = self.stream_slots.take() else {
                return;
            };
            let what = PathBuf::from(format!("inode {ino}"));
            let readback = Arc::new(StreamReadback::new(self.repo.clone(), stream.base_len));
            let observer: Arc<dyn crate::repo::SealObserver> = readback.clone();
            match StreamSealer::start(self.repo.clone(), self.write.clone(), what, slot, observer) {
                Ok(mut sealer) => {
                    let ok = feed_from(&mut sealer, staging, stream.base_len, end);
                    stream.sealer = Some(sealer);
                    stream.readback = Some(readback);
                    ok
                }
                Err(e) => {
                    tracing::warn!(ino, error = %e, "could not start a write stream");
                    false
                }
            }
        } else {
            true
        };
        if fed {
            stream.release_sealed(staging);
        } else {
            st.stream = None;
        }
    }

    /// Queues the staged tail for sealing ahead of FLUSH when the file is sealed
    /// inline (small, streamed front to back, no stream sealer running); see
    /// `preseal.rs`.
    fn preseal(&self, st: &mut FileState) {
        let (Some(staging), Some(stream)) = (&st.staging, &st.stream) else {
            return;
        };
        let size = staging.size();
        let Some(tail) = size.checked_sub(stream.base_len) else {
            return;
        };
        if stream.sealer.is_some() || tail == 0 || tail > PRESEAL_MAX || !stream.covers(size) {
            return;
        }
        let Ok(plain) = staging.read(stream.base_len, tail as usize) else {
            return;
        };
        let base_len = stream.base_len;
        st.preseal = self
            .presealer
            .submit(st.version, base_len, crate::crypto::Wiped::new(plain));
    }

    /// FLUSH (every close of a descriptor): seals the file if it is dirty. When
    /// this returns the file survives a crash of the daemon.
    pub fn flush(&self, fh: u64) -> VfsResult<()> {
        match self.handles.get(fh) {
            Some(Handle::File { file, .. }) => self.seal_file(&file),
            _ => Ok(()),
        }
    }

    /// `fsync`: seals and makes everything durable against power loss.
    pub fn fsync(&self, fh: u64) -> VfsResult<()> {
        self.flush(fh)?;
        self.commit()
    }

    /// RELEASE: seals what arrived after the last FLUSH; the last handle drops the
    /// staging.
    pub fn release(&self, fh: u64) -> VfsResult<()> {
        // Seal while the handle still counts, so a new open of the file shares
        // the staging instead of reading content that is not sealed yet.
        let sealed = match self.handles.get(fh) {
            Some(Handle::File { file, .. }) => self.seal_file(&file),
            _ => Ok(()),
        };
        let Some((file, last)) = self.handles.release(fh) else {
            return sealed;
        };
        if last {
            let again = self.seal_file(&file);
            file.lock().staging = None;
            again?;
        }
        sealed
    }

    /// Seals every open file (unmount).
    pub fn seal_all(&self) -> VfsResult<()> {
        for f in self.handles.all_files() {
            self.seal_file(&f)?;
        }
        self.commit()
    }

    /// Seals one file if dirty: staged plaintext → chunks → packs in the store →
    /// the inode's new content, journaled.
    pub(crate) fn seal_file(&self, file: &OpenFile) -> VfsResult<()> {
        let mut guard = file.lock();
        let st = &mut *guard;
        if !st.dirty {
            return Ok(());
        }
        let Some(size) = st.staging.as_ref().map(Staging::size) else {
            return Ok(());
        };
        if matches!(self.ns.get(file.ino), Err(VfsError::NotFound)) {
            // Unlinked while open: nothing names it any more; store nothing.
            st.dirty = false;
            return Ok(());
        }
        let sealed = match self.seal_streamed(st, size, file.ino) {
            Some(done) => Ok(done),
            None => match st.staging.as_ref() {
                Some(staging) => self.seal_staging(staging, file.ino),
                None => return Ok(()),
            },
        };
        let (chunks, stored) = sealed.map_err(|e| {
            tracing::error!(ino = file.ino, error = %e, "sealing failed; the file stays open and staged");
            e
        })?;
        self.stored.fetch_add(stored, Ordering::AcqRel);
        self.ns.set_content(file.ino, size, chunks, st.mtime_ns)?;
        st.dirty = false;
        self.uncommitted.store(true, Ordering::Release);
        Ok(())
    }

    /// Seals the whole staged content (files not streamed).
    fn seal_staging(
        &self,
        staging: &Staging,
        ino: Ino,
    ) -> VfsResult<(Vec<(crate::repo::BlobId, u32)>, u64)> {
        let size = staging.size();
        if size <= INLINE_SEAL {
            // Small files (most office documents): no pipeline threads.
            let plain = crate::crypto::Wiped::new(staging.read(0, size as usize)?);
            return crate::repo::pipeline::store_inline(&self.repo, &self.write, &plain)
                .map_err(VfsError::from_repo);
        }
        let what = PathBuf::from(format!("inode {ino}"));
        crate::repo::BlobWriter::run(&self.repo, &self.write, |w| {
            w.content_sized(staging.reader(), &what, &crate::repo::NoProgress)
        })
        .map(|((chunks, _), stats)| (chunks, stats.stored_bytes))
        .map_err(VfsError::from_repo)
    }

    /// Seals a streamed file: the sealed base plus the stream's tail (finished
    /// sealer, or the small tail inline). The stream then goes on from here, so a
    /// FLUSH in the middle of a write — every `close()` of a descriptor sends one,
    /// including those a fork+exec elsewhere in the writer closes — costs only the
    /// tail. `None` (the stream dropped) sends the caller to the staging.
    fn seal_streamed(
        &self,
        st: &mut FileState,
        size: u64,
        ino: Ino,
    ) -> Option<(Vec<(crate::repo::BlobId, u32)>, u64)> {
        let FileState {
            staging: Some(staging),
            stream: Some(stream),
            version,
            preseal,
            ..
        } = st
        else {
            return None;
        };
        let preseal = preseal.take();
        let tail = size.checked_sub(stream.base_len)?;
        let sealed = if !stream.covers(size) {
            None
        } else if let Some(sealer) = stream.sealer.take() {
            match sealer.finish() {
                Ok(done) if done.size == tail => {
                    self.streamed.fetch_add(1, Ordering::Relaxed);
                    Some((done.chunks, done.stored))
                }
                Ok(done) => {
                    tracing::warn!(
                        ino,
                        streamed = done.size,
                        tail,
                        "write stream came up short; sealing from staging"
                    );
                    None
                }
                Err(e) => {
                    tracing::warn!(ino, error = %e, "write stream failed; sealing from staging");
                    None
                }
            }
        } else if let Some(pre) = preseal.filter(|p| p.matches(*version, stream.base_len, tail)) {
            let done = pre
                .take(&self.repo, &self.write)
                .and_then(|inline| inline.publish(&self.repo, &self.write))
                .ok();
            if done.is_some() {
                self.presealed.fetch_add(1, Ordering::Relaxed);
            }
            done
        } else {
            staging
                .read(stream.base_len, tail as usize)
                .ok()
                .filter(|plain| plain.len() as u64 == tail)
                .and_then(|plain| {
                    let plain = crate::crypto::Wiped::new(plain);
                    crate::repo::pipeline::store_inline(&self.repo, &self.write, &plain).ok()
                })
        };
        let Some((tail_chunks, stored)) = sealed else {
            st.stream = None;
            return None;
        };
        // Everything the finished pipeline sealed is published now.
        stream.release_sealed(staging);
        stream.base.extend(tail_chunks);
        stream.base_len = size;
        Some((stream.base.clone(), stored))
    }

    /// Group commit: makes everything sealed so far survive power loss.
    pub fn commit(&self) -> VfsResult<()> {
        if self.uncommitted.swap(false, Ordering::AcqRel)
            && let Err(e) = self.repo.group_commit()
        {
            self.uncommitted.store(true, Ordering::Release);
            return Err(VfsError::from_repo(e));
        }
        Ok(())
    }

    /// Number of open handles.
    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }

    /// Bytes of plaintext staged in memory.
    pub fn staged_memory(&self) -> u64 {
        self.budget.used()
    }

    /// Stored bytes (packs) as of the last seal.
    pub fn stored_bytes(&self) -> u64 {
        self.stored.load(Ordering::Acquire)
    }

    /// Number of inodes (statfs).
    pub fn inode_count(&self) -> u64 {
        self.ns.count()
    }

    /// The profile's write settings (as the mount uses them: deferred packs).
    pub fn write_options(&self) -> &WriteOptions {
        &self.write
    }

    /// Quota in bytes, if any.
    pub fn quota(&self) -> Option<u64> {
        self.write.quota
    }

    /// The text of `/.bcpvault-status`.
    pub fn status_text(&self) -> String {
        let state = self
            .view
            .unlocked_text()
            .unwrap_or_else(|| "sealed".to_string());
        let quota = match self.write.quota {
            Some(q) => format!("{} of {} bytes", self.stored_bytes(), q),
            None => format!("{} bytes (no quota)", self.stored_bytes()),
        };
        let note = self
            .status_note
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        format!(
            "vault: {}\nstate: {state}\nopen handles: {}\npending bytes (staged, not yet sealed): {}\nfiles sealed while being written: {}\nfiles prepared ahead of close: {}\nstored: {quota}\n{note}",
            self.repo.bundle().vault_name,
            self.handles.len(),
            self.staged_memory(),
            self.streamed.load(Ordering::Relaxed),
            self.presealed.load(Ordering::Relaxed),
        )
    }
}

/// Hands `staging[from, to)` to `sealer` in 1 MiB pieces; `false` if it stopped.
fn feed_from(sealer: &mut StreamSealer, staging: &Staging, from: u64, to: u64) -> bool {
    const PIECE: u64 = 1024 * 1024;
    let mut at = from;
    while at < to {
        let n = PIECE.min(to - at);
        match staging.read(at, n as usize) {
            Ok(piece) if piece.len() as u64 == n => {
                let piece = crate::crypto::Wiped::new(piece);
                if !sealer.feed(&piece) {
                    return false;
                }
            }
            _ => return false,
        }
        at += n;
    }
    true
}
