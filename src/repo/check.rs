//! `check`: verify a repository.
//!
//! Without a key (anyone, e.g. the admin): every object's SHA-256 against its name,
//! the structure of packs, index copies and snapshots, the pack envelopes naming
//! this vault's key, every snapshot's signature and chain link (a link to a snapshot
//! that `forget` removed and recorded under `forgotten/` is accepted), and — on the
//! writer — that the DB index only references packs that exist. With the unlocked
//! key (`--read-data`): every blob decrypted and checked against its id, every
//! index copy against the packs, every snapshot's trees walked to their chunks.

use std::collections::{HashMap, HashSet};

use crate::backend::ReadBackend;
use crate::backend::verify::check_object;
use crate::keys::RecoveryBundle;

use super::config::RepoConfig;
use super::error::RepoResult;
use super::id::{BlobId, BlobKind, ObjectId, pack_name, snapshot_name};
use super::index::IndexMap;
use super::pack::{self, PackEntry};
use super::progress::Progress;
use super::repository::Repository;
use super::snapshot::Snapshot;
use super::source::Keyring;
use super::tree::{NodeKind, Tree};

/// One thing found wrong, naming the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Object name (`data/ab/…`, `snapshots/…`, `db index`, …).
    pub object: String,
    /// What is wrong.
    pub problem: String,
}

/// The outcome of a check.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Objects read.
    pub objects: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Snapshots whose signature verified.
    pub snapshots: u64,
    /// Blobs decrypted and verified (`--read-data`).
    pub blobs: u64,
    /// Everything wrong.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    fn problem(&mut self, object: impl Into<String>, problem: impl Into<String>) {
        self.problems.push(Problem {
            object: object.into(),
            problem: problem.into(),
        });
    }

    /// Whether nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks `backend` as a repository of the vault in `bundle`; `local` adds the
/// writer's DB cross-checks, `keys` the full decryption pass.
pub fn check(
    backend: &dyn ReadBackend,
    bundle: &RecoveryBundle,
    local: Option<&Repository>,
    keys: Option<&Keyring<'_>>,
    progress: &dyn Progress,
) -> RepoResult<CheckReport> {
    let mut r = CheckReport::default();
    check_config(backend, bundle, &mut r)?;
    let data = backend.list("data")?;
    progress.total(data.iter().map(|o| o.size).sum());
    let fingerprint = bundle.fingerprint();
    let mut good_packs: HashSet<ObjectId> = HashSet::new();
    let mut all_packs: HashSet<ObjectId> = HashSet::new();
    let mut blobs: HashMap<BlobId, BlobKind> = HashMap::new();
    let mut tables: HashMap<ObjectId, Vec<PackEntry>> = HashMap::new();
    for info in &data {
        let id = name_id(&info.name);
        all_packs.insert(id);
        let Some(bytes) = read(backend, &info.name, &mut r)? else {
            continue;
        };
        progress.advance(bytes.len() as u64);
        let layout = match pack::layout(&bytes) {
            Ok(l) => l,
            Err(e) => {
                r.problem(&info.name, e.to_string());
                continue;
            }
        };
        if !layout.envelope.fingerprints().contains(&fingerprint) {
            r.problem(&info.name, "is not encrypted to this vault's key");
            continue;
        }
        if let Some(k) = keys {
            match pack::open(&bytes, k.private) {
                Ok(opened) => {
                    let mut ok = true;
                    for (i, e) in opened.entries.iter().enumerate() {
                        let ct = &bytes[e.offset as usize..(e.offset + e.length) as usize];
                        match opened.blob(i, ct) {
                            Ok(plain) if k.hasher.id(plain.expose()) == e.id => {
                                r.blobs += 1;
                                blobs.insert(e.id, e.kind);
                            }
                            Ok(_) => {
                                ok = false;
                                r.problem(
                                    &info.name,
                                    format!("blob {} does not match its id", e.id.short()),
                                );
                            }
                            Err(err) => {
                                ok = false;
                                r.problem(&info.name, err.to_string());
                            }
                        }
                    }
                    tables.insert(id, opened.entries.clone());
                    if !ok {
                        continue;
                    }
                }
                Err(e) => {
                    r.problem(&info.name, e.to_string());
                    continue;
                }
            }
        }
        good_packs.insert(id);
    }
    check_indexes(backend, keys, &all_packs, &tables, &mut r)?;
    let snaps = check_snapshots(backend, bundle, &mut r)?;
    if let Some(k) = keys {
        let mut reader = super::source::RepoReader::open(backend, k)?;
        let mut seen = HashSet::new();
        for (name, snap) in &snaps {
            walk(
                snap.header.root,
                name,
                &mut reader,
                &blobs,
                &mut seen,
                &mut r,
            )?;
        }
    }
    if let Some(repo) = local {
        check_db(repo, &all_packs, &snaps, &mut r)?;
    }
    Ok(r)
}

fn name_id(name: &str) -> ObjectId {
    name.rsplit('/')
        .next()
        .and_then(ObjectId::from_hex)
        .unwrap_or_default()
}

/// Reads an object and checks its hash; problems are recorded, `None` returned.
fn read(backend: &dyn ReadBackend, name: &str, r: &mut CheckReport) -> RepoResult<Option<Vec<u8>>> {
    let bytes = match backend.read(name) {
        Ok(b) => b,
        Err(e) => {
            r.problem(name, e.to_string());
            return Ok(None);
        }
    };
    r.objects += 1;
    r.bytes += bytes.len() as u64;
    match check_object(name, &bytes) {
        Ok(()) => Ok(Some(bytes)),
        Err(e) => {
            r.problem(name, format!("{e}: tampered or damaged"));
            Ok(None)
        }
    }
}

fn check_config(
    backend: &dyn ReadBackend,
    bundle: &RecoveryBundle,
    r: &mut CheckReport,
) -> RepoResult<()> {
    let bytes = match backend.read("config") {
        Ok(b) => b,
        Err(e) => {
            r.problem("config", e.to_string());
            return Ok(());
        }
    };
    r.objects += 1;
    match RepoConfig::from_bytes(&bytes) {
        Ok(c) if c.vault_id != bundle.vault_id || c.fingerprint != bundle.fingerprint() => {
            r.problem("config", "describes another vault or key")
        }
        Ok(_) => {}
        Err(e) => r.problem("config", e.to_string()),
    }
    Ok(())
}

fn check_indexes(
    backend: &dyn ReadBackend,
    keys: Option<&Keyring<'_>>,
    packs: &HashSet<ObjectId>,
    tables: &HashMap<ObjectId, Vec<PackEntry>>,
    r: &mut CheckReport,
) -> RepoResult<()> {
    for info in backend.list("index")? {
        let Some(bytes) = read(backend, &info.name, r)? else {
            continue;
        };
        if let Err(e) = IndexMap::check_frame(&bytes) {
            r.problem(&info.name, e.to_string());
            continue;
        }
        let Some(k) = keys else { continue };
        match IndexMap::open(&bytes, k.private) {
            Ok(map) => {
                for (pack, entries) in &map.packs {
                    if !packs.contains(pack) {
                        r.problem(&info.name, format!("lists missing pack {}", pack.short()));
                    } else if tables.get(pack).is_some_and(|t| t != entries) {
                        r.problem(
                            &info.name,
                            format!("disagrees with the table of pack {}", pack.short()),
                        );
                    }
                }
            }
            Err(e) => r.problem(&info.name, e.to_string()),
        }
    }
    Ok(())
}

fn check_snapshots(
    backend: &dyn ReadBackend,
    bundle: &RecoveryBundle,
    r: &mut CheckReport,
) -> RepoResult<Vec<(String, Snapshot)>> {
    let verifier = bundle.writer_verifying_key()?;
    let listed = backend.list("snapshots")?;
    let names: HashSet<&str> = listed.iter().map(|o| o.name.as_str()).collect();
    // Snapshots deleted by `forget`: the chain legitimately starts over after them.
    let forgotten = crate::sync::forget::forgotten_snapshots(backend)?;
    let mut out = Vec::new();
    for info in &listed {
        let Some(bytes) = read(backend, &info.name, r)? else {
            continue;
        };
        match Snapshot::parse_verified(&bytes, &verifier) {
            Ok(s) if s.header.vault_id != bundle.vault_id => {
                r.problem(&info.name, "belongs to another vault")
            }
            Ok(s) => {
                let prev = snapshot_name(&s.header.previous);
                if !s.header.previous.is_zero()
                    && !names.contains(prev.as_str())
                    && !forgotten.contains(&prev)
                {
                    r.problem(
                        &info.name,
                        format!(
                            "previous snapshot {} is missing and no forget removed it (broken chain)",
                            s.header.previous.short()
                        ),
                    );
                }
                r.snapshots += 1;
                out.push((info.name.clone(), s));
            }
            Err(e) => r.problem(&info.name, e.to_string()),
        }
    }
    Ok(out)
}

/// Walks one snapshot's trees; trees already walked for an earlier snapshot are
/// skipped (unchanged folders share tree blobs).
fn walk(
    root: BlobId,
    snapshot: &str,
    reader: &mut super::source::RepoReader<'_>,
    blobs: &HashMap<BlobId, BlobKind>,
    seen: &mut HashSet<BlobId>,
    r: &mut CheckReport,
) -> RepoResult<()> {
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if blobs.get(&id) != Some(&BlobKind::Tree) {
            r.problem(
                snapshot,
                format!("references tree {} that no intact pack holds", id.short()),
            );
            continue;
        }
        let tree: Tree = match reader.tree(&id) {
            Ok(t) => t,
            Err(e) => {
                r.problem(snapshot, format!("tree {}: {e}", id.short()));
                continue;
            }
        };
        for node in &tree.nodes {
            match &node.kind {
                NodeKind::Dir { subtree } => stack.push(*subtree),
                NodeKind::File { chunks, .. } => {
                    for c in chunks {
                        if blobs.get(c) != Some(&BlobKind::Data) {
                            r.problem(
                                snapshot,
                                format!("references chunk {} that no intact pack holds", c.short()),
                            );
                        }
                    }
                }
                NodeKind::Symlink { .. } => {}
            }
        }
    }
    Ok(())
}

fn check_db(
    repo: &Repository,
    packs: &HashSet<ObjectId>,
    snaps: &[(String, Snapshot)],
    r: &mut CheckReport,
) -> RepoResult<()> {
    let mut missing: HashSet<ObjectId> = HashSet::new();
    for loc in repo.all_locations()? {
        if !packs.contains(&loc.pack) && missing.insert(loc.pack) {
            r.problem(
                pack_name(&loc.pack),
                "is in the local index but missing from the store",
            );
        }
    }
    for (name, s) in snaps {
        if repo.locate(&s.header.root)?.is_none() {
            r.problem(name, "root tree is not in the local index");
        }
    }
    Ok(())
}
