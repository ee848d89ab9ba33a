//! A repository in a local directory: the local encrypted store (`<store>/repo`) and
//! `type = "local"` remotes such as a USB disk.
//!
//! Objects are published so that a crash never leaves a partial object under its
//! final name and an existing object is never replaced: the bytes go to a temp file
//! `<dir>/.tmp-<random hex>` first, are fsynced, and are then hard-linked to the final
//! name. `link(2)` fails when the name exists, which makes "create unless present" a
//! single atomic step without `renameat2` (that would need `unsafe` or a new
//! dependency). Temp files left by a crash are removed by
//! [`LocalBackend::cleanup_leftovers`] at start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::{
    AdminBackend, BackendError, BackendResult, ObjectInfo, ReadBackend, WriteBackend, WriteOutcome,
    validate_name,
};

/// Prefix of in-flight temp files. It starts with `.`, so [`validate_name`] can never
/// accept it as an object name and a temp file can never be mistaken for an object.
const TMP_PREFIX: &str = ".tmp-";

/// Objects are immutable; making them read-only keeps a careless tool (or user) on
/// the file server from editing them in place.
const OBJECT_MODE: u32 = 0o444;

/// What messages call the root directory itself, which has no object name.
const ROOT_LABEL: &str = "repository root";

/// What the backend was doing when an I/O error happened; it picks the wording of the
/// error and whether "not found" means the object is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Open,
    Read,
    Stat,
    List,
    Write,
    Delete,
    Cleanup,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Open => "open",
            Op::Read => "read",
            Op::Stat => "stat",
            Op::List => "list",
            Op::Write => "write",
            Op::Delete => "delete",
            Op::Cleanup => "cleanup",
        }
    }

    /// Only for operations on an existing object does ENOENT mean "that object does
    /// not exist"; during a write it means the directory vanished under us (USB disk
    /// unplugged), and "object not found" would send the reader the wrong way.
    fn missing_means_not_found(self) -> bool {
        matches!(self, Op::Read | Op::Stat | Op::Delete)
    }
}

/// A repository stored in a directory of the local filesystem.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
    description: String,
    /// Directories known to exist, so publishing a small pack does not pay two
    /// failing `mkdir` calls (each takes the parent directory's lock).
    made_dirs: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl LocalBackend {
    /// Opens the repository at `root`, creating the directory (and missing parents)
    /// when absent. The path is made absolute so that messages name it unambiguously.
    pub fn open(root: &Path) -> BackendResult<LocalBackend> {
        let shown = format!("local:{}", root.display());
        let absolute =
            std::path::absolute(root).map_err(|e| map_io_error(&shown, Op::Open, ROOT_LABEL, e))?;
        let backend = LocalBackend {
            description: format!("local:{}", absolute.display()),
            root: absolute,
            made_dirs: std::sync::Arc::default(),
        };
        // Create the root one component at a time so that every directory we create
        // is made durable in its parent, like the directories under it.
        let mut existing = PathBuf::new();
        let mut created = Vec::new();
        for component in backend.root.components() {
            let next = existing.join(component);
            if matches!(component, Component::Normal(_)) {
                match fs::create_dir(&next) {
                    Ok(()) => created.push(existing.clone()),
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(backend.err(Op::Open, "", e)),
                }
            }
            existing = next;
        }
        for parent in created {
            sync_dir(&parent).map_err(|e| backend.err(Op::Open, "", e))?;
        }
        if !backend.root.is_dir() {
            return Err(backend.err(
                Op::Open,
                "",
                io::Error::new(
                    ErrorKind::NotADirectory,
                    "repository root is not a directory",
                ),
            ));
        }
        Ok(backend)
    }

    /// The repository directory (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes temp files (`.tmp-*`) left anywhere under the root by a crash during a
    /// write, and returns how many were removed.
    ///
    /// Call it at start, before any writer uses this repository: a temp file of a write
    /// in progress looks exactly like a leftover.
    pub fn cleanup_leftovers(&self) -> BackendResult<usize> {
        let mut removed = 0;
        let mut pending = vec![self.root.clone()];
        while let Some(dir) = pending.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err(Op::Cleanup, &self.relative(&dir), e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.err(Op::Cleanup, &self.relative(&dir), e))?;
                let file_name = entry.file_name();
                let Some(file_name) = file_name.to_str() else {
                    continue;
                };
                let file_type = entry
                    .file_type()
                    .map_err(|e| self.err(Op::Cleanup, &self.relative(&entry.path()), e))?;
                if file_name.starts_with(TMP_PREFIX) && !file_type.is_dir() {
                    match fs::remove_file(entry.path()) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(self.err(Op::Cleanup, &self.relative(&entry.path()), e));
                        }
                    }
                } else if file_type.is_dir() && validate_name(file_name).is_ok() {
                    // Only directories that can hold objects: not `lost+found`, not
                    // `.Trash-1000` or other litter an OS leaves on a USB disk.
                    pending.push(entry.path());
                }
            }
        }
        if removed > 0 {
            tracing::info!(backend = %self.description, removed, "removed leftover temp files");
        }
        Ok(removed)
    }

    /// Maps an I/O error to the backend error of this repository.
    fn err(&self, op: Op, name: &str, e: io::Error) -> BackendError {
        let name = if name.is_empty() { ROOT_LABEL } else { name };
        map_io_error(&self.description, op, name, e)
    }

    /// The object-style name of a path under the root, for messages.
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.display().to_string())
    }

    fn path_of(&self, name: &str) -> BackendResult<PathBuf> {
        validate_name(name)?;
        Ok(self.root.join(name))
    }

    /// Creates the directories of `name` below the root that are missing, and makes
    /// each new directory entry durable by fsyncing the directory that holds it.
    fn create_parent_dirs(&self, name: &str) -> BackendResult<PathBuf> {
        let parent = name.rsplit_once('/').map_or("", |(d, _)| d);
        let mut made = self.made_dirs.lock().unwrap_or_else(|p| p.into_inner());
        if made.contains(parent) {
            return Ok(self.root.join(parent));
        }
        let dir = self.make_parent_dirs(name)?;
        made.insert(parent.to_string());
        Ok(dir)
    }

    /// Forgets the directories known to exist (one vanished under us).
    fn forget_dirs(&self) {
        self.made_dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn make_parent_dirs(&self, name: &str) -> BackendResult<PathBuf> {
        let mut dir = self.root.clone();
        let mut created_in = Vec::new();
        let parts: Vec<&str> = name.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            let next = dir.join(part);
            match fs::create_dir(&next) {
                Ok(()) => created_in.push(dir.clone()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.err(Op::Write, name, e)),
            }
            dir = next;
        }
        for parent in created_in {
            sync_dir(&parent).map_err(|e| self.err(Op::Write, name, e))?;
        }
        Ok(dir)
    }

    /// Writes `data` to a fresh temp file in `dir`, read-only, fsynced when `durable`.
    fn write_temp(
        &self,
        dir: &Path,
        name: &str,
        data: &[u8],
        durable: bool,
    ) -> BackendResult<PathBuf> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| {
            self.err(
                Op::Write,
                name,
                io::Error::other(format!("no randomness for the temp file name: {e}")),
            )
        })?;
        let tmp = dir.join(format!("{TMP_PREFIX}{}", hex::encode(random)));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(OBJECT_MODE)
            .open(&tmp)
            .map_err(|e| self.err(Op::Write, name, e))?;
        let written = (|| {
            // ≤ 128 KiB per write(2): one multi-MiB write into fresh page cache
            // costs about 3× the CPU on the VMs this runs on (measured, SPEC §11).
            for piece in data.chunks(128 * 1024) {
                file.write_all(piece)?;
            }
            // The umask may have dropped bits from the creation mode; set it exactly.
            file.set_permissions(fs::Permissions::from_mode(OBJECT_MODE))?;
            // ENOSPC may only surface here on filesystems with delayed allocation.
            if durable { file.sync_all() } else { Ok(()) }
        })();
        drop(file);
        if let Err(e) = written {
            remove_quietly(&tmp);
            return Err(self.err(Op::Write, name, e));
        }
        Ok(tmp)
    }
}

impl ReadBackend for LocalBackend {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        let path = self.path_of(name)?;
        fs::read(&path).map_err(|e| self.err(Op::Read, name, e))
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        let path = self.path_of(name)?;
        let mut file = File::open(&path).map_err(|e| self.err(Op::Read, name, e))?;
        let size = file
            .metadata()
            .map_err(|e| self.err(Op::Read, name, e))?
            .len();
        let short = || BackendError::ShortRead {
            backend: self.description.clone(),
            name: name.to_string(),
            offset,
            len,
            size,
        };
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(short());
        }
        // Bounded by the object's size, which was just checked.
        let mut buf = vec![0u8; usize::try_from(len).map_err(|_| short())?];
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| self.err(Op::Read, name, e))?;
        match file.read_exact(&mut buf) {
            Ok(()) => Ok(buf),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Err(short()),
            Err(e) => Err(self.err(Op::Read, name, e)),
        }
    }

    /// Lists regular files under `dir` (`""` lists the whole repository). Temp files,
    /// hidden entries and names that are not valid object names (`lost+found`, OS
    /// litter on a USB disk) are skipped, as are symlinks: this backend only ever
    /// creates regular files and directories.
    fn list(&self, dir: &str) -> BackendResult<Vec<ObjectInfo>> {
        let start = if dir.is_empty() {
            self.root.clone()
        } else {
            self.path_of(dir)?
        };
        let mut objects = Vec::new();
        let mut pending = vec![(start, dir.to_string())];
        while let Some((path, prefix)) = pending.pop() {
            let entries = match fs::read_dir(&path) {
                Ok(entries) => entries,
                // A missing directory simply holds no objects yet.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err(Op::List, &prefix, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.err(Op::List, &prefix, e))?;
                let file_name = entry.file_name();
                let Some(file_name) = file_name.to_str() else {
                    continue;
                };
                if validate_name(file_name).is_err() {
                    continue;
                }
                let name = if prefix.is_empty() {
                    file_name.to_string()
                } else {
                    format!("{prefix}/{file_name}")
                };
                let file_type = match entry.file_type() {
                    Ok(t) => t,
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(self.err(Op::List, &name, e)),
                };
                if file_type.is_dir() {
                    pending.push((entry.path(), name));
                } else if file_type.is_file() {
                    match entry.metadata() {
                        Ok(meta) => objects.push(ObjectInfo {
                            name,
                            size: meta.len(),
                        }),
                        // Deleted (by retention) while we were listing.
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(self.err(Op::List, &name, e)),
                    }
                }
            }
        }
        objects.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    /// A directory is not an object, so `stat` of one is `None`.
    fn stat(&self, name: &str) -> BackendResult<Option<ObjectInfo>> {
        let path = self.path_of(name)?;
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectInfo {
                name: name.to_string(),
                size: meta.len(),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(Op::Stat, name, e)),
        }
    }
}

impl LocalBackend {
    /// Like [`WriteBackend::write_if_absent`] but without any fsync: the object is
    /// published atomically (a crash of this process never leaves it partial) but
    /// survives power loss only after [`LocalBackend::sync_file`] and
    /// [`LocalBackend::sync_dir_of`]. The mount uses
    /// this for group commit: many closes, one round of fsyncs.
    pub fn write_unsynced(&self, name: &str, data: &[u8]) -> BackendResult<WriteOutcome> {
        self.publish(name, data, false)
    }

    /// fsync of one object's file (its directory entry: [`Self::sync_dir_of`]).
    pub fn sync_file(&self, name: &str) -> BackendResult<()> {
        let path = self.path_of(name)?;
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| self.err(Op::Write, name, e))
    }

    /// Makes everything written to the store's file system durable with one
    /// `syncfs(2)`: one journal commit and one cache flush for a whole round of
    /// group commit, where an fsync per pack and per directory paid one each.
    /// `Ok(false)` where the platform has no syncfs; callers then fsync per object.
    pub fn sync_filesystem(&self) -> BackendResult<bool> {
        #[cfg(target_os = "linux")]
        {
            let dir = File::open(&self.root).map_err(|e| self.err(Op::Write, "", e))?;
            rustix::fs::syncfs(&dir).map_err(|e| self.err(Op::Write, "", e.into()))?;
            Ok(true)
        }
        #[cfg(not(target_os = "linux"))]
        Ok(false)
    }

    /// fsync of a directory of the repository (`data/ab`), making the names
    /// published in it durable.
    pub fn sync_dir_of(&self, dir: &str) -> BackendResult<()> {
        let path = self.path_of(dir)?;
        sync_dir(&path).map_err(|e| self.err(Op::Write, dir, e))
    }

    /// Publishes the finished file `file` (on the store's file system, outside the
    /// repository) as object `name` without copying it: a hard link, unsynced like
    /// [`Self::write_unsynced`]; `file` itself stays. Where hard links are not
    /// supported the bytes are copied.
    pub fn adopt_unsynced(&self, file: &Path, name: &str) -> BackendResult<WriteOutcome> {
        let path = self.path_of(name)?;
        self.create_parent_dirs(name)?;
        let linked = match publish_by_link(file, &path) {
            // A directory removed behind our back (as in `publish`): make it again.
            Err(e) if e.kind() == ErrorKind::NotFound && file.exists() => {
                self.forget_dirs();
                self.create_parent_dirs(name)?;
                publish_by_link(file, &path)
            }
            other => other,
        };
        match linked {
            Ok(true) => Ok(WriteOutcome::Written),
            Ok(false) => Ok(WriteOutcome::AlreadyPresent),
            Err(e) if link_unsupported(&e) => {
                let data = fs::read(file).map_err(|e| self.err(Op::Read, name, e))?;
                self.publish(name, &data, false)
            }
            Err(e) => Err(self.err(Op::Write, name, e)),
        }
    }

    fn publish(&self, name: &str, data: &[u8], durable: bool) -> BackendResult<WriteOutcome> {
        let path = self.path_of(name)?;
        // Not needed for correctness (the link below decides), but it spares writing
        // a 16 MiB pack only to throw it away.
        if fs::symlink_metadata(&path).is_ok() {
            return Ok(WriteOutcome::AlreadyPresent);
        }
        let dir = self.create_parent_dirs(name)?;
        let tmp = match self.write_temp(&dir, name, data, durable) {
            // A directory removed behind our back (an admin's prune): make it again.
            Err(BackendError::NotFound { .. }) => {
                self.forget_dirs();
                let dir = self.create_parent_dirs(name)?;
                self.write_temp(&dir, name, data, durable)?
            }
            other => other?,
        };
        // The mount's packs (unsynced) are named by their hash and written by one
        // process: check-then-rename suffices and spares the file system an inode
        // created and deleted per pack (link, then unlink of the temp name).
        let published = if durable {
            publish_by_link(&tmp, &path)
        } else {
            publish_by_rename(&tmp, &path)
        };
        let published = published.or_else(|e| {
            if link_unsupported(&e) {
                // FAT and exFAT USB disks have no hard links.
                publish_by_rename(&tmp, &path)
            } else {
                Err(e)
            }
        });
        match published {
            Ok(true) => {}
            Ok(false) => {
                remove_quietly(&tmp);
                return Ok(WriteOutcome::AlreadyPresent);
            }
            Err(e) => {
                remove_quietly(&tmp);
                return Err(self.err(Op::Write, name, e));
            }
        }
        if tmp.exists() {
            // The object is published; a temp name that will not go away is only
            // clutter that the next `cleanup_leftovers` removes.
            if let Err(e) = fs::remove_file(&tmp) {
                tracing::warn!(backend = %self.description, object = name, error = %e,
                    "cannot remove temp file after publishing");
            }
        }
        if durable {
            sync_dir(&dir).map_err(|e| self.err(Op::Write, name, e))?;
        }
        Ok(WriteOutcome::Written)
    }
}

impl WriteBackend for LocalBackend {
    fn write_if_absent(&self, name: &str, data: &[u8]) -> BackendResult<WriteOutcome> {
        self.publish(name, data, true)
    }
}

impl AdminBackend for LocalBackend {
    fn delete(&self, name: &str) -> BackendResult<()> {
        let path = self.path_of(name)?;
        fs::remove_file(&path).map_err(|e| self.err(Op::Delete, name, e))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir).map_err(|e| self.err(Op::Delete, name, e))?;
        }
        Ok(())
    }
}

/// The one place where I/O errors become backend errors, so that every operation
/// reports a full disk, a refusal or a missing object the same way.
fn map_io_error(backend: &str, op: Op, name: &str, e: io::Error) -> BackendError {
    let no_space = matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
        || matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT));
    if no_space {
        return BackendError::NoSpace {
            backend: backend.to_string(),
            name: name.to_string(),
        };
    }
    match e.kind() {
        ErrorKind::NotFound if op.missing_means_not_found() => BackendError::NotFound {
            backend: backend.to_string(),
            name: name.to_string(),
        },
        ErrorKind::PermissionDenied => BackendError::PermissionDenied {
            backend: backend.to_string(),
            op: op.as_str(),
            name: name.to_string(),
        },
        _ => BackendError::Io {
            backend: backend.to_string(),
            op: op.as_str(),
            name: name.to_string(),
            source: e,
        },
    }
}

/// Publishes `tmp` as `target` unless `target` exists: `Ok(false)` when it does.
fn publish_by_link(tmp: &Path, target: &Path) -> io::Result<bool> {
    match fs::hard_link(tmp, target) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// `link(2)` on a filesystem without hard links fails with EPERM (Linux VFS) or
/// EOPNOTSUPP (the same number as ENOTSUP on Linux).
fn link_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EOPNOTSUPP))
}

/// Fallback for filesystems without hard links: check, then rename. Unlike the link,
/// this is not atomic: a second writer publishing the same name in the same instant
/// could be replaced. For content-addressed objects the two would hold the same bytes,
/// and the other names (`config`, `keys/recovery`) are written once, at init.
fn publish_by_rename(tmp: &Path, target: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(target) {
        Ok(_) => Ok(false),
        Err(e) if e.kind() == ErrorKind::NotFound => fs::rename(tmp, target).map(|()| true),
        Err(e) => Err(e),
    }
}

/// Makes the entries of a directory (new files, links, renames) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removing a temp file after a failure is best effort: the original error is the one
/// worth reporting, and `cleanup_leftovers` catches whatever stays.
fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove temp file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn full_disk_and_quota_are_no_space() {
        for code in [libc::ENOSPC, libc::EDQUOT] {
            let e = map_io_error("local:/x", Op::Write, "data/ab/cd", os(code));
            assert!(
                matches!(&e, BackendError::NoSpace { name, .. } if name == "data/ab/cd"),
                "{e:?}"
            );
        }
    }

    #[test]
    fn refusals_are_permission_denied() {
        for code in [libc::EACCES, libc::EPERM] {
            let e = map_io_error("local:/x", Op::Delete, "config", os(code));
            assert!(
                matches!(e, BackendError::PermissionDenied { op: "delete", .. }),
                "{e:?}"
            );
        }
    }

    #[test]
    fn missing_is_not_found_only_when_looking_up_an_object() {
        let e = map_io_error("local:/x", Op::Read, "config", os(libc::ENOENT));
        assert!(matches!(e, BackendError::NotFound { .. }), "{e:?}");
        let e = map_io_error("local:/x", Op::Write, "config", os(libc::ENOENT));
        assert!(matches!(e, BackendError::Io { op: "write", .. }), "{e:?}");
    }

    #[test]
    fn rename_fallback_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(".tmp-1");
        let target = dir.path().join("obj");
        fs::write(&tmp, b"new").unwrap();
        assert!(publish_by_rename(&tmp, &target).unwrap());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert!(!tmp.exists());
        fs::write(&tmp, b"other").unwrap();
        assert!(!publish_by_rename(&tmp, &target).unwrap());
        assert_eq!(fs::read(&target).unwrap(), b"new");
    }
}
