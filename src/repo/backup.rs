//! `backup`: snapshot folders of the file server (the profile's `sources`, or
//! paths given on the command line) into the store.
//!
//! Each source keeps its absolute path inside the snapshot (`/srv/share/keiri`
//! becomes `srv/share/keiri` under the root), like restic, so several sources
//! live side by side and a restore can put them back where they were. Files that
//! cannot be read are reported and left out; the snapshot still commits.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use super::commit::{CommitStats, commit_snapshot};
use super::error::{RepoError, RepoResult};
use super::filecache::{self, FileStamp};
use super::id::{BlobId, ObjectId};
use super::pipeline::{BlobWriter, WriteOptions, WriteStats};
use super::progress::Progress;
use super::repository::Repository;
use super::tree::{Node, NodeKind, Tree};

/// What a backup did.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    /// The new snapshot.
    pub snapshot: ObjectId,
    /// Regular files in the snapshot.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Sum of file sizes.
    pub logical_bytes: u64,
    /// Files whose content was read (the others were unchanged).
    pub files_read: u64,
    /// What was stored.
    pub write: WriteStats,
    /// Paths left out, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Wall time.
    pub elapsed: std::time::Duration,
}

/// A folder tree mixing real source paths and the folders leading to them.
enum Planned {
    Source(PathBuf),
    Parent(PathBuf, BTreeMap<Vec<u8>, Planned>),
}

/// Backs up `sources` (absolute or relative paths of existing files or folders).
pub fn backup(
    repo: &Repository,
    sources: &[PathBuf],
    opts: &WriteOptions,
    host: &str,
    progress: &dyn Progress,
) -> RepoResult<BackupSummary> {
    let start = Instant::now();
    let plan = plan(sources)?;
    let mut walk = Walk {
        progress,
        cache: repo.db().tree("files")?,
        cache_updates: Vec::new(),
        skipped: Vec::new(),
        stats: CommitStats::default(),
        symlinks: 0,
        files_read: 0,
    };
    let (root, write) = BlobWriter::run(repo, opts, |w| walk.planned(w, &plan))?;
    let paths: Vec<String> = sources_abs(sources)?
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let snapshot = commit_snapshot(repo, root, &walk.stats, &write, host, paths)?;
    for (k, v) in walk.cache_updates.drain(..) {
        walk.cache.insert(k, v).map_err(|e| repo.db().err(e))?;
    }
    repo.db().flush()?;
    Ok(BackupSummary {
        snapshot,
        files: walk.stats.files,
        dirs: walk.stats.dirs,
        symlinks: walk.symlinks,
        logical_bytes: walk.stats.logical_bytes,
        files_read: walk.files_read,
        write,
        skipped: walk.skipped,
        elapsed: start.elapsed(),
    })
}

fn sources_abs(sources: &[PathBuf]) -> RepoResult<Vec<PathBuf>> {
    sources
        .iter()
        .map(|s| {
            let abs = fs::canonicalize(s).map_err(|e| RepoError::BadSource {
                path: s.clone(),
                problem: format!("cannot be backed up: {e}"),
            })?;
            if abs.parent().is_none() {
                return Err(RepoError::BadSource {
                    path: s.clone(),
                    problem: "backing up / is not supported; name the folders to keep".into(),
                });
            }
            Ok(abs)
        })
        .collect()
}

fn plan(sources: &[PathBuf]) -> RepoResult<Planned> {
    if sources.is_empty() {
        return Err(RepoError::BadSource {
            path: PathBuf::from("(none)"),
            problem: "no folders to back up: give paths or set `sources` in the profile".into(),
        });
    }
    let mut root = BTreeMap::new();
    for (given, abs) in sources.iter().zip(sources_abs(sources)?) {
        let parts: Vec<Vec<u8>> = abs
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.as_bytes().to_vec()),
                _ => None,
            })
            .collect();
        let mut level = &mut root;
        let mut at = PathBuf::from("/");
        for (i, part) in parts.iter().enumerate() {
            at.push(std::ffi::OsStr::from_bytes(part));
            let nested = || RepoError::BadSource {
                path: given.clone(),
                problem: "overlaps another source (one contains the other)".into(),
            };
            if i + 1 == parts.len() {
                if level.contains_key(part) {
                    return Err(nested());
                }
                level.insert(part.clone(), Planned::Source(abs.clone()));
            } else {
                let entry = level
                    .entry(part.clone())
                    .or_insert_with(|| Planned::Parent(at.clone(), BTreeMap::new()));
                level = match entry {
                    Planned::Parent(_, children) => children,
                    Planned::Source(_) => return Err(nested()),
                };
            }
        }
    }
    Ok(Planned::Parent(PathBuf::from("/"), root))
}

struct Walk<'p> {
    progress: &'p dyn Progress,
    cache: sled::Tree,
    cache_updates: Vec<([u8; 32], Vec<u8>)>,
    skipped: Vec<(PathBuf, String)>,
    stats: CommitStats,
    symlinks: u64,
    files_read: u64,
}

impl Walk<'_> {
    fn planned(&mut self, w: &mut BlobWriter<'_>, plan: &Planned) -> RepoResult<BlobId> {
        match plan {
            Planned::Source(path) => self.dir(w, path),
            Planned::Parent(_, children) => {
                let mut tree = Tree::default();
                for (name, child) in children {
                    let at = match child {
                        Planned::Source(p) | Planned::Parent(p, _) => p,
                    };
                    let meta =
                        fs::symlink_metadata(at).map_err(|e| RepoError::io(at, "stat", e))?;
                    let kind = match child {
                        Planned::Source(_) if !meta.is_dir() => match self.entry(w, at, &meta)? {
                            Some(kind) => kind,
                            None => continue,
                        },
                        _ => NodeKind::Dir {
                            subtree: self.planned(w, child)?,
                        },
                    };
                    if matches!(kind, NodeKind::Dir { .. }) {
                        self.stats.dirs += 1;
                    }
                    tree.nodes.push(node(name.clone(), &meta, kind));
                }
                w.tree(&tree)
            }
        }
    }

    /// Stores a directory's tree and returns its id.
    fn dir(&mut self, w: &mut BlobWriter<'_>, path: &Path) -> RepoResult<BlobId> {
        let mut tree = Tree::default();
        let entries = match fs::read_dir(path) {
            Ok(rd) => rd.collect::<Result<Vec<_>, _>>(),
            Err(e) => Err(e),
        };
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                self.skip(path, format!("cannot list: {e}"));
                return w.tree(&tree);
            }
        };
        for entry in entries {
            let child = entry.path();
            let meta = match fs::symlink_metadata(&child) {
                Ok(m) => m,
                Err(e) => {
                    self.skip(&child, format!("cannot stat: {e}"));
                    continue;
                }
            };
            let kind = if meta.is_dir() {
                self.stats.dirs += 1;
                NodeKind::Dir {
                    subtree: self.dir(w, &child)?,
                }
            } else {
                match self.entry(w, &child, &meta)? {
                    Some(k) => k,
                    None => continue,
                }
            };
            tree.nodes
                .push(node(entry.file_name().as_bytes().to_vec(), &meta, kind));
        }
        tree.sort();
        w.tree(&tree)
    }

    /// A file or symlink; `None` when it is left out.
    fn entry(
        &mut self,
        w: &mut BlobWriter<'_>,
        path: &Path,
        meta: &fs::Metadata,
    ) -> RepoResult<Option<NodeKind>> {
        let ft = meta.file_type();
        if ft.is_symlink() {
            return match fs::read_link(path) {
                Ok(t) => {
                    self.symlinks += 1;
                    Ok(Some(NodeKind::Symlink {
                        target: t.as_os_str().as_bytes().to_vec(),
                    }))
                }
                Err(e) => {
                    self.skip(path, format!("cannot read link: {e}"));
                    Ok(None)
                }
            };
        }
        if !ft.is_file() {
            self.skip(path, "not a regular file, folder or symlink".into());
            return Ok(None);
        }
        self.progress.file(path);
        let stamp = FileStamp::of(meta);
        let key = filecache::key(w_hasher(w), path);
        if let Some(chunks) = self.cached(w, &key, &stamp)? {
            self.progress.advance(meta.len());
            self.count_file(meta.len());
            return Ok(Some(NodeKind::File {
                size: meta.len(),
                chunks,
            }));
        }
        let file = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                self.skip(path, format!("cannot open: {e}"));
                return Ok(None);
            }
        };
        let (chunks, size) = match w.content(file, path, self.progress) {
            Ok(r) => r,
            Err(RepoError::Io { source, .. }) => {
                self.skip(path, format!("read failed: {source}"));
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.files_read += 1;
        self.count_file(size);
        self.cache_updates
            .push((key, filecache::encode(&stamp, &chunks)));
        Ok(Some(NodeKind::File { size, chunks }))
    }

    fn cached(
        &self,
        w: &BlobWriter<'_>,
        key: &[u8; 32],
        stamp: &FileStamp,
    ) -> RepoResult<Option<Vec<BlobId>>> {
        let Some(value) = self.cache.get(key).map_err(|e| w_db_err(w, e))? else {
            return Ok(None);
        };
        let Some(chunks) = filecache::lookup(&value, stamp) else {
            return Ok(None);
        };
        for c in &chunks {
            if !w.has(c)? {
                return Ok(None);
            }
        }
        Ok(Some(chunks))
    }

    fn count_file(&mut self, size: u64) {
        self.stats.files += 1;
        self.stats.logical_bytes += size;
    }

    fn skip(&mut self, path: &Path, why: String) {
        self.progress
            .warn(&format!("{}: {why}; left out", path.display()));
        self.skipped.push((path.to_path_buf(), why));
    }
}

fn w_hasher<'a>(w: &'a BlobWriter<'_>) -> &'a super::id::BlobHasher {
    w.repo().hasher()
}

fn w_db_err(w: &BlobWriter<'_>, e: sled::Error) -> RepoError {
    w.repo().db().err(e).into()
}

fn node(name: Vec<u8>, meta: &fs::Metadata, kind: NodeKind) -> Node {
    Node {
        name,
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec().clamp(0, 999_999_999) as u32,
        kind,
    }
}
