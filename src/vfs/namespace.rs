//! The namespace of the vault drive: inodes and directory entries in the DB,
//! every change journaled (so it survives a crash of the daemon the moment the
//! operation returns) and made power-safe by the next group commit.
//!
//! DB trees: `vfs-inodes` (ino → [`Inode`] record), `vfs-dirents` (parent ino
//! u64 BE ‖ name → child ino u64 BE), `vfs-meta` (`next-ino` → u64 BE).
//! Mutations take one lock, so multi-step changes (rename over an existing name)
//! are atomic for other callers and land in one journal batch.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::repo::Repository;
use crate::repo::journal::Batch;

use super::error::{VfsError, VfsResult};
use super::inode::{Ino, Inode, InodeKind, ROOT};

const T_INODES: &str = "vfs-inodes";
const T_DIRENTS: &str = "vfs-dirents";
const T_META: &str = "vfs-meta";
const NEXT_INO: &[u8] = b"next-ino";

/// Longest name a directory entry may have (Linux NAME_MAX).
pub const NAME_MAX: usize = 255;

/// Attribute changes (`setattr`/`utimens`/`chmod`/`chown`).
#[derive(Debug, Clone, Default)]
pub struct AttrChange {
    /// New permission bits.
    pub mode: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New modification time (ns since the epoch).
    pub mtime_ns: Option<i64>,
}

/// The persistent namespace.
pub struct Namespace {
    repo: Arc<Repository>,
    inodes: sled::Tree,
    dirents: sled::Tree,
    meta: sled::Tree,
    lock: Mutex<()>,
}

/// Current time in ns since the epoch.
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn dirent_key(parent: Ino, name: &[u8]) -> Vec<u8> {
    let mut k = parent.to_be_bytes().to_vec();
    k.extend_from_slice(name);
    k
}

/// Checks a name for a directory entry.
pub fn check_name(name: &[u8]) -> VfsResult<()> {
    if name.is_empty()
        || name.len() > NAME_MAX
        || name.contains(&b'/')
        || name.contains(&0)
        || name == b"."
        || name == b".."
    {
        return Err(VfsError::BadName);
    }
    Ok(())
}

impl Namespace {
    /// Opens the namespace in `repo`'s DB, creating the root directory the first time.
    pub fn open(repo: Arc<Repository>, root_uid: u32, root_gid: u32) -> VfsResult<Namespace> {
        let db = repo.db();
        let ns = Namespace {
            inodes: db.tree(T_INODES)?,
            dirents: db.tree(T_DIRENTS)?,
            meta: db.tree(T_META)?,
            repo,
            lock: Mutex::new(()),
        };
        if ns.try_get(ROOT)?.is_none() {
            let now = now_ns();
            let root = Inode {
                ino: ROOT,
                kind: InodeKind::Dir,
                mode: 0o755,
                uid: root_uid,
                gid: root_gid,
                mtime_ns: now,
                ctime_ns: now,
                parent: ROOT,
            };
            let mut batch = Batch::default();
            batch.put(T_INODES, ROOT.to_be_bytes().to_vec(), root.encode());
            batch.put(T_META, NEXT_INO.to_vec(), (ROOT + 1).to_be_bytes().to_vec());
            ns.repo.apply(&batch).map_err(VfsError::from_repo)?;
        }
        Ok(ns)
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn db_err(&self, e: sled::Error) -> VfsError {
        VfsError::from(self.repo.db().err(e))
    }

    fn try_get(&self, ino: Ino) -> VfsResult<Option<Inode>> {
        match self
            .inodes
            .get(ino.to_be_bytes())
            .map_err(|e| self.db_err(e))?
        {
            None => Ok(None),
            Some(v) => Inode::decode(ino, &v)
                .map(Some)
                .map_err(|e| VfsError::Damaged(format!("inode {ino}: {e}"))),
        }
    }

    /// The inode `ino`.
    pub fn get(&self, ino: Ino) -> VfsResult<Inode> {
        self.try_get(ino)?.ok_or(VfsError::NotFound)
    }

    fn child(&self, parent: Ino, name: &[u8]) -> VfsResult<Option<Ino>> {
        Ok(self
            .dirents
            .get(dirent_key(parent, name))
            .map_err(|e| self.db_err(e))?
            .and_then(|v| v.as_ref().try_into().ok())
            .map(u64::from_be_bytes))
    }

    /// The entry `name` in directory `parent`.
    pub fn lookup(&self, parent: Ino, name: &[u8]) -> VfsResult<Inode> {
        let dir = self.get(parent)?;
        if !dir.is_dir() {
            return Err(VfsError::NotDir);
        }
        let ino = self.child(parent, name)?.ok_or(VfsError::NotFound)?;
        self.get(ino)
    }

    /// Entries of directory `parent`, sorted by name.
    pub fn list(&self, parent: Ino) -> VfsResult<Vec<(Vec<u8>, Inode)>> {
        if !self.get(parent)?.is_dir() {
            return Err(VfsError::NotDir);
        }
        let mut out = Vec::new();
        for item in self.dirents.scan_prefix(parent.to_be_bytes()) {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            let ino = v
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| VfsError::Damaged(format!("directory entry in {parent}")))?;
            out.push((k[8..].to_vec(), self.get(ino)?));
        }
        Ok(out)
    }

    fn is_empty_dir(&self, ino: Ino) -> VfsResult<bool> {
        Ok(self
            .dirents
            .scan_prefix(ino.to_be_bytes())
            .next()
            .transpose()
            .map_err(|e| self.db_err(e))?
            .is_none())
    }

    fn alloc_ino(&self, batch: &mut Batch) -> VfsResult<Ino> {
        let next = self
            .meta
            .get(NEXT_INO)
            .map_err(|e| self.db_err(e))?
            .and_then(|v| v.as_ref().try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(ROOT + 1);
        batch.put(T_META, NEXT_INO.to_vec(), (next + 1).to_be_bytes().to_vec());
        Ok(next)
    }

    fn touch_dir(&self, batch: &mut Batch, dir: &Inode) {
        let mut d = dir.clone();
        let now = now_ns();
        d.mtime_ns = now;
        d.ctime_ns = now;
        batch.put(T_INODES, d.ino.to_be_bytes().to_vec(), d.encode());
    }

    /// Creates `name` in `parent`; fails with [`VfsError::Exists`] if it is taken.
    pub fn create(
        &self,
        parent: Ino,
        name: &[u8],
        kind: InodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> VfsResult<Inode> {
        check_name(name)?;
        let _g = self.guard();
        let dir = self.get(parent)?;
        if !dir.is_dir() {
            return Err(VfsError::NotDir);
        }
        if self.child(parent, name)?.is_some() {
            return Err(VfsError::Exists);
        }
        let mut batch = Batch::default();
        let ino = self.alloc_ino(&mut batch)?;
        let now = now_ns();
        let inode = Inode {
            ino,
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
            mtime_ns: now,
            ctime_ns: now,
            parent,
        };
        batch.put(T_INODES, ino.to_be_bytes().to_vec(), inode.encode());
        batch.put(
            T_DIRENTS,
            dirent_key(parent, name),
            ino.to_be_bytes().to_vec(),
        );
        self.touch_dir(&mut batch, &dir);
        self.repo.apply(&batch).map_err(VfsError::from_repo)?;
        Ok(inode)
    }

    /// Removes `name` from `parent`: a directory only when `dir` (and empty), a
    /// non-directory only when not `dir`. Returns the removed inode.
    pub fn remove(&self, parent: Ino, name: &[u8], dir: bool) -> VfsResult<Inode> {
        let _g = self.guard();
        let pdir = self.get(parent)?;
        if !pdir.is_dir() {
            return Err(VfsError::NotDir);
        }
        let ino = self.child(parent, name)?.ok_or(VfsError::NotFound)?;
        let inode = self.get(ino)?;
        match (dir, inode.is_dir()) {
            (true, false) => return Err(VfsError::NotDir),
            (false, true) => return Err(VfsError::IsDir),
            (true, true) if !self.is_empty_dir(ino)? => return Err(VfsError::NotEmpty),
            _ => {}
        }
        let mut batch = Batch::default();
        batch.delete(T_DIRENTS, dirent_key(parent, name));
        batch.delete(T_INODES, ino.to_be_bytes().to_vec());
        self.touch_dir(&mut batch, &pdir);
        self.repo.apply(&batch).map_err(VfsError::from_repo)?;
        Ok(inode)
    }

    /// Renames `parent/name` to `new_parent/new_name`, replacing a compatible target
    /// (file over file, directory over empty directory) unless `no_replace`.
    /// Returns the replaced inode, if any.
    pub fn rename(
        &self,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
        no_replace: bool,
    ) -> VfsResult<Option<Inode>> {
        check_name(new_name)?;
        let _g = self.guard();
        let src_dir = self.get(parent)?;
        let dst_dir = self.get(new_parent)?;
        if !src_dir.is_dir() || !dst_dir.is_dir() {
            return Err(VfsError::NotDir);
        }
        let ino = self.child(parent, name)?.ok_or(VfsError::NotFound)?;
        let mut inode = self.get(ino)?;
        if inode.is_dir() {
            // A directory cannot move below itself.
            let mut up = new_parent;
            loop {
                if up == ino {
                    return Err(VfsError::Invalid("cannot move a directory into itself"));
                }
                if up == ROOT {
                    break;
                }
                up = self.get(up)?.parent;
            }
        }
        let mut batch = Batch::default();
        let replaced = match self.child(new_parent, new_name)? {
            Some(t) if t == ino => return Ok(None),
            Some(_) if no_replace => return Err(VfsError::Exists),
            Some(t) => {
                let target = self.get(t)?;
                match (inode.is_dir(), target.is_dir()) {
                    (false, true) => return Err(VfsError::IsDir),
                    (true, false) => return Err(VfsError::NotDir),
                    (true, true) if !self.is_empty_dir(t)? => return Err(VfsError::NotEmpty),
                    _ => {}
                }
                batch.delete(T_INODES, t.to_be_bytes().to_vec());
                Some(target)
            }
            None => None,
        };
        batch.delete(T_DIRENTS, dirent_key(parent, name));
        batch.put(
            T_DIRENTS,
            dirent_key(new_parent, new_name),
            ino.to_be_bytes().to_vec(),
        );
        inode.parent = new_parent;
        inode.ctime_ns = now_ns();
        batch.put(T_INODES, ino.to_be_bytes().to_vec(), inode.encode());
        self.touch_dir(&mut batch, &src_dir);
        if new_parent != parent {
            self.touch_dir(&mut batch, &dst_dir);
        }
        self.repo.apply(&batch).map_err(VfsError::from_repo)?;
        Ok(replaced)
    }

    /// Changes attributes; returns the new inode.
    pub fn set_attr(&self, ino: Ino, change: &AttrChange) -> VfsResult<Inode> {
        let _g = self.guard();
        let mut inode = self.get(ino)?;
        if let Some(m) = change.mode {
            inode.mode = m & 0o7777;
        }
        if let Some(u) = change.uid {
            inode.uid = u;
        }
        if let Some(g) = change.gid {
            inode.gid = g;
        }
        if let Some(t) = change.mtime_ns {
            inode.mtime_ns = t;
        }
        inode.ctime_ns = now_ns();
        self.put(&inode)?;
        Ok(inode)
    }

    /// Records new sealed content for file `ino` (size, chunks, mtime). A file
    /// deleted meanwhile is left deleted.
    pub fn set_content(
        &self,
        ino: Ino,
        size: u64,
        chunks: Vec<(crate::repo::BlobId, u32)>,
        mtime_ns: i64,
    ) -> VfsResult<Option<Inode>> {
        let _g = self.guard();
        let Some(mut inode) = self.try_get(ino)? else {
            return Ok(None);
        };
        if !matches!(inode.kind, InodeKind::File { .. }) {
            return Err(VfsError::IsDir);
        }
        inode.kind = InodeKind::File { size, chunks };
        inode.mtime_ns = mtime_ns;
        inode.ctime_ns = now_ns();
        self.put(&inode)?;
        Ok(Some(inode))
    }

    fn put(&self, inode: &Inode) -> VfsResult<()> {
        let mut batch = Batch::default();
        batch.put(T_INODES, inode.ino.to_be_bytes().to_vec(), inode.encode());
        self.repo.apply(&batch).map_err(VfsError::from_repo)
    }

    /// Number of inodes (for statfs).
    pub fn count(&self) -> u64 {
        self.inodes.len() as u64
    }
}
