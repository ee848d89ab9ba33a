//! The repository's side of the drive's open pack (`repo/openpack.rs`): segment
//! records in the DB tree `open`, closing into an ordinary indexed pack, and
//! finishing what a crash left.
//!
//! DB tree `open`: key `n ‖ length after the segment` (u64 BE each) → `u32 count ‖
//! count × entry`. A segment's record is journaled with the requirement
//! `open/<n>@<length>` (replay checks the file is a whole pack at that length).

use std::collections::HashMap;
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;

use super::super::blob::PreparedBlob;
use super::super::openpack::{self, OPEN_DIR, OpenPack};
use super::*;

const T_OPEN: &str = "open";

fn record_key(n: u64, len: u64) -> Vec<u8> {
    let mut k = n.to_be_bytes().to_vec();
    k.extend_from_slice(&len.to_be_bytes());
    k
}

/// One open pack's records: (length after the segment, its entries), in order.
type Records = Vec<(u64, Vec<PackEntry>)>;

impl Repository {
    fn lock_open(&self) -> MutexGuard<'_, Option<OpenPack>> {
        self.open_pack.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open_dir(&self) -> PathBuf {
        self.store.join(OPEN_DIR)
    }

    /// Seals `blobs` (prepared, at least one) into the drive's open pack as one
    /// segment and journals its table: when this returns they survive a crash
    /// of this process. The pack is closed once it reaches `pack_size`. Returns
    /// the bytes added.
    pub fn append_open(&self, blobs: &[PreparedBlob], pack_size: usize) -> RepoResult<u64> {
        if blobs.is_empty() {
            // A segment lists at least one blob (`segpack.rs`).
            return Ok(0);
        }
        let mut guard = self.lock_open();
        let op = match guard.as_mut() {
            Some(op) => op,
            None => {
                let wrapped = self.keys.take()?;
                let n = self.open_next.fetch_add(1, Ordering::AcqRel);
                let dir = self.open_dir();
                let op = OpenPack::create(&dir, n, wrapped)
                    .map_err(|e| RepoError::io(&dir, "create an open pack in", e))?;
                let handle = op
                    .sync_handle()
                    .map_err(|e| RepoError::io(&dir, "open a handle in", e))?;
                self.set_open_sync(Some(handle));
                guard.insert(op)
            }
        };
        let before = op.len();
        let (entries, len) = match op.append(blobs) {
            Ok(done) => done,
            Err(e) => {
                let err = RepoError::io(self.open_dir(), "append to an open pack in", e);
                if let Err(close) = self.close_locked(&mut guard) {
                    tracing::error!(error = %close, "closing the open pack after a failed write");
                }
                return Err(err);
            }
        };
        let mut batch = Batch {
            requires: vec![openpack::requirement(op.number(), len)],
            ..Batch::default()
        };
        batch.put(T_OPEN, record_key(op.number(), len), encode_table(&entries));
        self.apply(&batch)?;
        if len >= pack_size as u64 {
            self.close_locked(&mut guard)?;
        }
        Ok(len - before)
    }

    /// Closes the open pack, if any: published under its hash and indexed.
    pub fn close_open_pack(&self) -> RepoResult<()> {
        let mut guard = self.lock_open();
        self.close_locked(&mut guard)
    }

    fn close_locked(&self, guard: &mut Option<OpenPack>) -> RepoResult<()> {
        let Some(op) = guard.take() else {
            return Ok(());
        };
        // Closed packs are synced by name, with the other published packs.
        self.set_open_sync(None);
        if op.is_empty() {
            let closed = op.close();
            let _ = std::fs::remove_file(&closed.path);
            return Ok(());
        }
        let c = op.close();
        self.publish_open(c.n, c.path, c.id, c.size, &c.entries, c.ends)
    }

    /// Publishes a finished open pack under its hash and indexes it, in one
    /// batch that also drops its `open` records (the lengths `ends`); its file
    /// goes once the journal no longer names it.
    fn publish_open(
        &self,
        n: u64,
        path: PathBuf,
        id: ObjectId,
        size: u64,
        entries: &[PackEntry],
        ends: impl IntoIterator<Item = u64>,
    ) -> RepoResult<()> {
        let name = pack_name(&id);
        self.backend.adopt_unsynced(&path, &name)?;
        let mut batch = published_batch(id, size, entries);
        for end in ends {
            batch.delete(T_OPEN, record_key(n, end));
        }
        self.lock_unsynced().push(name);
        self.apply(&batch)?;
        self.open_done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(path);
        Ok(())
    }

    /// Whether the open pack holds `id`.
    pub(super) fn open_contains(&self, id: &BlobId) -> bool {
        self.lock_open().as_ref().is_some_and(|p| p.contains(id))
    }

    /// Bytes in the open pack.
    pub(super) fn open_bytes(&self) -> u64 {
        self.lock_open().as_ref().map_or(0, |p| p.len())
    }

    /// fsync of the open pack's file (and once, of its directory entry), called
    /// with the journal held so that every record of it sled may flush has its
    /// bytes on disk. Uses its own handle: an appender may hold the open pack's
    /// lock while it waits for the journal.
    pub(super) fn sync_open(&self) -> RepoResult<()> {
        let mut slot = self.open_sync.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((file, dir_synced)) = slot.as_mut() {
            let dir = self.open_dir();
            file.sync_data()
                .map_err(|e| RepoError::io(&dir, "fsync the open pack in", e))?;
            if !*dir_synced {
                std::fs::File::open(&dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| RepoError::io(&dir, "fsync", e))?;
                *dir_synced = true;
            }
        }
        Ok(())
    }

    fn set_open_sync(&self, file: Option<std::fs::File>) {
        *self.open_sync.lock().unwrap_or_else(|p| p.into_inner()) = file.map(|f| (f, false));
    }

    /// Takes the finished open pack files (removed once the journal no longer
    /// names them).
    pub(super) fn take_open_done(&self) -> Vec<PathBuf> {
        std::mem::take(&mut *self.open_done.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Gives back files [`Self::take_open_done`] took (their commit failed).
    pub(super) fn return_open_done(&self, files: Vec<PathBuf>) {
        self.open_done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(files);
    }

    /// Whether the requirement `open/<n>@<len>` holds; `files` caches reads.
    pub(super) fn open_requirement_holds(
        &self,
        n: u64,
        len: u64,
        files: &mut HashMap<u64, Option<Vec<u8>>>,
    ) -> bool {
        let bytes = files
            .entry(n)
            .or_insert_with(|| std::fs::read(self.open_dir().join(n.to_string())).ok());
        bytes.as_deref().is_some_and(|b| openpack::whole_at(b, len))
    }

    /// Finishes the open packs a crash left (their records are in the DB after
    /// the journal replay): each is cut after its last whole recorded segment,
    /// named and indexed without its key. Then the open directory is emptied.
    pub(super) fn finish_open_packs(&self) -> RepoResult<()> {
        let tree = self.db.tree(T_OPEN)?;
        let mut packs: std::collections::BTreeMap<u64, Records> = Default::default();
        for item in tree.iter() {
            let (k, v) = item.map_err(|e| self.db.err(e))?;
            let damaged = |problem: String| RepoError::Damaged {
                object: format!("writer DB tree {T_OPEN}"),
                problem,
            };
            let (Some(n), Some(len)) = (
                k.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes),
                k.get(8..16)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes),
            ) else {
                return Err(damaged("key is not n ‖ length".into()));
            };
            let entries = decode_table(&v, "open pack segment table").map_err(damaged)?;
            packs.entry(n).or_default().push((len, entries));
        }
        let dir = self.open_dir();
        let mut highest = packs.keys().next_back().map_or(0, |n| n + 1);
        if let Ok(list) = std::fs::read_dir(&dir) {
            for e in list.flatten() {
                if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) {
                    highest = highest.max(n + 1);
                }
            }
        }
        self.open_next.store(highest, Ordering::Release);
        for (n, records) in packs {
            self.finish_one(n, &records)?;
        }
        if !self.lock_unsynced().is_empty() {
            self.group_commit()?;
        }
        for file in self.take_open_done() {
            let _ = std::fs::remove_file(file);
        }
        if let Ok(list) = std::fs::read_dir(&dir) {
            for e in list.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(())
    }

    fn finish_one(&self, n: u64, records: &Records) -> RepoResult<()> {
        let path = self.open_dir().join(n.to_string());
        let mut files = HashMap::new();
        let whole = records
            .iter()
            .rposition(|(len, _)| self.open_requirement_holds(n, *len, &mut files));
        let ends = records.iter().map(|(len, _)| *len);
        let Some(last) = whole else {
            tracing::warn!(
                pack = n,
                "an open pack was lost with power; its files are gone"
            );
            let mut batch = Batch::default();
            for end in ends {
                batch.delete(T_OPEN, record_key(n, end));
            }
            return self.apply(&batch);
        };
        if last + 1 < records.len() {
            tracing::warn!(
                pack = n,
                lost = records.len() - last - 1,
                "an open pack lost its last segments with power"
            );
        }
        let size = records[last].0;
        let id = openpack::finish_file(&path, size)
            .map_err(|e| RepoError::io(&path, "finish an open pack", e))?;
        let entries: Vec<PackEntry> = records[..=last]
            .iter()
            .flat_map(|(_, e)| e.iter().copied())
            .collect();
        tracing::info!(pack = %id.short(), blobs = entries.len(), "finished an open pack a crash left");
        self.publish_open(n, path, id, size, &entries, ends)
    }
}
