//! The writer's view of a store: key material that encrypts but cannot decrypt,
//! the local repository directory, and the embedded DB index.
//!
//! Store layout: `<store>/keys/` (recovery bundle, writer secrets), `<store>/db/`
//! (sled), `<store>/repo/` (the local repository: `config`, `data/`, `index/`,
//! `snapshots/`; the same object layout every remote gets).
//!
//! A pack becomes visible in three durable steps, so a crash at any point leaves
//! either nothing or a complete, indexed pack: (1) its blob table goes into the DB
//! tree `pending` (flushed); (2) the object is published atomically by the backend;
//! (3) one DB transaction moves the entries from `pending` to `index`. On open,
//! pending packs whose object exists are completed, the others dropped.

use std::path::{Path, PathBuf};

use sled::Transactional;

use crate::backend::local::LocalBackend;
use crate::backend::{ReadBackend, WriteBackend};
use crate::crypto::{VaultPublicKey, WriterVerifyingKey};
use crate::db::Db;
use crate::keys::{KeyFiles, RecoveryBundle, WriterSecrets};

use super::error::{RepoError, RepoResult};
use super::id::{BlobHasher, BlobId, ObjectId, pack_name};
use super::index::BlobLocation;
use super::journal::{Batch, Journal, JournalOp};
use super::keypool::KeyPool;
use super::pack::{ENTRY_LEN, FinishedPack, PackBuilder, PackEntry};
use super::wire::Wire;

mod open;

const T_INDEX: &str = "index";
const T_PACKS: &str = "packs";
const T_PENDING: &str = "pending";
const T_SNAPSHOTS: &str = "snapshots";
const T_META: &str = "meta";
const T_RETIRED: &str = "retired";
/// Packs published one at a time (the mounted drive) whose blob table is in no
/// index copy yet: pack id → u32 n ‖ n × entry. The next snapshot lists them.
const T_UNLISTED: &str = "unlisted";
const HEAD: &[u8] = b"head";

/// Encodes a blob table for a DB value: `u32 count ‖ count × entry`.
fn encode_table(entries: &[PackEntry]) -> Vec<u8> {
    let mut v = (entries.len() as u32).to_be_bytes().to_vec();
    for e in entries {
        e.encode(&mut v);
    }
    v
}

/// A `packs` row: pack size u64 ‖ blob count u32.
fn pack_row(size: u64, blobs: usize) -> Vec<u8> {
    let mut v = size.to_be_bytes().to_vec();
    v.extend_from_slice(&(blobs as u32).to_be_bytes());
    v
}

/// Decodes a blob table kept in a DB value: `u32 count ‖ count × entry`.
fn decode_table(value: &[u8], what: &'static str) -> Result<Vec<PackEntry>, String> {
    let mut w = Wire::new(value, what);
    let n = w.u32().map_err(|e| e.to_string())?;
    (0..n)
        .map(|_| PackEntry::decode(&mut w))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// The journaled DB writes that make a published drive pack visible: its blobs
/// in `index`, its size in `packs`, its table in `unlisted` (for the next index
/// copy); the batch requires the pack object.
fn published_batch(id: ObjectId, size: u64, entries: &[PackEntry]) -> Batch {
    let mut batch = Batch {
        requires: vec![pack_name(&id)],
        ..Batch::default()
    };
    for (i, e) in entries.iter().enumerate() {
        let loc = BlobLocation {
            pack: id,
            entry: *e,
            index: i as u32,
        };
        batch.put(T_INDEX, e.id.0.to_vec(), loc.to_db());
    }
    batch.put(T_PACKS, id.0.to_vec(), pack_row(size, entries.len()));
    batch.put(T_UNLISTED, id.0.to_vec(), encode_table(entries));
    batch
}

/// An open store on the file server (writer side).
pub struct Repository {
    store: PathBuf,
    bundle: RecoveryBundle,
    public: VaultPublicKey,
    writer: WriterSecrets,
    hasher: BlobHasher,
    db: Db,
    backend: LocalBackend,
    index: sled::Tree,
    packs: sled::Tree,
    pending: sled::Tree,
    snapshots: sled::Tree,
    meta: sled::Tree,
    retired: sled::Tree,
    /// Whether `retired` has entries: keeps [`Self::contains`] one lookup in the
    /// common case.
    any_retired: std::sync::atomic::AtomicBool,
    journal: Journal,
    keys: KeyPool,
    unsynced: std::sync::Mutex<Vec<String>>,
    /// The drive's open pack (see `openpack.rs`).
    open_pack: std::sync::Mutex<Option<super::openpack::OpenPack>>,
    /// Number of the next open pack.
    open_next: std::sync::atomic::AtomicU64,
    /// A handle to the open pack's file for the group commit's fsync, and
    /// whether its directory entry was synced.
    open_sync: std::sync::Mutex<Option<(std::fs::File, bool)>>,
    /// Finished open pack files, removed once no journal batch names them.
    open_done: std::sync::Mutex<Vec<PathBuf>>,
}

/// A snapshot as the writer records it locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSnapshot {
    /// Object id.
    pub id: ObjectId,
    /// Time, microseconds since the epoch.
    pub time_us: i64,
    /// Source paths (the profile's folders; kept locally only).
    pub paths: Vec<String>,
}

impl Repository {
    /// Opens the store of an initialised vault, finishing or dropping packs a
    /// crash left half-published and removing temporary leftovers.
    pub fn open(store: &Path) -> RepoResult<Repository> {
        let files = KeyFiles::new(store);
        let bundle = files.load_bundle()?;
        let writer = files.load_writer(&bundle)?;
        let public = bundle.public_key()?;
        let db = Db::open(store)?;
        let backend = LocalBackend::open(&store.join("repo"))?;
        backend.cleanup_leftovers()?;
        let journal_path = store.join("journal");
        let journal =
            Journal::open(&journal_path).map_err(|e| RepoError::io(&journal_path, "open", e))?;
        let tree = |name| db.tree(name);
        let repo = Repository {
            store: store.to_path_buf(),
            hasher: BlobHasher::new(&writer.dedup_key),
            index: tree(T_INDEX)?,
            packs: tree(T_PACKS)?,
            pending: tree(T_PENDING)?,
            snapshots: tree(T_SNAPSHOTS)?,
            meta: tree(T_META)?,
            keys: KeyPool::new(vec![public.clone()]),
            any_retired: std::sync::atomic::AtomicBool::new(!tree(T_RETIRED)?.is_empty()),
            retired: tree(T_RETIRED)?,
            bundle,
            public,
            writer,
            db,
            backend,
            journal,
            unsynced: std::sync::Mutex::new(Vec::new()),
            open_pack: std::sync::Mutex::new(None),
            open_next: std::sync::atomic::AtomicU64::new(0),
            open_sync: std::sync::Mutex::new(None),
            open_done: std::sync::Mutex::new(Vec::new()),
        };
        repo.write_config()?;
        repo.recover_pending()?;
        repo.replay_journal()?;
        repo.finish_open_packs()?;
        Ok(repo)
    }

    /// The store directory.
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// The local repository backend.
    pub fn backend(&self) -> &LocalBackend {
        &self.backend
    }

    /// The recovery bundle.
    pub fn bundle(&self) -> &RecoveryBundle {
        &self.bundle
    }

    /// Public keys every new object is encrypted to.
    pub fn recipients(&self) -> Vec<&VaultPublicKey> {
        vec![&self.public]
    }

    /// A new pack builder closing at `target` bytes, its session key taken from
    /// the pool wrapped ahead of need; `expected` as in [`PackBuilder::with_key`].
    pub fn pack_builder(&self, target: usize, expected: Option<usize>) -> RepoResult<PackBuilder> {
        let wrapped = self.keys.take()?;
        Ok(PackBuilder::with_key(wrapped, target, expected))
    }

    /// The writer secrets (dedup key, gear seed, signing key).
    pub fn writer(&self) -> &WriterSecrets {
        &self.writer
    }

    /// The keyed hasher naming blobs.
    pub fn hasher(&self) -> &BlobHasher {
        &self.hasher
    }

    /// Key verifying this vault's snapshot signatures.
    pub fn verifying_key(&self) -> RepoResult<WriterVerifyingKey> {
        Ok(self.bundle.writer_verifying_key()?)
    }

    /// The embedded database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Whether a blob is stored (committed) already in a pack new blobs may
    /// deduplicate against (not a retired one, see [`Self::retire_packs`]).
    pub fn contains(&self, id: &BlobId) -> RepoResult<bool> {
        if !self.any_retired.load(std::sync::atomic::Ordering::Acquire) {
            let indexed = self.index.contains_key(id.0).map_err(|e| self.db.err(e))?;
            return Ok(indexed || self.open_contains(id));
        }
        match self.locate_indexed(id)? {
            None => Ok(self.open_contains(id)),
            Some(loc) => Ok(!self
                .retired
                .contains_key(loc.pack.0)
                .map_err(|e| self.db.err(e))?),
        }
    }

    /// Stops deduplicating against `packs` (durably): a remote's prune deleted
    /// them, so a new snapshot must not reference their blobs; a blob needed again
    /// is stored anew in a new pack. The packs stay readable here (older local
    /// snapshots and the drive still use them through [`Self::locate`]).
    pub fn retire_packs(&self, packs: &[ObjectId]) -> RepoResult<()> {
        if packs.is_empty() {
            return Ok(());
        }
        for p in packs {
            self.retired.insert(p.0, &[]).map_err(|e| self.db.err(e))?;
        }
        self.retired.flush().map_err(|e| self.db.err(e))?;
        self.any_retired
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Where a committed blob is.
    /// A blob in the drive's open pack is located after closing that pack.
    pub fn locate(&self, id: &BlobId) -> RepoResult<Option<BlobLocation>> {
        match self.locate_indexed(id)? {
            None if self.open_contains(id) => {
                self.close_open_pack()?;
                self.locate_indexed(id)
            }
            found => Ok(found),
        }
    }

    fn locate_indexed(&self, id: &BlobId) -> RepoResult<Option<BlobLocation>> {
        match self.index.get(id.0).map_err(|e| self.db.err(e))? {
            None => Ok(None),
            Some(v) => BlobLocation::from_db(&v)
                .map(Some)
                .map_err(|e| RepoError::malformed(format!("db index entry {}", id.short()), e)),
        }
    }

    /// Every committed blob location (for check and usage).
    pub fn all_locations(&self) -> RepoResult<Vec<BlobLocation>> {
        let mut out = Vec::new();
        for item in self.index.iter() {
            let (k, v) = item.map_err(|e| self.db.err(e))?;
            out.push(BlobLocation::from_db(&v).map_err(|e| {
                RepoError::malformed(format!("db index entry {}", hex::encode(&k)), e)
            })?);
        }
        Ok(out)
    }

    /// Every committed pack with its size.
    pub fn all_packs(&self) -> RepoResult<Vec<(ObjectId, u64)>> {
        let mut out = Vec::new();
        for item in self.packs.iter() {
            let (k, v) = item.map_err(|e| self.db.err(e))?;
            let id = ObjectId(k.as_ref().try_into().unwrap_or([0; 32]));
            let size = v
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            out.push((id, size));
        }
        Ok(out)
    }

    /// Bytes of all committed packs.
    pub fn stored_bytes(&self) -> RepoResult<u64> {
        let packs: u64 = self.all_packs()?.iter().map(|(_, s)| s).sum();
        Ok(packs + self.open_bytes())
    }

    /// Publishes a finished pack durably (see the module docs for the steps).
    pub fn commit_pack(&self, pack: &FinishedPack) -> RepoResult<()> {
        let mut table = Vec::with_capacity(pack.entries.len() * ENTRY_LEN);
        for e in &pack.entries {
            e.encode(&mut table);
        }
        self.pending
            .insert(pack.id.0, table.as_slice())
            .map_err(|e| self.db.err(e))?;
        self.db.flush()?;
        self.backend
            .write_if_absent(&pack_name(&pack.id), &pack.bytes)?;
        self.finish_pending(pack.id, &pack.entries, pack.bytes.len() as u64)
    }

    fn finish_pending(&self, id: ObjectId, entries: &[PackEntry], size: u64) -> RepoResult<()> {
        let pack_value = pack_row(size, entries.len());
        (&self.index, &self.packs, &self.pending)
            .transaction(|(index, packs, pending)| {
                for (i, e) in entries.iter().enumerate() {
                    let loc = BlobLocation {
                        pack: id,
                        entry: *e,
                        index: i as u32,
                    };
                    index.insert(&e.id.0, loc.to_db())?;
                }
                packs.insert(&id.0, pack_value.as_slice())?;
                pending.remove(&id.0)?;
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| match e {
                sled::transaction::TransactionError::Storage(e) => RepoError::from(self.db.err(e)),
                sled::transaction::TransactionError::Abort(()) => {
                    RepoError::from(self.db.err(sled::Error::ReportableBug("abort".into())))
                }
            })?;
        Ok(())
    }

    fn recover_pending(&self) -> RepoResult<()> {
        for item in self.pending.iter() {
            let (k, v) = item.map_err(|e| self.db.err(e))?;
            let id = ObjectId(k.as_ref().try_into().unwrap_or([0; 32]));
            let name = pack_name(&id);
            match self.backend.stat(&name)? {
                Some(info) => {
                    let mut w = Wire::new(&v, "pending pack table");
                    let mut entries = Vec::new();
                    while w.remaining() > 0 {
                        entries.push(
                            PackEntry::decode(&mut w)
                                .map_err(|e| RepoError::malformed(&name, e))?,
                        );
                    }
                    tracing::info!(pack = %id.short(), "completing a pack a crash left unindexed");
                    self.finish_pending(id, &entries, info.size)?;
                }
                None => {
                    self.pending.remove(k).map_err(|e| self.db.err(e))?;
                }
            }
        }
        self.db.flush()?;
        Ok(())
    }

    /// Publishes a finished pack without waiting for the disk: it survives a crash
    /// of this process when this returns, and power loss after the next
    /// [`Self::group_commit`] (see `journal.rs`).
    pub fn commit_pack_deferred(&self, pack: &FinishedPack) -> RepoResult<()> {
        let name = pack_name(&pack.id);
        self.backend.write_unsynced(&name, &pack.bytes)?;
        let batch = published_batch(pack.id, pack.bytes.len() as u64, &pack.entries);
        self.lock_unsynced().push(name);
        self.apply(&batch)
    }

    /// Blob tables of the drive's packs that no index copy lists yet.
    /// The open pack is closed first, so everything sealed so far is listed.
    pub fn unlisted_packs(&self) -> RepoResult<Vec<(ObjectId, Vec<PackEntry>)>> {
        self.close_open_pack()?;
        let mut out = Vec::new();
        for item in self.db.tree(T_UNLISTED)?.iter() {
            let (key, value) = item.map_err(|e| self.db.err(e))?;
            let damaged = |problem: String| RepoError::Damaged {
                object: format!("writer DB tree {T_UNLISTED}"),
                problem,
            };
            let id = ObjectId(
                key.as_ref()
                    .try_into()
                    .map_err(|_| damaged("key is not a pack id".into()))?,
            );
            let entries = decode_table(&value, "unlisted pack table").map_err(damaged)?;
            out.push((id, entries));
        }
        Ok(out)
    }

    /// Records that an index copy now lists `packs` (journaled, like the packs).
    pub fn mark_listed(&self, packs: &[ObjectId]) -> RepoResult<()> {
        let mut batch = Batch::default();
        for id in packs {
            batch.delete(T_UNLISTED, id.0.to_vec());
        }
        self.apply(&batch)
    }

    /// Writes `batch` to the journal (durable against a crash of this process) and
    /// applies it to the DB. Power-loss durability comes with [`Self::group_commit`].
    pub fn apply(&self, batch: &Batch) -> RepoResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let path = self.store.join("journal");
        let _applying = self
            .journal
            .append(batch)
            .map_err(|e| RepoError::io(&path, "append", e))?;
        self.apply_to_db(batch)
    }

    fn apply_to_db(&self, batch: &Batch) -> RepoResult<()> {
        for op in &batch.ops {
            match op {
                JournalOp::Put { tree, key, value } => {
                    self.db
                        .tree(tree)?
                        .insert(key.as_slice(), value.as_slice())
                        .map_err(|e| self.db.err(e))?;
                }
                JournalOp::Delete { tree, key } => {
                    self.db
                        .tree(tree)?
                        .remove(key.as_slice())
                        .map_err(|e| self.db.err(e))?;
                }
            }
        }
        Ok(())
    }

    fn lock_unsynced(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.unsynced.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes everything deferred so far survive power loss: fsync of the packs
    /// published since the last group commit, a DB flush, an empty journal.
    ///
    /// The packs are fsynced first without blocking writers (closes go on); only
    /// the few published meanwhile are synced while the journal is held.
    ///
    /// The drive's open pack is closed first (so its key is dropped at least
    /// this often); finished open pack files go once the journal is empty.
    pub fn group_commit(&self) -> RepoResult<()> {
        let path = self.store.join("journal");
        self.close_open_pack()?;
        let done = self.take_open_done();
        let first = std::mem::take(&mut *self.lock_unsynced());
        if let Err(e) = self.sync_packs(&first) {
            self.lock_unsynced().extend(first);
            self.return_open_done(done);
            return Err(e);
        }
        let committed = self.journal.checkpoint(
            || -> RepoResult<()> {
                let rest = std::mem::take(&mut *self.lock_unsynced());
                if let Err(e) = self.sync_packs(&rest) {
                    self.lock_unsynced().extend(rest);
                    return Err(e);
                }
                self.sync_open()?;
                self.db.flush()?;
                Ok(())
            },
            |e| RepoError::io(&path, "truncate", e),
        );
        match committed {
            Ok(()) => {
                for file in done {
                    let _ = std::fs::remove_file(file);
                }
                Ok(())
            }
            Err(e) => {
                self.return_open_done(done);
                Err(e)
            }
        }
    }

    /// Makes pack files and their names durable: an fsync of each pack and once
    /// of each directory holding them, or, for a burst of many small packs (a
    /// folder copied in), one syncfs of the store's file system. syncfs also
    /// flushes whatever else is dirty on that file system, so a few packs are
    /// fsynced one by one.
    fn sync_packs(&self, names: &[String]) -> RepoResult<()> {
        const SYNCFS_FROM: usize = 16;
        if names.is_empty() || (names.len() >= SYNCFS_FROM && self.backend.sync_filesystem()?) {
            return Ok(());
        }
        let mut dirs = std::collections::BTreeSet::new();
        for name in names {
            self.backend.sync_file(name)?;
            if let Some((dir, _)) = name.rsplit_once('/') {
                dirs.insert(dir.to_string());
            }
        }
        for dir in dirs {
            self.backend.sync_dir_of(&dir)?;
        }
        Ok(())
    }

    /// Replays what a crash left in the journal (its consistent prefix), then
    /// checkpoints it.
    fn replay_journal(&self) -> RepoResult<()> {
        let path = self.store.join("journal");
        let batches = self
            .journal
            .read_all()
            .map_err(|e| RepoError::io(&path, "read", e))?;
        if batches.is_empty() {
            return Ok(());
        }
        let mut applied = 0usize;
        let mut open_files = std::collections::HashMap::new();
        'batches: for batch in &batches {
            for name in &batch.requires {
                let intact = if let Some((n, len)) = super::openpack::parse_requirement(name) {
                    self.open_requirement_holds(n, len, &mut open_files)
                } else {
                    match self.backend.read(name) {
                        Ok(bytes) => crate::backend::verify::check_object(name, &bytes).is_ok(),
                        Err(_) => false,
                    }
                };
                if !intact {
                    tracing::warn!(object = %name, "journal names an object lost with power; later writes dropped");
                    break 'batches;
                }
            }
            self.apply_to_db(batch)?;
            applied += 1;
        }
        tracing::info!(
            applied,
            total = batches.len(),
            "replayed the journal after a crash"
        );
        self.group_commit()
    }

    /// Writes the repository `config` object once.
    fn write_config(&self) -> RepoResult<()> {
        let bytes = super::config::RepoConfig::for_bundle(&self.bundle).to_bytes();
        self.backend.write_if_absent("config", &bytes)?;
        Ok(())
    }

    /// The newest snapshot this store wrote (the chain head).
    pub fn head(&self) -> RepoResult<ObjectId> {
        Ok(self
            .meta
            .get(HEAD)
            .map_err(|e| self.db.err(e))?
            .and_then(|v| v.as_ref().try_into().ok())
            .map(ObjectId)
            .unwrap_or_default())
    }

    /// Records a committed snapshot and makes it the chain head (durably).
    pub fn record_snapshot(&self, snap: &LocalSnapshot) -> RepoResult<()> {
        let mut v = snap.time_us.to_be_bytes().to_vec();
        v.extend_from_slice(
            serde_json::to_string(&snap.paths)
                .unwrap_or_default()
                .as_bytes(),
        );
        self.snapshots
            .insert(snap.id.0, v)
            .map_err(|e| self.db.err(e))?;
        self.meta
            .insert(HEAD, &snap.id.0)
            .map_err(|e| self.db.err(e))?;
        self.db.flush()?;
        Ok(())
    }

    /// Snapshots recorded locally, oldest first.
    pub fn local_snapshots(&self) -> RepoResult<Vec<LocalSnapshot>> {
        let mut out = Vec::new();
        for item in self.snapshots.iter() {
            let (k, v) = item.map_err(|e| self.db.err(e))?;
            let id = ObjectId(k.as_ref().try_into().unwrap_or([0; 32]));
            let time_us = v
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .unwrap_or(0);
            let paths = serde_json::from_slice(v.get(8..).unwrap_or_default()).unwrap_or_default();
            out.push(LocalSnapshot { id, time_us, paths });
        }
        out.sort_by_key(|s| s.time_us);
        Ok(out)
    }

    /// Writes an object to the local repository (index copies, snapshots).
    pub fn put(&self, name: &str, bytes: &[u8]) -> RepoResult<()> {
        self.backend.write_if_absent(name, bytes)?;
        Ok(())
    }
}
