//! `restore`: write a snapshot (or one path of it) back to a folder.
//!
//! Files are created new — restore never overwrites an existing file — and a
//! file whose content cannot be fully verified and decrypted is removed rather
//! than left half-written; it is listed as failed and the rest carries on.
//! Directory modes and times are set after their contents. Ownership is restored
//! when the process may (root); symlink times are not restored.

use std::collections::{HashMap, HashSet};
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
    let mut layout = Layout::default();
    {
        let mut run = Run {
            reader,
            progress,
            summary: &mut summary,
        };
        match path.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
            None => {
                progress.total(snap.header.logical_bytes);
                run.reader.preload_trees(&snap.header.root);
                for node in &root.nodes {
                    run.walk(
                        node,
                        &target.join(OsStr::from_bytes(&node.name)),
                        &mut layout,
                    )?;
                }
            }
            Some(p) => {
                let node = find(run.reader, &root, p)?.ok_or_else(|| RepoError::NoSuchPath {
                    path: p.to_string(),
                    snapshot: id.short(),
                })?;
                if let NodeKind::Dir { subtree } = &node.kind {
                    run.reader.preload_trees(subtree);
                }
                run.walk(
                    &node,
                    &target.join(OsStr::from_bytes(&node.name)),
                    &mut layout,
                )?;
            }
        }
    }
    let files = pack_order(reader, layout.files);
    let mut packs = Vec::new();
    let mut seen = HashSet::new();
    for (node, _) in &files {
        if let NodeKind::File { chunks, .. } = &node.kind {
            for c in chunks {
                if let Ok(p) = reader.pack_of(c)
                    && seen.insert(p)
                {
                    packs.push(p);
                }
            }
        }
    }
    reader.with_prefetch(packs, |reader| {
        let mut run = Run {
            reader,
            progress,
            summary: &mut summary,
        };
        for (node, at) in &files {
            run.write_file(node, at);
        }
    });
    // Children were pushed before their folder: modes and times of a folder are
    // set after everything in it is written.
    for (node, at) in &layout.dirs {
        set_meta(at, node, true);
    }
    summary.bad_objects = reader
        .bad_objects()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(summary)
}

/// What the walk left to do after creating folders and symlinks.
#[derive(Default)]
struct Layout {
    /// Files to write, in snapshot order.
    files: Vec<(Node, PathBuf)>,
    /// Folders created, each after its contents (their metadata is set last).
    dirs: Vec<(Node, PathBuf)>,
}

/// Orders `files` so that those whose first chunk lies in the same pack are
/// written together, packs in the order the snapshot first needs them (stable
/// otherwise). Writing strictly in tree order would revisit a pack for every
/// small file whose chunk it holds, and a pack already evicted from the reader's
/// small cache would be downloaded again. Empty files come first.
fn pack_order(reader: &mut RepoReader<'_>, files: Vec<(Node, PathBuf)>) -> Vec<(Node, PathBuf)> {
    let mut rank: HashMap<ObjectId, usize> = HashMap::new();
    let mut keyed: Vec<(usize, (Node, PathBuf))> = Vec::with_capacity(files.len());
    for (node, at) in files {
        let mut key = 0;
        if let NodeKind::File { chunks, .. } = &node.kind {
            for (i, c) in chunks.iter().enumerate() {
                if let Ok(p) = reader.pack_of(c) {
                    let next = rank.len() + 1;
                    let r = *rank.entry(p).or_insert(next);
                    if i == 0 {
                        key = r;
                    }
                }
            }
        }
        keyed.push((key, (node, at)));
    }
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, f)| f).collect()
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
    /// Creates folders and symlinks under `at`; files are collected in `out`.
    fn walk(&mut self, node: &Node, at: &Path, out: &mut Layout) -> RepoResult<()> {
        match &node.kind {
            NodeKind::Dir { subtree } => {
                match fs::create_dir(at) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && at.is_dir() => {}
                    Err(e) => return Err(RepoError::io(at, "cannot create folder", e)),
                }
                self.summary.dirs += 1;
                match self.reader.tree(subtree) {
                    Ok(tree) => {
                        for n in &tree.nodes {
                            self.walk(n, &at.join(OsStr::from_bytes(&n.name)), out)?;
                        }
                    }
                    Err(e) => self.fail(at, e),
                }
                out.dirs.push((node.clone(), at.to_path_buf()));
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
            NodeKind::File { .. } => out.files.push((node.clone(), at.to_path_buf())),
        }
        Ok(())
    }

    fn write_file(&mut self, node: &Node, at: &Path) {
        match self.file(node, at) {
            Ok(bytes) => {
                self.summary.files += 1;
                self.summary.bytes += bytes;
                set_meta(at, node, false);
            }
            Err(e) => self.fail(at, e),
        }
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
