//! Committing: after every pack of a run is durable, write the encrypted index
//! copy, then the signed snapshot — the commit point — and record it locally.
//! A crash before the snapshot leaves only unreferenced-but-valid packs that the
//! next run deduplicates against.

use super::error::RepoResult;
use super::id::{BlobId, ObjectId, index_name, snapshot_name};
use super::pipeline::WriteStats;
use super::repository::{LocalSnapshot, Repository};
use super::snapshot::{Snapshot, SnapshotHeader, SnapshotPrivate};

/// Counts recorded in a snapshot header.
#[derive(Debug, Clone, Default)]
pub struct CommitStats {
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Sum of file sizes.
    pub logical_bytes: u64,
}

/// Writes the index copy and the snapshot for a finished run; returns the
/// snapshot id.
pub fn commit_snapshot(
    repo: &Repository,
    root: BlobId,
    stats: &CommitStats,
    write: &WriteStats,
    host: &str,
    paths: Vec<String>,
) -> RepoResult<ObjectId> {
    // The drive publishes packs one by one without an index copy; the first
    // snapshot after them lists them, so a recovery finds every chunk's pack
    // without reading unlisted packs whole.
    let unlisted = repo.unlisted_packs()?;
    let mut listed = write.packs.clone();
    for (id, entries) in &unlisted {
        listed.add_pack(*id, entries.clone());
    }
    if !listed.packs.is_empty() {
        let bytes = listed.seal(&repo.recipients())?;
        repo.put(&index_name(&ObjectId::of(&bytes)), &bytes)?;
    }
    if !unlisted.is_empty() {
        let ids: Vec<ObjectId> = unlisted.iter().map(|(id, _)| *id).collect();
        repo.mark_listed(&ids)?;
    }
    let now = chrono::Utc::now().timestamp_micros();
    let header = SnapshotHeader {
        vault_id: repo.bundle().vault_id,
        time_us: now,
        previous: repo.head()?,
        root,
        files: stats.files,
        dirs: stats.dirs,
        logical_bytes: stats.logical_bytes,
        vault_name: repo.bundle().vault_name.clone(),
    };
    let private = SnapshotPrivate {
        host: host.to_string(),
        paths: paths.clone(),
    };
    let (id, bytes) = Snapshot::create(
        &header,
        &private,
        &repo.recipients(),
        &repo.writer().signing,
    )
    .map_err(|e| match e {
        super::snapshot::SnapshotError::Crypto(c) => c.into(),
        other => super::error::RepoError::Damaged {
            object: "new snapshot".into(),
            problem: other.to_string(),
        },
    })?;
    repo.put(&snapshot_name(&id), &bytes)?;
    repo.record_snapshot(&LocalSnapshot {
        id,
        time_us: now,
        paths,
    })?;
    Ok(id)
}
