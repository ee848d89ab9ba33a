//! [`RecoveredFs`]: the read-only drive of a recovery machine (`bcpvault mount
//! --recover`), served from a remote alone.
//!
//! Before anything is shown, the daemon has fetched the recovery bundle, every
//! snapshot (SHA-256 checked, signature verified, chain links checked) and every
//! index copy (SHA-256 checked) — see `daemon::recover`. Names and trees are
//! encrypted, so while sealed the root shows only `/.bcpvault-status` and the
//! public list of `/.snapshots`; looking anything else up is refused (EACCES).
//! When the executives unlock, the index copies are decrypted and the newest
//! snapshot's tree becomes the root; `/.snapshots/<time>/` shows every snapshot.
//! Trees and file contents are read on demand: packs come through the caching
//! backend (checked against their names on fetch and on every cache hit) and
//! again before they are decrypted ([`Decryptor`]).
//!
//! Everything is read-only: any change is EROFS. Sealing (command or unlock
//! expiry) drops the key, the decrypted names and every cached plaintext.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use crate::backend::{CachingBackend, ReadBackend, RemoteBackend};
use crate::keys::{RecoveryBundle, UnlockedVault};
use crate::repo::BlobId;
use crate::repo::id::{ObjectId, pack_name};
use crate::repo::index::{BlobLocation, IndexMap};

use super::attr::{Attr, FileKind};
use super::decrypt::{BlobSource, Decryptor};
use super::error::{VfsError, VfsResult};
use super::history::{HISTORY_INO, HISTORY_NAME, History, SnapshotRoot};
use super::inode::{Ino, ROOT};
use super::namespace::AttrChange;
use super::vault::{OpenMode, STATUS_INO, STATUS_NAME};
use super::view::ViewState;

/// The remote as the recovery mount reads it: through a bounded local cache.
pub type RecoveryBackend = CachingBackend<RemoteBackend>;

/// What the daemon verified on the remote before mounting.
pub struct RecoveredRepo {
    /// The remote, behind its cache.
    pub backend: Arc<RecoveryBackend>,
    /// The newest recovery bundle on the remote (checked against its `config`).
    pub bundle: RecoveryBundle,
    /// Signed snapshots of this vault, oldest first.
    pub snapshots: Vec<SnapshotRoot>,
    /// Index copies whose bytes hash to their names: (object name, bytes).
    pub index_copies: Vec<(String, Vec<u8>)>,
    /// Every pack on the remote (packs no index copy covers are read lazily).
    pub packs: Vec<ObjectId>,
    /// Objects refused or problems found, one line each.
    pub problems: Vec<String>,
}

/// Settings of a recovery mount.
#[derive(Debug, Clone)]
pub struct RecoveredOptions {
    /// Uids allowed to read the unlocked view.
    pub readers: HashSet<u32>,
    /// Owner of the root directory.
    pub root_owner: (u32, u32),
}

/// Blobs of a remote: the decrypted index copies, then the tables of packs no
/// intact copy covers (read and opened on the first miss).
struct RemoteSource {
    backend: Arc<RecoveryBackend>,
    key: Arc<UnlockedVault>,
    index: RwLock<HashMap<BlobId, BlobLocation>>,
    uncovered: Mutex<Vec<ObjectId>>,
    /// Uncovered packs refused when their tables were read: (name, problem).
    refused: Mutex<Vec<String>>,
}

impl BlobSource for RemoteSource {
    fn locate(&self, id: &BlobId) -> VfsResult<Option<BlobLocation>> {
        if let Some(loc) = self.read_index().get(id) {
            return Ok(Some(*loc));
        }
        // Packs no index copy covers: read their tables one at a time until the
        // blob turns up (held locked, so concurrent misses do not fetch twice).
        let mut uncovered = self.uncovered.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(pack) = uncovered.pop() {
            let name = pack_name(&pack);
            // read_pack's cache has checked the bytes against the name.
            let opened = self.read_pack(&name).and_then(|bytes| {
                crate::repo::pack::open(&bytes, &self.key.private_key)
                    .map_err(|e| VfsError::Damaged(format!("{name}: {e}")))
            });
            let o = match opened {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(pack = %name, error = %e, "cannot read the table of a pack no index copy covers");
                    self.refused
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(e.to_string());
                    continue;
                }
            };
            let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
            for (i, e) in o.entries.iter().enumerate() {
                index.insert(
                    e.id,
                    BlobLocation {
                        pack,
                        entry: *e,
                        index: i as u32,
                    },
                );
            }
            if let Some(loc) = index.get(id) {
                return Ok(Some(*loc));
            }
        }
        // Name the refused packs: the blob may well have been in one of them.
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if refused.is_empty() {
            return Ok(None);
        }
        Err(VfsError::Damaged(format!(
            "blob {} is in no intact pack; refused: {}",
            id.short(),
            refused.join("; ")
        )))
    }

    fn read_pack(&self, name: &str) -> VfsResult<Vec<u8>> {
        self.backend.read(name).map_err(|e| match e {
            crate::backend::BackendError::Tampered { .. } => {
                VfsError::Damaged(format!("{e}; refused"))
            }
            e => VfsError::from_repo(e.into()),
        })
    }
}

impl RemoteSource {
    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, HashMap<BlobId, BlobLocation>> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }
}

enum RHandle {
    Text(Vec<u8>),
    File {
        chunks: Vec<(BlobId, u32)>,
        uid: u32,
    },
}

/// The read-only drive of a recovery machine.
pub struct RecoveredFs {
    repo: RecoveredRepo,
    opts: RecoveredOptions,
    view: ViewState,
    history: History,
    handles: Mutex<HashMap<u64, Arc<RHandle>>>,
    next_fh: AtomicU64,
    status_note: Mutex<String>,
    problems: Mutex<Vec<String>>,
    /// Whether decrypted names are held (set at unlock, cleared when sealed).
    names_held: std::sync::atomic::AtomicBool,
}

impl RecoveredFs {
    /// A sealed recovery drive over what the daemon verified.
    pub fn new(repo: RecoveredRepo, opts: RecoveredOptions) -> RecoveredFs {
        let history = History::default();
        if let Some(latest) = repo.snapshots.last() {
            history.set_root(ROOT, latest);
        }
        let problems = Mutex::new(repo.problems.clone());
        RecoveredFs {
            repo,
            opts,
            view: ViewState::default(),
            history,
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            status_note: Mutex::new(String::new()),
            problems,
            names_held: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The vault's name.
    pub fn vault_name(&self) -> &str {
        &self.repo.bundle.vault_name
    }

    /// The recovery bundle fetched from the remote.
    pub fn bundle(&self) -> &RecoveryBundle {
        &self.repo.bundle
    }

    /// The newest snapshot served as the root, if the remote has one.
    pub fn latest(&self) -> Option<&SnapshotRoot> {
        self.repo.snapshots.last()
    }

    /// The remote's description (e.g. `sftp:dc1`).
    pub fn remote(&self) -> String {
        self.repo.backend.describe()
    }

    /// Text the daemon adds to the status file (approvals).
    pub fn set_status_note(&self, note: String) {
        *self.status_note.lock().unwrap_or_else(|p| p.into_inner()) = note;
    }

    // ----------------------------------------------------------------- view

    /// Decrypts the index copies with `key` and shows the decrypted view until
    /// `until`. An index copy that does not open is reported; the packs it
    /// covered are then found through their own tables.
    pub fn unlock(&self, key: Arc<UnlockedVault>, until: DateTime<Utc>) {
        let mut index = HashMap::new();
        let mut covered = HashSet::new();
        for (name, bytes) in &self.repo.index_copies {
            match IndexMap::open(bytes, &key.private_key) {
                Ok(map) => {
                    covered.extend(map.packs.keys().copied());
                    index.extend(map.locations());
                }
                Err(e) => {
                    tracing::warn!(object = %name, error = %e, "index copy does not open; refused");
                    self.problem(format!("refused {name}: {e}"));
                }
            }
        }
        let uncovered = self
            .repo
            .packs
            .iter()
            .filter(|p| !covered.contains(*p))
            .copied()
            .collect();
        let source = RemoteSource {
            backend: self.repo.backend.clone(),
            key: key.clone(),
            index: RwLock::new(index),
            uncovered: Mutex::new(uncovered),
            refused: Mutex::new(Vec::new()),
        };
        self.view
            .unlock(Decryptor::with_source(Arc::new(source), key), until);
        self.names_held.store(true, Ordering::Release);
        tracing::info!(until = %until, "recovered vault unlocked: decrypted read-only view");
    }

    /// Seals: drops the key, the decrypted names and cached plaintext.
    pub fn seal(&self) -> bool {
        let was = self.view.seal();
        self.forget_names();
        if was {
            tracing::info!("recovered vault sealed");
        }
        was
    }

    /// End of the current unlock (`None` while sealed); seals an expired one.
    pub fn unlocked_until(&self) -> Option<DateTime<Utc>> {
        if self.view.decryptor().is_none() {
            // Expired: forget the decrypted names too.
            self.forget_names();
            return None;
        }
        self.view.until()
    }

    fn forget_names(&self) {
        if self.names_held.swap(false, Ordering::AcqRel) {
            self.history.forget();
        }
    }

    fn problem(&self, line: String) {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    fn decryptor_for(&self, uid: u32) -> VfsResult<Arc<Decryptor>> {
        let Some(d) = self.view.decryptor() else {
            tracing::warn!(uid, "refused: the recovered vault is sealed");
            return Err(VfsError::Sealed);
        };
        if !self.opts.readers.contains(&uid) {
            tracing::warn!(uid, "refused: not a reader of the unlocked vault");
            return Err(VfsError::NotReader { uid });
        }
        Ok(d)
    }

    // ------------------------------------------------------------ namespace

    fn status_attr(&self) -> Attr {
        Attr::status_file(self.status_text().len() as u64)
    }

    fn root_attr(&self) -> Attr {
        let t = self.latest().map(|s| s.time_us * 1000).unwrap_or(0);
        Attr {
            ino: ROOT,
            kind: FileKind::Dir,
            size: 0,
            mode: 0o555,
            uid: self.opts.root_owner.0,
            gid: self.opts.root_owner.1,
            mtime_ns: t,
            ctime_ns: t,
            nlink: 2,
        }
    }

    /// `stat` of an inode.
    pub fn getattr(&self, ino: Ino) -> VfsResult<Attr> {
        match ino {
            STATUS_INO => Ok(self.status_attr()),
            ROOT => Ok(self.root_attr()),
            _ => self.history.getattr(ino),
        }
    }

    /// Looks `name` up in `parent` for caller `uid`.
    pub fn lookup(&self, parent: Ino, name: &[u8], uid: u32) -> VfsResult<Attr> {
        if parent == ROOT && name == STATUS_NAME {
            return Ok(self.status_attr());
        }
        if parent == ROOT && name == HISTORY_NAME {
            return Ok(self.history.folder_attr());
        }
        if parent == HISTORY_INO {
            return self
                .history
                .lookup_in(parent, name, &self.repo.snapshots, || {
                    self.decryptor_for(uid)
                });
        }
        let d = self.decryptor_for(uid)?;
        if parent == ROOT && self.latest().is_none() {
            return Err(VfsError::NotFound);
        }
        self.history.lookup_in(parent, name, &[], || Ok(d))
    }

    /// Entries of a directory. While sealed (or for a caller who may not read)
    /// the root lists only the status file and the snapshots folder.
    pub fn readdir(&self, ino: Ino, uid: u32) -> VfsResult<Vec<(Vec<u8>, Attr)>> {
        if ino == HISTORY_INO {
            return self
                .history
                .readdir_in(ino, &self.repo.snapshots, || self.decryptor_for(uid));
        }
        if ino != ROOT {
            let d = self.decryptor_for(uid)?;
            return self.history.readdir_in(ino, &[], || Ok(d));
        }
        let mut out = vec![
            (STATUS_NAME.to_vec(), self.status_attr()),
            (HISTORY_NAME.to_vec(), self.history.folder_attr()),
        ];
        if self.latest().is_some()
            && let Ok(d) = self.decryptor_for(uid)
        {
            out.extend(self.history.readdir_in(ROOT, &[], || Ok(d))?);
        }
        Ok(out)
    }

    /// `readlink`.
    pub fn readlink(&self, ino: Ino) -> VfsResult<Vec<u8>> {
        self.history.readlink(ino)
    }

    /// Refused: the recovery drive is read-only.
    pub fn mkdir(&self, _: Ino, _: &[u8], _: u32, _: u32, _: u32) -> VfsResult<Attr> {
        Err(VfsError::ReadOnly)
    }

    /// Refused: the recovery drive is read-only.
    pub fn symlink(&self, _: Ino, _: &[u8], _: &[u8], _: u32, _: u32) -> VfsResult<Attr> {
        Err(VfsError::ReadOnly)
    }

    /// Refused: the recovery drive is read-only.
    pub fn unlink(&self, _: Ino, _: &[u8]) -> VfsResult<()> {
        Err(VfsError::ReadOnly)
    }

    /// Refused: the recovery drive is read-only.
    pub fn rmdir(&self, _: Ino, _: &[u8]) -> VfsResult<()> {
        Err(VfsError::ReadOnly)
    }

    /// Refused: the recovery drive is read-only.
    pub fn rename(&self, _: Ino, _: &[u8], _: Ino, _: &[u8], _: bool) -> VfsResult<()> {
        Err(VfsError::ReadOnly)
    }

    /// Refused: the recovery drive is read-only.
    pub fn setattr(&self, _: Ino, _: &AttrChange, _: Option<u64>, _: u32) -> VfsResult<Attr> {
        Err(VfsError::ReadOnly)
    }

    /// Refused: the recovery drive is read-only.
    pub fn create(
        &self,
        _: Ino,
        _: &[u8],
        _: u32,
        _: u32,
        _: u32,
        _: OpenMode,
    ) -> VfsResult<(Attr, u64)> {
        Err(VfsError::ReadOnly)
    }

    /// Refused: the recovery drive is read-only.
    pub fn write(&self, _: u64, _: u64, _: &[u8]) -> VfsResult<usize> {
        Err(VfsError::ReadOnly)
    }

    // -------------------------------------------------------------- content

    fn add_handle(&self, h: RHandle) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fh, Arc::new(h));
        fh
    }

    /// Opens a file for reading (needs the unlocked view and a reader).
    pub fn open(&self, ino: Ino, mode: OpenMode, uid: u32) -> VfsResult<u64> {
        if mode.write || mode.truncate || mode.append {
            return Err(VfsError::ReadOnly);
        }
        if ino == STATUS_INO {
            return Ok(self.add_handle(RHandle::Text(self.status_text().into_bytes())));
        }
        if ino == ROOT || ino == HISTORY_INO {
            return Err(VfsError::IsDir);
        }
        let d = self.decryptor_for(uid)?;
        let chunks = self.history.file_chunks_with(ino, |id| d.locate(id))?;
        Ok(self.add_handle(RHandle::File { chunks, uid }))
    }

    /// Reads through a handle, decrypting only the chunks the range touches.
    pub fn read(&self, fh: u64, offset: u64, len: usize) -> VfsResult<Vec<u8>> {
        let h = self
            .handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fh)
            .cloned()
            .ok_or(VfsError::Invalid("unknown file handle"))?;
        match h.as_ref() {
            RHandle::Text(text) => {
                let start = (offset as usize).min(text.len());
                let end = (start + len).min(text.len());
                Ok(text[start..end].to_vec())
            }
            RHandle::File { chunks, uid } => self.decryptor_for(*uid)?.read(chunks, offset, len),
        }
    }

    /// Nothing to write back.
    pub fn flush(&self, _fh: u64) -> VfsResult<()> {
        Ok(())
    }

    /// Nothing to write back.
    pub fn fsync(&self, _fh: u64) -> VfsResult<()> {
        Ok(())
    }

    /// Drops a handle.
    pub fn release(&self, fh: u64) -> VfsResult<()> {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh);
        Ok(())
    }

    /// Nothing is ever staged.
    pub fn seal_all(&self) -> VfsResult<()> {
        Ok(())
    }

    /// Bytes in the local cache.
    pub fn stored_bytes(&self) -> u64 {
        self.repo.backend.cached_bytes()
    }

    /// The cache bound.
    pub fn quota(&self) -> Option<u64> {
        Some(self.repo.backend.bound())
    }

    /// Number of open handles.
    pub fn open_handles(&self) -> usize {
        self.handles.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Not counted: the tree is not known before the unlock.
    pub fn inode_count(&self) -> u64 {
        0
    }

    /// The text of `/.bcpvault-status`.
    pub fn status_text(&self) -> String {
        let state = match self.view.unlocked_text() {
            Some(unlocked) => format!("{unlocked} (read-only)"),
            None => format!(
                "sealed: waiting for {} executive approvals",
                self.repo.bundle.threshold
            ),
        };
        let latest = match self.latest() {
            Some(s) => format!(
                "{} of {} ({} snapshots)",
                s.id.short(),
                chrono::DateTime::from_timestamp_micros(s.time_us)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_default(),
                self.repo.snapshots.len()
            ),
            None => "none: the remote holds no snapshot".into(),
        };
        let mut problems = String::new();
        for p in self
            .problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            problems.push_str(&format!("problem: {p}\n"));
        }
        let note = self
            .status_note
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        format!(
            "vault: {}\nrecovery: from {} (read-only)\nstate: {state}\nlatest snapshot: {latest}\ncache: {} of {} bytes\n{problems}{note}",
            self.repo.bundle.vault_name,
            self.remote(),
            self.stored_bytes(),
            self.repo.backend.bound(),
        )
    }
}
