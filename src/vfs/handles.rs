//! The open-file table: file handles and the files they share.
//!
//! Several handles may have one file open (`dd` dups its descriptor; an editor
//! opens twice); they share one [`OpenFile`] and so one staging buffer. The
//! staging lives until the last handle is released (FUSE RELEASE comes once, last,
//! after every FLUSH), so writes that arrive after a FLUSH (mmap) are still staged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::inode::Ino;
use super::staging::Staging;

/// The mutable state of one open file.
pub struct FileState {
    /// Staged plaintext (files opened for writing, or written through any handle).
    pub staging: Option<Staging>,
    /// Staged content differs from what is sealed.
    pub dirty: bool,
    /// Being sealed as it is written (opened empty, written front to back).
    pub stream: Option<super::stream::WriteStream>,
    /// Modification time to record at the next seal.
    pub mtime_ns: i64,
    /// Attributes at open (shown after the name is unlinked while open).
    pub attr: super::attr::Attr,
    /// Counts changes of the staged content, so work prepared from it can tell
    /// whether it is still current.
    pub version: u64,
    /// The staged tail being prepared ahead of FLUSH, if any.
    pub preseal: Option<std::sync::Arc<super::preseal::PreSeal>>,
}

impl FileState {
    /// State of a file nobody has written through yet.
    pub fn new(mtime_ns: i64, attr: super::attr::Attr) -> FileState {
        FileState {
            staging: None,
            dirty: false,
            stream: None,
            mtime_ns,
            attr,
            version: 0,
            preseal: None,
        }
    }

    /// Records that the staged content changed (now, at `mtime_ns`).
    pub fn changed(&mut self, mtime_ns: i64) {
        self.dirty = true;
        self.mtime_ns = mtime_ns;
        self.version += 1;
        self.preseal = None;
    }
}

/// A file open through one or more handles.
pub struct OpenFile {
    /// Its inode.
    pub ino: Ino,
    state: Mutex<FileState>,
}

impl OpenFile {
    pub(crate) fn new(ino: Ino, state: FileState) -> OpenFile {
        OpenFile {
            ino,
            state: Mutex::new(state),
        }
    }

    /// Locks the file's state.
    pub fn lock(&self) -> MutexGuard<'_, FileState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What one handle may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Opened for reading.
    pub read: bool,
    /// Opened for writing.
    pub write: bool,
    /// Writes go to the end (O_APPEND).
    pub append: bool,
}

/// One open handle.
#[derive(Clone)]
pub enum Handle {
    /// A regular file of the vault.
    File {
        /// The shared open file.
        file: Arc<OpenFile>,
        /// Access mode.
        access: Access,
        /// Caller's uid at open (checked against readers on decrypted reads).
        uid: u32,
    },
    /// A virtual read-only file whose text was fixed at open (`/.bcpvault-status`).
    Text(Arc<Vec<u8>>),
    /// A file of a past snapshot (`/.snapshots/…`): its chunks, read-only.
    Frozen {
        /// Chunks with plaintext lengths.
        chunks: Arc<Vec<(crate::repo::BlobId, u32)>>,
        /// Caller's uid at open.
        uid: u32,
    },
}

#[derive(Default)]
struct Table {
    next: u64,
    handles: HashMap<u64, Handle>,
    files: HashMap<Ino, (Arc<OpenFile>, usize)>,
}

/// All open handles of a mount.
#[derive(Default)]
pub struct HandleTable {
    table: Mutex<Table>,
}

impl HandleTable {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open file of `ino`, if any handle has it open.
    pub fn file(&self, ino: Ino) -> Option<Arc<OpenFile>> {
        self.lock().files.get(&ino).map(|(f, _)| f.clone())
    }

    /// Opens a handle on `ino`; `init` makes the state when the file is not open yet.
    /// Returns the handle number and the shared file.
    pub fn open_file(
        &self,
        ino: Ino,
        access: Access,
        uid: u32,
        init: impl FnOnce() -> FileState,
    ) -> (u64, Arc<OpenFile>) {
        let mut t = self.lock();
        let entry = t
            .files
            .entry(ino)
            .or_insert_with(|| (Arc::new(OpenFile::new(ino, init())), 0));
        entry.1 += 1;
        let file = entry.0.clone();
        t.next += 1;
        let fh = t.next;
        t.handles.insert(
            fh,
            Handle::File {
                file: file.clone(),
                access,
                uid,
            },
        );
        (fh, file)
    }

    /// Opens a handle on fixed text.
    pub fn open_text(&self, text: Vec<u8>) -> u64 {
        let mut t = self.lock();
        t.next += 1;
        let fh = t.next;
        t.handles.insert(fh, Handle::Text(Arc::new(text)));
        fh
    }

    /// Opens a handle on a snapshot file.
    pub fn open_frozen(&self, chunks: Vec<(crate::repo::BlobId, u32)>, uid: u32) -> u64 {
        let mut t = self.lock();
        t.next += 1;
        let fh = t.next;
        t.handles.insert(
            fh,
            Handle::Frozen {
                chunks: Arc::new(chunks),
                uid,
            },
        );
        fh
    }

    /// The handle `fh`.
    pub fn get(&self, fh: u64) -> Option<Handle> {
        self.lock().handles.get(&fh).cloned()
    }

    /// Removes `fh`; returns its file and whether that was the file's last handle.
    pub fn release(&self, fh: u64) -> Option<(Arc<OpenFile>, bool)> {
        let mut t = self.lock();
        match t.handles.remove(&fh)? {
            Handle::Text(_) | Handle::Frozen { .. } => None,
            Handle::File { file, .. } => {
                let ino = file.ino;
                let last = match t.files.get_mut(&ino) {
                    Some(entry) => {
                        entry.1 -= 1;
                        entry.1 == 0
                    }
                    None => true,
                };
                if last {
                    t.files.remove(&ino);
                }
                Some((file, last))
            }
        }
    }

    /// Every open file (to seal them all at unmount).
    pub fn all_files(&self) -> Vec<Arc<OpenFile>> {
        self.lock().files.values().map(|(f, _)| f.clone()).collect()
    }

    /// Number of open handles.
    pub fn len(&self) -> usize {
        self.lock().handles.len()
    }

    /// Whether no handle is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
