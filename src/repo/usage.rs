//! `usage`: the brochure's "backup target size check" — what the vault holds,
//! what it costs after dedup and compression, and where it stands against quota.

use super::error::RepoResult;
use super::id::{BlobKind, snapshot_name};
use super::repository::Repository;
use super::snapshot::Snapshot;
use crate::backend::ReadBackend;

/// Sizes of one store.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    /// Snapshots recorded.
    pub snapshots: u64,
    /// Size of the files in the newest snapshot.
    pub logical_bytes: u64,
    /// Sum of file sizes over all snapshots (what a naive copy would store).
    pub all_snapshots_bytes: u64,
    /// Plaintext bytes of unique data chunks (after dedup).
    pub unique_bytes: u64,
    /// Bytes of unique tree blobs.
    pub tree_bytes: u64,
    /// Ciphertext bytes of all blobs (after compression).
    pub blob_bytes: u64,
    /// Bytes of all packs on disk.
    pub stored_bytes: u64,
    /// Number of packs.
    pub packs: u64,
    /// Quota in bytes, if the profile sets one.
    pub quota: Option<u64>,
}

impl Usage {
    /// Logical bytes over all snapshots per unique byte (≥ 1 when dedup helps).
    pub fn dedup_ratio(&self) -> f64 {
        ratio(self.all_snapshots_bytes, self.unique_bytes)
    }

    /// Unique plaintext per stored blob byte (≥ 1 when compression helps).
    pub fn compression_ratio(&self) -> f64 {
        ratio(self.unique_bytes + self.tree_bytes, self.blob_bytes)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Computes the usage of `repo` (no key needed).
pub fn usage(repo: &Repository, quota: Option<u64>) -> RepoResult<Usage> {
    let mut u = Usage {
        quota,
        ..Default::default()
    };
    for loc in repo.all_locations()? {
        match loc.entry.kind {
            BlobKind::Data => u.unique_bytes += u64::from(loc.entry.raw_len),
            BlobKind::Tree => u.tree_bytes += u64::from(loc.entry.raw_len),
        }
        u.blob_bytes += u64::from(loc.entry.length);
    }
    for (_, size) in repo.all_packs()? {
        u.packs += 1;
        u.stored_bytes += size;
    }
    for s in repo.local_snapshots()? {
        let Ok(bytes) = repo.backend().read(&snapshot_name(&s.id)) else {
            continue;
        };
        if let Ok(snap) = Snapshot::parse(&bytes) {
            u.snapshots += 1;
            u.all_snapshots_bytes += snap.header.logical_bytes;
            u.logical_bytes = snap.header.logical_bytes;
        }
    }
    Ok(u)
}
