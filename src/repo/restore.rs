//! `restore`: write a snapshot (or one path of it) back to a folder.
//!
//! Files are created new — restore never overwrites an existing file — and a
//! file whose content cannot be fully verified and decrypted is removed rather
//! than left half-written; it is listed as failed and the rest carries on.
//! Directory modes and times are set after their contents. Ownership is restored
//! when the process may (root); symlink times are not restored.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File, FileTimes};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::{RepoError, RepoResult};
use super::id::ObjectId;
use super::progress::Progress;
use super::source::RepoReader;
use super::tree::{Node, NodeKind, Tree};

/// What `restore` did.
#[derive(Debug, Clone, Default)]
pub struct RestoreSummary {
    /// The snapshot restored.
    pub snapshot: ObjectId,
    /// Files written completely.
    pub files: u64,
    /// Directories created.
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Paths not restored, with the reason.
    pub failed: Vec<(PathBuf, String)>,
    /// Repository objects refused as tampered or damaged.
    pub bad_objects: Vec<(String, String)>,
}

/// Restores snapshot `wanted` (`latest` or an id prefix) into `target`; with
/// `path`, only that file or folder (by its path inside the snapshot), placed in
/// `target` under its own name.
pub fn restore(
    reader: &mut RepoReader<'_>,
    wanted: &str,
    path: Option<&str>,
    target: &Path,
    progress: &dyn Progress,
) -> RepoResult<RestoreSummary> {
    let (id, snap) = reader.select(wanted)?;
    let mut summary = RestoreSummary {
        snapshot: id,
        ..Default::default()
    };
    fs::create_dir_all(target).map_err(|e| RepoError::io(target, "cannot create target", e))?;
    let root = reader.tree(&snap.header.root)?;
    match path.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
        None => {
            progress.total(snap.header.logical_bytes);
            let mut packs = Vec::new();
            plan_packs(reader, &root, &mut packs, &mut HashSet::new());
            reader.with_prefetch(packs, |reader| {
                let mut run = Run {
                    reader,
                    progress,
                    summary: &mut summary,
                };
                run.contents(&root, target)
            })?;
        }
        Some(p) => {
            let node = find(reader, &root, p)?.ok_or_else(|| RepoError::NoSuchPath {
                path: p.to_string(),
                snapshot: id.short(),
            })?;
            let mut run = Run {
                reader,
                progress,
                summary: &mut summary,
            };
            run.node(&node, &target.join(OsStr::from_bytes(&node.name)))?;
        }
    }
    summary.bad_objects = reader
        .bad_objects()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(summary)
}

/// The packs a full restore of `tree` reads, in the order it first needs them
/// (depth first, in entry order, as [`Run::contents`] walks). Unreadable trees
/// and chunks are left out here; the restore itself reports them.
fn plan_packs(
    reader: &mut RepoReader<'_>,
    tree: &Tree,
    out: &mut Vec<super::id::ObjectId>,
    seen: &mut HashSet<super::id::ObjectId>,
) {
    for node in &tree.nodes {
        match &node.kind {
            NodeKind::Dir { subtree } => {
                if let Ok(t) = reader.tree(subtree) {
                    plan_packs(reader, &t, out, seen);
                }
            }
            NodeKind::File { chunks, .. } => {
                for c in chunks {
                    if let Ok(p) = reader.pack_of(c)
                        && seen.insert(p)
                    {
                        out.push(p);
                    }
                }
            }
            NodeKind::Symlink { .. } => {}
        }
    }
}

fn find(reader: &mut RepoReader<'_>, root: &Tree, path: &str) -> RepoResult<Option<Node>> {
    let mut tree = root.clone();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let Some(node) = tree.get(part.as_bytes()).cloned() else {
            return Ok(None);
        };
        if i + 1 == parts.len() {
            return Ok(Some(node));
        }
        match node.kind {
            NodeKind::Dir { subtree } => tree = reader.tree(&subtree)?,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

struct Run<'r, 'a> {
    reader: &'r mut RepoReader<'a>,
    progress: &'r dyn Progress,
    summary: &'r mut RestoreSummary,
}

impl Run<'_, '_> {
    fn contents(&mut self, tree: &Tree, dir: &Path) -> RepoResult<()> {
        for node in &tree.nodes {
            self.node(node, &dir.join(OsStr::from_bytes(&node.name)))?;
        }
        Ok(())
    }

    fn node(&mut self, node: &Node, at: &Path) -> RepoResult<()> {
        match &node.kind {
            NodeKind::Dir { subtree } => {
                match fs::create_dir(at) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && at.is_dir() => {}
                    Err(e) => return Err(RepoError::io(at, "cannot create folder", e)),
                }
                self.summary.dirs += 1;
                match self.reader.tree(subtree) {
                    Ok(tree) => self.contents(&tree, at)?,
                    Err(e) => self.fail(at, e),
                }
                set_meta(at, node, true);
            }
            NodeKind::Symlink { target } => {
                match std::os::unix::fs::symlink(OsStr::from_bytes(target), at) {
                    Ok(()) => {
                        let _ = std::os::unix::fs::lchown(at, Some(node.uid), Some(node.gid));
                        self.summary.symlinks += 1;
                    }
                    Err(e) => self.fail(at, RepoError::io(at, "cannot create symlink", e)),
                }
            }
            NodeKind::File { .. } => match self.file(node, at) {
                Ok(bytes) => {
                    self.summary.files += 1;
                    self.summary.bytes += bytes;
                    set_meta(at, node, false);
                }
                Err(e) => self.fail(at, e),
            },
        }
        Ok(())
    }

    fn file(&mut self, node: &Node, at: &Path) -> RepoResult<u64> {
        let NodeKind::File { chunks, size } = &node.kind else {
            return Ok(0);
        };
        self.progress.file(at);
        let mut f = File::create_new(at).map_err(|e| RepoError::io(at, "cannot create file", e))?;
        let mut written = 0u64;
        let result = (|| {
            for c in chunks {
                let plain = self.reader.blob(c)?;
                // ≤ 128 KiB per write(2): multi-MiB writes into fresh page cache
                // cost about 3× the CPU on these VMs (SPEC §11).
                for piece in plain.expose().chunks(128 * 1024) {
                    f.write_all(piece)
                        .map_err(|e| RepoError::io(at, "write failed", e))?;
                }
                written += plain.len() as u64;
                self.progress.advance(plain.len() as u64);
            }
            if written != *size {
                return Err(RepoError::Damaged {
                    object: at.display().to_string(),
                    problem: format!("restored {written} bytes, the snapshot says {size}"),
                });
            }
            Ok(written)
        })();
        if result.is_err() {
            drop(f);
            let _ = fs::remove_file(at);
        }
        result
    }

    fn fail(&mut self, at: &Path, e: RepoError) {
        self.progress
            .warn(&format!("{}: not restored: {e}", at.display()));
        self.summary.failed.push((at.to_path_buf(), e.to_string()));
    }
}

/// Mode, owner (when permitted) and mtime; failures are not fatal for content.
fn set_meta(at: &Path, node: &Node, is_dir: bool) {
    let _ = std::os::unix::fs::chown(at, Some(node.uid), Some(node.gid));
    let mtime = if node.mtime >= 0 {
        UNIX_EPOCH + Duration::new(node.mtime as u64, node.mtime_nsec)
    } else {
        UNIX_EPOCH - Duration::new(node.mtime.unsigned_abs(), 0)
    };
    let times = FileTimes::new()
        .set_modified(mtime)
        .set_accessed(SystemTime::now());
    let opened = if is_dir {
        File::open(at)
    } else {
        File::options().write(true).open(at)
    };
    if let Ok(f) = opened {
        let _ = f.set_times(times);
    }
    let _ = fs::set_permissions(at, fs::Permissions::from_mode(node.mode & 0o7777));
}
