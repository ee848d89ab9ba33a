//! Committing the live drive as a repository snapshot (`bcpvault snapshot`, and
//! before every sync): the namespace becomes tree blobs, bottom-up. Content is
//! already sealed in the store, so only trees are new; an unchanged folder
//! serialises to the same bytes and so reuses its tree blob.
//!
//! Files still open for writing contribute what was last sealed.

use crate::repo::commit::{CommitStats, commit_snapshot};
use crate::repo::tree::{Node, NodeKind, Tree};
use crate::repo::{BlobId, BlobWriter, ObjectId, RepoError, RepoResult};

use super::error::{VfsError, VfsResult};
use super::inode::{Ino, InodeKind, ROOT};
use super::vault::VaultFs;

const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

/// Writes a snapshot of the live tree; returns its id.
pub fn snapshot_live(vault: &VaultFs, host: &str) -> VfsResult<ObjectId> {
    vault.seal_all()?;
    let repo = vault.repo();
    // Trees are committed durably at once: the snapshot is a commit point.
    let opts = crate::repo::WriteOptions {
        deferred: false,
        ..vault.write_options().clone()
    };
    let mut stats = CommitStats::default();
    let (root, write) = BlobWriter::run(repo, &opts, |w| tree_of(vault, ROOT, w, &mut stats))
        .map_err(VfsError::from_repo)?;
    let id = commit_snapshot(repo, root, &stats, &write, host, vec!["/".to_string()])
        .map_err(VfsError::from_repo)?;
    tracing::info!(snapshot = %id.short(), files = stats.files, "snapshot of the live drive committed");
    Ok(id)
}

fn tree_of(
    vault: &VaultFs,
    dir: Ino,
    w: &mut BlobWriter<'_>,
    stats: &mut CommitStats,
) -> RepoResult<BlobId> {
    let entries = vault
        .namespace()
        .list(dir)
        .map_err(|e| RepoError::BadSource {
            path: format!("inode {dir}").into(),
            problem: e.to_string(),
        })?;
    let mut tree = Tree::default();
    for (name, inode) in entries {
        let secs = inode.mtime_ns.div_euclid(1_000_000_000);
        let nsec = inode.mtime_ns.rem_euclid(1_000_000_000) as u32;
        let (type_bits, kind) = match inode.kind {
            InodeKind::File { size, chunks } => {
                stats.files += 1;
                stats.logical_bytes += size;
                let chunks = chunks.into_iter().map(|(id, _)| id).collect();
                (S_IFREG, NodeKind::File { size, chunks })
            }
            InodeKind::Dir => {
                stats.dirs += 1;
                let subtree = tree_of(vault, inode.ino, w, stats)?;
                (S_IFDIR, NodeKind::Dir { subtree })
            }
            InodeKind::Symlink { target } => (S_IFLNK, NodeKind::Symlink { target }),
        };
        tree.nodes.push(Node {
            name,
            mode: type_bits | inode.mode,
            uid: inode.uid,
            gid: inode.gid,
            mtime: secs,
            mtime_nsec: nsec,
            kind,
        });
    }
    tree.sort();
    w.tree(&tree)
}
