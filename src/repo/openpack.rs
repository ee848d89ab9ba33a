//! The mounted drive's open pack: small files sealed at close share one
//! segmented pack (`segpack.rs`) instead of a pack each.
//!
//! The pack grows in `<store>/open/<n>` by one segment per sealed file (one
//! `write(2)`); the segment's blob table is journaled in the DB tree `open`
//! (`n ‖ length after the segment` → entries), so a file whose `close()` returned
//! survives `kill -9` although the pack is unfinished and its session key gone:
//! at the next open the pack is cut after its last journaled, intact segment and
//! finished without the key ([`finish_file`]). Running, the pack is finished
//! (hashed, hard-linked into `repo/data/`, indexed) when it reaches the pack size,
//! at every group commit, and before anything needs it indexed (a snapshot's
//! index copy, a read of a blob in it). So one RSA wrap, one file and one index
//! row per pack serve many small files, and a pack's key lives in memory for at
//! most one group-commit interval.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::blob::PreparedBlob;
use super::id::{BlobId, ObjectId};
use super::keypool::WrappedKey;
use super::pack::PackEntry;
use super::segpack::SegmentWriter;

/// Directory of open packs below the store.
pub const OPEN_DIR: &str = "open";

/// The journal requirement "open pack `n` holds whole segments up to `len`".
pub fn requirement(n: u64, len: u64) -> String {
    format!("{OPEN_DIR}/{n}@{len}")
}

/// Parses [`requirement`]; `None` for other object names.
pub fn parse_requirement(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix(OPEN_DIR)?.strip_prefix('/')?;
    let (n, len) = rest.split_once('@')?;
    Some((n.parse().ok()?, len.parse().ok()?))
}

/// Whether the bytes of an open pack file hold a whole segmented pack in their
/// first `len` bytes (checked without the key: trailers walk back to the envelope).
pub fn whole_at(bytes: &[u8], len: u64) -> bool {
    bytes.len() as u64 >= len && super::pack::layout(&bytes[..len as usize]).is_ok()
}

/// Finishes an open pack file left by a crash: cut to `len` (after its last
/// whole segment) and named by its hash.
pub fn finish_file(path: &Path, len: u64) -> std::io::Result<ObjectId> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    let bytes = std::fs::read(path)?;
    Ok(ObjectId::of(&bytes))
}

/// One open pack.
pub struct OpenPack {
    n: u64,
    path: PathBuf,
    file: File,
    writer: SegmentWriter,
    sha: Sha256,
    entries: Vec<PackEntry>,
    ids: HashSet<BlobId>,
    /// Length after each segment (the keys of its journal records).
    ends: Vec<u64>,
}

/// A finished open pack, ready to be published and indexed.
pub struct ClosedPack {
    /// Its number (names its journal records).
    pub n: u64,
    /// The file in `<store>/open/`.
    pub path: PathBuf,
    /// SHA-256 of its bytes.
    pub id: ObjectId,
    /// Its length.
    pub size: u64,
    /// Its blob table.
    pub entries: Vec<PackEntry>,
    /// Length after each segment.
    pub ends: Vec<u64>,
}

impl OpenPack {
    /// Creates `<dir>/<n>` holding the pack's first bytes.
    pub fn create(dir: &Path, n: u64, wrapped: WrappedKey) -> std::io::Result<OpenPack> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(n.to_string());
        let (writer, prefix) = SegmentWriter::start(wrapped);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        file.write_all(&prefix)?;
        let mut sha = Sha256::new();
        sha.update(&prefix);
        Ok(OpenPack {
            n,
            path,
            file,
            writer,
            sha,
            entries: Vec::new(),
            ids: HashSet::new(),
            ends: Vec::new(),
        })
    }

    /// Its number.
    pub fn number(&self) -> u64 {
        self.n
    }

    /// Bytes so far.
    pub fn len(&self) -> u64 {
        self.writer.len() as u64
    }

    /// Whether no segment was written.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Whether a blob is in it.
    pub fn contains(&self, id: &BlobId) -> bool {
        self.ids.contains(id)
    }

    /// Appends one segment holding `blobs` with one write; returns its table
    /// and the pack's length after it. On error the file is cut back to its
    /// last whole segment and the pack must be closed (its writer has moved on).
    pub fn append(&mut self, blobs: &[PreparedBlob]) -> std::io::Result<(Vec<PackEntry>, u64)> {
        let before = self.len();
        let (bytes, entries) = self.writer.segment(blobs);
        if let Err(e) = self.file.write_all(&bytes) {
            let _ = self.file.set_len(before);
            return Err(e);
        }
        self.sha.update(&bytes);
        let len = self.len();
        self.ids.extend(entries.iter().map(|e| e.id));
        self.entries.extend_from_slice(&entries);
        self.ends.push(len);
        Ok((entries, len))
    }

    /// Finishes the pack: named by the hash of the whole segments written.
    pub fn close(self) -> ClosedPack {
        let size = self.ends.last().copied().unwrap_or(0);
        ClosedPack {
            n: self.n,
            path: self.path,
            id: ObjectId(self.sha.finalize().into()),
            size,
            entries: self.entries,
            ends: self.ends,
        }
    }

    /// A second handle to the file, for an fsync that must not wait for the
    /// pack's lock.
    pub fn sync_handle(&self) -> std::io::Result<File> {
        self.file.try_clone()
    }
}
