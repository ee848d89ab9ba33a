//! `/.snapshots/<time>/…`: every snapshot of the store, read-only.
//!
//! The list of snapshot times is public (snapshot headers are not encrypted), so
//! `/.snapshots` lists while sealed; entering a snapshot needs its trees, which
//! need the unlocked view. Entries get inode numbers from a range no real inode
//! reaches (at and above [`HISTORY_BASE`]), handed out as they are first seen and
//! kept for the life of the mount.
//!
//! The same table serves a recovery mount's whole tree: there the snapshots come
//! from a remote (see [`SnapshotRoot`]) and the newest one is also the root
//! directory ([`History::set_root`]).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::backend::ReadBackend;
use crate::repo::id::snapshot_name;
use crate::repo::snapshot::Snapshot;
use crate::repo::tree::{Node, NodeKind, Tree};
use crate::repo::{BlobId, ObjectId, Repository};

use super::attr::{Attr, FileKind};
use super::decrypt::Decryptor;
use super::error::{VfsError, VfsResult};
use super::inode::Ino;

/// Name of the folder in the root.
pub const HISTORY_NAME: &[u8] = b".snapshots";
/// Inode of `/.snapshots`.
pub const HISTORY_INO: Ino = u64::MAX - 2;
/// First inode of entries inside snapshots.
pub const HISTORY_BASE: Ino = 1 << 62;

/// Whether `ino` belongs to the read-only history.
pub fn is_history(ino: Ino) -> bool {
    ino == HISTORY_INO || (HISTORY_BASE..u64::MAX - 16).contains(&ino)
}

/// A snapshot as `/.snapshots` lists it: its id, time and root tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRoot {
    /// Snapshot object id.
    pub id: ObjectId,
    /// Time, microseconds since the epoch.
    pub time_us: i64,
    /// Root tree blob.
    pub tree: BlobId,
}

#[derive(Clone)]
enum Entry {
    /// A snapshot's root: its tree blob and time.
    Root { tree: BlobId, time_us: i64 },
    /// A node inside a snapshot.
    Node(Node),
}

#[derive(Default)]
struct Table {
    next: Ino,
    entries: HashMap<Ino, Entry>,
    by_name: HashMap<(Ino, Vec<u8>), Ino>,
}

/// The read-only history view.
#[derive(Default)]
pub struct History {
    table: Mutex<Table>,
}

fn dir_name(time_us: i64, id_hex: &str, taken: &HashMap<Vec<u8>, ()>) -> Vec<u8> {
    let base = chrono::DateTime::from_timestamp_micros(time_us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| format!("@{time_us}"));
    if taken.contains_key(base.as_bytes()) {
        format!("{base}-{}", &id_hex[..8]).into_bytes()
    } else {
        base.into_bytes()
    }
}

impl History {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn intern(&self, parent: Ino, name: &[u8], entry: Entry) -> Ino {
        let mut t = self.table();
        if let Some(&ino) = t.by_name.get(&(parent, name.to_vec())) {
            t.entries.insert(ino, entry);
            return ino;
        }
        if t.next < HISTORY_BASE {
            t.next = HISTORY_BASE;
        }
        let ino = t.next;
        t.next += 1;
        t.entries.insert(ino, entry);
        t.by_name.insert((parent, name.to_vec()), ino);
        ino
    }

    fn entry(&self, ino: Ino) -> VfsResult<Entry> {
        self.table()
            .entries
            .get(&ino)
            .cloned()
            .ok_or(VfsError::NotFound)
    }

    /// Attributes of `/.snapshots` itself.
    pub fn folder_attr(&self) -> Attr {
        dir_attr(HISTORY_INO, 0)
    }

    fn attr_of(&self, ino: Ino, entry: &Entry) -> Attr {
        match entry {
            Entry::Root { time_us, .. } => dir_attr(ino, time_us * 1000),
            Entry::Node(n) => {
                let mtime_ns = n.mtime * 1_000_000_000 + i64::from(n.mtime_nsec);
                let (kind, size) = match &n.kind {
                    NodeKind::File { size, .. } => (FileKind::File, *size),
                    NodeKind::Dir { .. } => (FileKind::Dir, 0),
                    NodeKind::Symlink { target } => (FileKind::Symlink, target.len() as u64),
                };
                Attr {
                    ino,
                    kind,
                    size,
                    // Read-only view: write bits cleared.
                    mode: n.mode & 0o7555,
                    uid: n.uid,
                    gid: n.gid,
                    mtime_ns,
                    ctime_ns: mtime_ns,
                    nlink: if kind == FileKind::Dir { 2 } else { 1 },
                }
            }
        }
    }

    /// The store's snapshots (no key needed).
    fn local_roots(repo: &Repository) -> VfsResult<Vec<SnapshotRoot>> {
        let mut out = Vec::new();
        for s in repo.local_snapshots().map_err(VfsError::from_repo)? {
            let bytes = repo
                .backend()
                .read(&snapshot_name(&s.id))
                .map_err(|e| VfsError::from_repo(e.into()))?;
            let snap = Snapshot::parse(&bytes)
                .map_err(|e| VfsError::Damaged(format!("snapshot {}: {e}", s.id.short())))?;
            out.push(SnapshotRoot {
                id: s.id,
                time_us: snap.header.time_us,
                tree: snap.header.root,
            });
        }
        Ok(out)
    }

    /// The snapshots, one folder each.
    fn roots(&self, snapshots: &[SnapshotRoot]) -> Vec<(Vec<u8>, Ino, Entry)> {
        let mut taken = HashMap::new();
        let mut out = Vec::new();
        for s in snapshots {
            let name = dir_name(s.time_us, &s.id.to_hex(), &taken);
            taken.insert(name.clone(), ());
            let entry = Entry::Root {
                tree: s.tree,
                time_us: s.time_us,
            };
            let ino = self.intern(HISTORY_INO, &name, entry.clone());
            out.push((name, ino, entry));
        }
        out
    }

    /// Makes `ino` (a recovery mount's root directory) show the tree of `root`.
    pub fn set_root(&self, ino: Ino, root: &SnapshotRoot) {
        let entry = Entry::Root {
            tree: root.tree,
            time_us: root.time_us,
        };
        self.table().entries.insert(ino, entry);
    }

    /// Forgets every decrypted name and attribute (a recovery mount seals). The
    /// snapshot folders stay, with their inode numbers: they are public.
    pub fn forget(&self) {
        let mut t = self.table();
        t.entries.retain(|_, e| matches!(e, Entry::Root { .. }));
        t.by_name.retain(|(parent, _), _| *parent == HISTORY_INO);
    }

    fn tree_of(&self, entry: &Entry, d: &Decryptor) -> VfsResult<Tree> {
        let id = match entry {
            Entry::Root { tree, .. } => *tree,
            Entry::Node(Node {
                kind: NodeKind::Dir { subtree },
                ..
            }) => *subtree,
            _ => return Err(VfsError::NotDir),
        };
        let plain = d.chunk(&id)?;
        Tree::from_bytes(plain.expose())
            .map_err(|e| VfsError::Damaged(format!("tree {}: {e}", id.short())))
    }

    /// Entries of a history folder. Inside a snapshot this needs `decryptor`.
    pub fn readdir(
        &self,
        ino: Ino,
        repo: &Repository,
        decryptor: impl FnOnce() -> VfsResult<std::sync::Arc<Decryptor>>,
    ) -> VfsResult<Vec<(Vec<u8>, Attr)>> {
        if ino == HISTORY_INO {
            return self.readdir_in(ino, &Self::local_roots(repo)?, decryptor);
        }
        self.readdir_in(ino, &[], decryptor)
    }

    /// Entries of a folder, `/.snapshots` listing `snapshots`.
    pub fn readdir_in(
        &self,
        ino: Ino,
        snapshots: &[SnapshotRoot],
        decryptor: impl FnOnce() -> VfsResult<std::sync::Arc<Decryptor>>,
    ) -> VfsResult<Vec<(Vec<u8>, Attr)>> {
        if ino == HISTORY_INO {
            return Ok(self
                .roots(snapshots)
                .into_iter()
                .map(|(name, ino, e)| {
                    let a = self.attr_of(ino, &e);
                    (name, a)
                })
                .collect());
        }
        let entry = self.entry(ino)?;
        let d = decryptor()?;
        let tree = self.tree_of(&entry, &d)?;
        Ok(tree
            .nodes
            .into_iter()
            .map(|n| {
                let name = n.name.clone();
                let e = Entry::Node(n);
                let child = self.intern(ino, &name, e.clone());
                (name, self.attr_of(child, &e))
            })
            .collect())
    }

    /// Looks `name` up in a history folder.
    pub fn lookup(
        &self,
        parent: Ino,
        name: &[u8],
        repo: &Repository,
        decryptor: impl FnOnce() -> VfsResult<std::sync::Arc<Decryptor>>,
    ) -> VfsResult<Attr> {
        if parent == HISTORY_INO {
            return self.lookup_in(parent, name, &Self::local_roots(repo)?, decryptor);
        }
        self.lookup_in(parent, name, &[], decryptor)
    }

    /// Looks `name` up in a folder, `/.snapshots` listing `snapshots`.
    pub fn lookup_in(
        &self,
        parent: Ino,
        name: &[u8],
        snapshots: &[SnapshotRoot],
        decryptor: impl FnOnce() -> VfsResult<std::sync::Arc<Decryptor>>,
    ) -> VfsResult<Attr> {
        // The guard must be gone before `entry` locks the table again (an
        // `if let` scrutinee's temporaries live through its body).
        let known = if parent == HISTORY_INO {
            None
        } else {
            self.table().by_name.get(&(parent, name.to_vec())).copied()
        };
        if let Some(ino) = known {
            let e = self.entry(ino)?;
            return Ok(self.attr_of(ino, &e));
        }
        self.readdir_in(parent, snapshots, decryptor)?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
            .ok_or(VfsError::NotFound)
    }

    /// Attributes of a history inode.
    pub fn getattr(&self, ino: Ino) -> VfsResult<Attr> {
        if ino == HISTORY_INO {
            return Ok(self.folder_attr());
        }
        let e = self.entry(ino)?;
        Ok(self.attr_of(ino, &e))
    }

    /// A file's chunks with their lengths (from the writer's index).
    pub fn file_chunks(&self, ino: Ino, repo: &Repository) -> VfsResult<Vec<(BlobId, u32)>> {
        self.file_chunks_with(ino, |id| repo.locate(id).map_err(VfsError::from_repo))
    }

    /// A file's chunks with their lengths, located by `locate`.
    pub fn file_chunks_with(
        &self,
        ino: Ino,
        locate: impl Fn(&BlobId) -> VfsResult<Option<crate::repo::index::BlobLocation>>,
    ) -> VfsResult<Vec<(BlobId, u32)>> {
        let Entry::Node(Node {
            kind: NodeKind::File { chunks, .. },
            ..
        }) = self.entry(ino)?
        else {
            return Err(VfsError::IsDir);
        };
        chunks
            .into_iter()
            .map(|id| {
                let loc = locate(&id)?.ok_or_else(|| {
                    VfsError::Damaged(format!("chunk {} is in no pack", id.short()))
                })?;
                Ok((id, loc.entry.raw_len))
            })
            .collect()
    }

    /// A symlink's target.
    pub fn readlink(&self, ino: Ino) -> VfsResult<Vec<u8>> {
        match self.entry(ino)? {
            Entry::Node(Node {
                kind: NodeKind::Symlink { target },
                ..
            }) => Ok(target),
            _ => Err(VfsError::Invalid("not a symbolic link")),
        }
    }
}

fn dir_attr(ino: Ino, mtime_ns: i64) -> Attr {
    Attr {
        ino,
        kind: FileKind::Dir,
        size: 0,
        mode: 0o555,
        uid: 0,
        gid: 0,
        mtime_ns,
        ctime_ns: mtime_ns,
        nlink: 2,
    }
}
