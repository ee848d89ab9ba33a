//! Reading a repository back with the unlocked key: verified object reads, the
//! blob index rebuilt from the encrypted index copies, and a small pack cache.
//!
//! Every pack is read whole and checked against its SHA-256 name before anything
//! in it is decrypted; a pack that fails is reported by name once and every blob
//! in it is refused, while the rest of the repository stays readable. Session
//! keys are unwrapped once per pack (an RSA private-key operation each).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};

use crate::backend::ReadBackend;
use crate::backend::verify::check_object;
use crate::crypto::{SecretBytes, VaultPrivateKey, WriterVerifyingKey};
use crate::keys::{RecoveryBundle, UnlockedVault};

use super::error::{RepoError, RepoResult};
use super::id::{BlobHasher, BlobId, BlobKind, ObjectId, pack_name};
use super::index::{BlobLocation, IndexMap};
use super::pack::{self, OpenedPack};
use super::snapshot::Snapshot;
use super::tree::{NodeKind, Tree};

/// The keys a reader needs: the private key (decrypt), the dedup key (check blob
/// ids), the writer's verifying key (check snapshot signatures).
pub struct Keyring<'k> {
    /// The vault private key, unlocked in memory.
    pub private: &'k VaultPrivateKey,
    /// Recomputes blob ids to check decrypted content.
    pub hasher: BlobHasher,
    /// Verifies snapshot signatures.
    pub verifier: WriterVerifyingKey,
    /// The vault's id.
    pub vault_id: [u8; 16],
}

impl<'k> Keyring<'k> {
    /// Keys of an unlocked vault.
    pub fn new(unlocked: &'k UnlockedVault, bundle: &RecoveryBundle) -> RepoResult<Keyring<'k>> {
        Ok(Keyring {
            private: &unlocked.private_key,
            hasher: BlobHasher::new(&unlocked.writer.dedup_key),
            verifier: bundle.writer_verifying_key()?,
            vault_id: bundle.vault_id,
        })
    }
}

/// How many whole packs are kept in memory (each up to the pack size); restore
/// writes files grouped by pack, so two cover a file that crosses into the next.
const PACK_CACHE: usize = 2;

/// Decrypts blob `id`, found at `loc`, out of the bytes of its verified, opened
/// pack, and checks the plaintext against `id`. The error is the problem with the
/// pack, for the caller's message.
pub fn open_located(
    pack_bytes: &[u8],
    opened: &OpenedPack,
    loc: &BlobLocation,
    id: &BlobId,
    hasher: &BlobHasher,
) -> Result<SecretBytes, String> {
    let (start, len) = (loc.entry.offset as usize, loc.entry.length as usize);
    let ct = pack_bytes
        .get(start..start + len)
        .ok_or_else(|| format!("blob {} lies outside the pack", id.short()))?;
    let plain = opened
        .blob(loc.index as usize, ct)
        .map_err(|e| e.to_string())?;
    if hasher.id(plain.expose()) != *id {
        return Err(format!("blob {} content does not match its id", id.short()));
    }
    Ok(plain)
}

/// Packs read and SHA-256-checked ahead by background threads (see
/// [`RepoReader::with_prefetch`]), shared between them and the reader.
struct Prefetch {
    state: Mutex<Ahead>,
    changed: Condvar,
}

/// What the prefetch threads did and may do next. Plan positions index `order`.
struct Ahead {
    order: Vec<ObjectId>,
    position: HashMap<ObjectId, usize>,
    /// Next plan position to fetch.
    next: usize,
    /// Positions claimed by the reader (or read by it directly): not fetched again,
    /// dropped if they arrive.
    done: Vec<bool>,
    /// Being fetched now.
    fetching: HashSet<usize>,
    /// Fetched and checked, not yet claimed.
    ready: HashMap<usize, Result<Fetched, String>>,
    stop: bool,
}

/// A pack's checked bytes, and its session key and table when they opened (the
/// RSA unwrap done off the reader's thread; a failure is left to the reader).
type Fetched = (Vec<u8>, Option<OpenedPack>);

/// How many packs the prefetch threads may hold, fetched or being fetched: the
/// memory bound of prefetching (each up to the pack size).
const PREFETCH_AHEAD: usize = 3;
/// Prefetch threads, each on its own connection when the backend has several
/// (SFTP: see `backend::sftp`).
const PREFETCH_THREADS: usize = 2;

impl Prefetch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ahead> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One prefetch thread: fetches plan positions in order while the window has room.
    fn work(&self, backend: &dyn ReadBackend, key: &VaultPrivateKey) {
        let mut st = self.lock();
        loop {
            if st.stop {
                return;
            }
            while st.next < st.order.len() && st.done[st.next] {
                st.next += 1;
            }
            if st.next >= st.order.len() {
                return;
            }
            if st.ready.len() + st.fetching.len() >= PREFETCH_AHEAD {
                st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let i = st.next;
            st.next += 1;
            st.fetching.insert(i);
            let name = pack_name(&st.order[i]);
            drop(st);
            let r = match backend.read(&name) {
                Ok(bytes) => match check_object(&name, &bytes) {
                    Ok(()) => {
                        let opened = pack::open(&bytes, key).ok();
                        Ok((bytes, opened))
                    }
                    Err(e) => Err(format!("{e}: tampered or damaged, refused")),
                },
                Err(e) => Err(e.to_string()),
            };
            st = self.lock();
            st.fetching.remove(&i);
            if !st.done[i] {
                st.ready.insert(i, r);
            }
            self.changed.notify_all();
        }
    }

    /// Pack `id` if it is planned and fetched or being fetched (waits for it then).
    /// `None`: not planned, or not started yet — the caller reads it itself, and the
    /// threads will not fetch it.
    fn take(&self, id: &ObjectId) -> Option<Result<Fetched, String>> {
        let mut st = self.lock();
        let i = *st.position.get(id)?;
        loop {
            if let Some(r) = st.ready.remove(&i) {
                st.done[i] = true;
                // Planned earlier but never asked for (served from the pack cache):
                // not needed in this order any more; free the room.
                st.ready.retain(|&j, _| j > i);
                self.changed.notify_all();
                return Some(r);
            }
            if !st.fetching.contains(&i) {
                st.done[i] = true;
                return None;
            }
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The reader found pack `id` elsewhere (pack cache): do not hold or fetch it.
    fn forget(&self, id: &ObjectId) {
        let mut st = self.lock();
        if let Some(&i) = st.position.get(id)
            && !st.done[i]
        {
            st.done[i] = true;
            if st.ready.remove(&i).is_some() {
                self.changed.notify_all();
            }
        }
    }

    fn stop(&self) {
        let mut st = self.lock();
        st.stop = true;
        st.ready.clear();
        drop(st);
        self.changed.notify_all();
    }
}

/// A verified, decrypting view of one repository.
pub struct RepoReader<'a> {
    prefetch: Option<Arc<Prefetch>>,
    backend: &'a dyn ReadBackend,
    keys: &'a Keyring<'a>,
    index: HashMap<BlobId, BlobLocation>,
    uncovered: Vec<ObjectId>,
    opened: HashMap<ObjectId, Arc<OpenedPack>>,
    cache: Vec<(ObjectId, Arc<Vec<u8>>)>,
    bad: BTreeMap<String, String>,
    trees: HashMap<BlobId, Tree>,
}

impl<'a> RepoReader<'a> {
    /// Loads the index copies; packs that no intact copy covers are read lazily.
    pub fn open(backend: &'a dyn ReadBackend, keys: &'a Keyring<'a>) -> RepoResult<RepoReader<'a>> {
        let mut reader = RepoReader {
            prefetch: None,
            backend,
            keys,
            index: HashMap::new(),
            uncovered: Vec::new(),
            opened: HashMap::new(),
            cache: Vec::new(),
            bad: BTreeMap::new(),
            trees: HashMap::new(),
        };
        let mut covered = HashSet::new();
        for info in backend.list("index")? {
            let Some(bytes) = reader.read_checked(&info.name)? else {
                continue;
            };
            match IndexMap::open(&bytes, keys.private) {
                Ok(map) => {
                    covered.extend(map.packs.keys().copied());
                    reader.index.extend(map.locations());
                }
                Err(e) => reader.mark_bad(&info.name, e.to_string()),
            }
        }
        for info in backend.list("data")? {
            let id = info
                .name
                .rsplit('/')
                .next()
                .and_then(ObjectId::from_hex)
                .unwrap_or_default();
            if !covered.contains(&id) {
                reader.uncovered.push(id);
            }
        }
        Ok(reader)
    }

    /// Objects found tampered or damaged so far, with the problem.
    pub fn bad_objects(&self) -> &BTreeMap<String, String> {
        &self.bad
    }

    fn mark_bad(&mut self, name: &str, problem: String) {
        tracing::warn!(object = name, %problem, "refusing a damaged object");
        self.bad.insert(name.to_string(), problem);
    }

    /// Reads a whole object and checks its name; `None` (and reported) if it fails.
    fn read_checked(&mut self, name: &str) -> RepoResult<Option<Vec<u8>>> {
        if self.bad.contains_key(name) {
            return Ok(None);
        }
        let bytes = self.backend.read(name)?;
        match check_object(name, &bytes) {
            Ok(()) => Ok(Some(bytes)),
            Err(e) => {
                self.mark_bad(name, format!("{e}: tampered or damaged, refused"));
                Ok(None)
            }
        }
    }

    /// All intact, correctly signed snapshots of this vault, oldest first.
    pub fn snapshots(&mut self) -> RepoResult<Vec<(ObjectId, Snapshot)>> {
        let mut out = Vec::new();
        for info in self.backend.list("snapshots")? {
            let Some(bytes) = self.read_checked(&info.name)? else {
                continue;
            };
            match Snapshot::parse_verified(&bytes, &self.keys.verifier) {
                Ok(s) if s.header.vault_id == self.keys.vault_id => {
                    out.push((ObjectId::of(&bytes), s))
                }
                Ok(_) => self.mark_bad(&info.name, "belongs to another vault".into()),
                Err(e) => self.mark_bad(&info.name, e.to_string()),
            }
        }
        out.sort_by_key(|(_, s)| s.header.time_us);
        Ok(out)
    }

    /// The snapshot `wanted` names: `latest` or a unique id prefix.
    pub fn select(&mut self, wanted: &str) -> RepoResult<(ObjectId, Snapshot)> {
        let all = self.snapshots()?;
        let none = || RepoError::NoSnapshot {
            wanted: wanted.to_string(),
            backend: self.backend.describe(),
        };
        if wanted == "latest" {
            return all.into_iter().last().ok_or_else(none);
        }
        let wanted_lc = wanted.to_ascii_lowercase();
        let mut matches: Vec<_> = all
            .into_iter()
            .filter(|(id, _)| id.to_hex().starts_with(&wanted_lc))
            .collect();
        match matches.len() {
            0 => Err(none()),
            1 => Ok(matches.remove(0)),
            count => Err(RepoError::AmbiguousSnapshot {
                prefix: wanted.to_string(),
                count,
            }),
        }
    }

    /// A decrypted tree.
    pub fn tree(&mut self, id: &BlobId) -> RepoResult<Tree> {
        if let Some(t) = self.trees.get(id) {
            return Ok(t.clone());
        }
        let plain = self.blob(id)?;
        Tree::from_bytes(plain.expose())
            .map_err(|e| RepoError::malformed(format!("tree {}", id.short()), e))
    }

    /// A decrypted blob, checked against its id.
    pub fn blob(&mut self, id: &BlobId) -> RepoResult<SecretBytes> {
        let loc = self.locate(id)?;
        let name = pack_name(&loc.pack);
        let bytes = self
            .pack_bytes(&loc.pack)?
            .ok_or_else(|| RepoError::Damaged {
                object: name.clone(),
                problem: format!(
                    "holds blob {} but {}",
                    id.short(),
                    self.bad
                        .get(&name)
                        .map(String::as_str)
                        .unwrap_or("is unreadable")
                ),
            })?;
        let opened = self.opened_pack(&loc.pack, &bytes)?;
        open_located(&bytes, &opened, &loc, id, &self.keys.hasher).map_err(|problem| {
            RepoError::Damaged {
                object: name,
                problem,
            }
        })
    }

    fn locate(&mut self, id: &BlobId) -> RepoResult<BlobLocation> {
        if let Some(loc) = self.index.get(id) {
            return Ok(*loc);
        }
        // Packs whose index copy is missing or damaged: read their own tables.
        for pack_id in std::mem::take(&mut self.uncovered) {
            let Some(bytes) = self.pack_bytes(&pack_id)? else {
                continue;
            };
            let Ok(opened) = self.opened_pack(&pack_id, &bytes) else {
                continue;
            };
            for (i, e) in opened.entries.iter().enumerate() {
                let loc = BlobLocation {
                    pack: pack_id,
                    entry: *e,
                    index: i as u32,
                };
                self.index.insert(e.id, loc);
            }
        }
        self.index
            .get(id)
            .copied()
            .ok_or_else(|| RepoError::MissingBlob(id.short()))
    }

    fn pack_bytes(&mut self, id: &ObjectId) -> RepoResult<Option<Arc<Vec<u8>>>> {
        if let Some(pos) = self.cache.iter().position(|(p, _)| p == id) {
            if let Some(p) = &self.prefetch {
                p.forget(id);
            }
            let entry = self.cache.remove(pos);
            let bytes = entry.1.clone();
            self.cache.push(entry);
            return Ok(Some(bytes));
        }
        let name = pack_name(id);
        if let Some(got) = self.take_prefetched(id) {
            return match got {
                Ok((b, opened)) => {
                    if let Some(o) = opened {
                        self.opened.entry(*id).or_insert_with(|| Arc::new(o));
                    }
                    let bytes = Arc::new(b);
                    if self.cache.len() >= PACK_CACHE {
                        self.cache.remove(0);
                    }
                    self.cache.push((*id, bytes.clone()));
                    Ok(Some(bytes))
                }
                Err(problem) => {
                    self.mark_bad(&name, problem);
                    Ok(None)
                }
            };
        }
        let bytes = match self.read_checked(&name) {
            Ok(Some(b)) => Arc::new(b),
            Ok(None) => return Ok(None),
            Err(RepoError::Backend(e)) => {
                self.mark_bad(&name, e.to_string());
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if self.cache.len() >= PACK_CACHE {
            self.cache.remove(0);
        }
        self.cache.push((*id, bytes.clone()));
        Ok(Some(bytes))
    }

    /// A pack the prefetch threads read (or are reading), if it is one of theirs.
    fn take_prefetched(&mut self, id: &ObjectId) -> Option<Result<Fetched, String>> {
        self.prefetch.as_ref()?.take(id)
    }

    /// Decrypts every tree under `root` ahead, for one [`Self::tree`] call each:
    /// level by level, the packs holding the next level's trees are fetched in
    /// parallel (see [`Self::with_prefetch`]) and every tree blob in a fetched pack
    /// is kept, so a pack is read once however the trees are spread (trees share
    /// packs with file contents). Trees that fail here are left to `tree`, which
    /// reports them.
    pub fn preload_trees(&mut self, root: &BlobId) {
        let mut frontier = vec![*root];
        let mut tried = HashSet::new();
        while !frontier.is_empty() {
            let mut packs = Vec::new();
            for id in &frontier {
                if let Ok(loc) = self.locate(id)
                    && tried.insert(loc.pack)
                {
                    packs.push(loc.pack);
                }
            }
            self.with_prefetch(packs.clone(), |r| {
                for p in &packs {
                    r.keep_trees_of(p);
                }
            });
            // Down through the trees now known, to those still missing; those in
            // packs already read are not there (damaged): `tree` reports them.
            let mut next = Vec::new();
            let mut stack = std::mem::take(&mut frontier);
            let mut visited = HashSet::new();
            while let Some(id) = stack.pop() {
                if !visited.insert(id) {
                    continue;
                }
                match self.trees.get(&id) {
                    Some(t) => stack.extend(t.nodes.iter().filter_map(|n| match &n.kind {
                        NodeKind::Dir { subtree } => Some(*subtree),
                        _ => None,
                    })),
                    None => {
                        if self.locate(&id).is_ok_and(|l| !tried.contains(&l.pack)) {
                            next.push(id);
                        }
                    }
                }
            }
            frontier = next;
        }
    }

    /// Keeps every tree blob of pack `id` that checks out.
    fn keep_trees_of(&mut self, id: &ObjectId) {
        let Ok(Some(bytes)) = self.pack_bytes(id) else {
            return;
        };
        let Ok(opened) = self.opened_pack(id, &bytes) else {
            return;
        };
        for (i, e) in opened.entries.iter().enumerate() {
            if e.kind != BlobKind::Tree || self.trees.contains_key(&e.id) {
                continue;
            }
            let loc = BlobLocation {
                pack: *id,
                entry: *e,
                index: i as u32,
            };
            if let Ok(plain) = open_located(&bytes, &opened, &loc, &e.id, &self.keys.hasher)
                && let Ok(t) = Tree::from_bytes(plain.expose())
            {
                self.trees.insert(e.id, t);
            }
        }
    }

    /// The pack holding blob `id`.
    pub fn pack_of(&mut self, id: &BlobId) -> RepoResult<ObjectId> {
        Ok(self.locate(id)?.pack)
    }

    /// Runs `f` while [`PREFETCH_THREADS`] background threads read and
    /// SHA-256-check `packs` (in the order `f` will need them) and unwrap their
    /// session keys, holding at most
    /// [`PREFETCH_AHEAD`] at a time, so reading the next packs overlaps decrypting
    /// and writing this one. A pack `f` asks for out of order is read directly.
    pub fn with_prefetch<R>(&mut self, packs: Vec<ObjectId>, f: impl FnOnce(&mut Self) -> R) -> R {
        let backend = self.backend;
        let key = self.keys.private;
        let mut position = HashMap::new();
        for (i, id) in packs.iter().enumerate() {
            position.entry(*id).or_insert(i);
        }
        let prefetch = Arc::new(Prefetch {
            state: Mutex::new(Ahead {
                done: vec![false; packs.len()],
                order: packs,
                position,
                next: 0,
                fetching: HashSet::new(),
                ready: HashMap::new(),
                stop: false,
            }),
            changed: Condvar::new(),
        });
        std::thread::scope(|s| {
            self.prefetch = Some(prefetch.clone());
            for _ in 0..PREFETCH_THREADS {
                let p = prefetch.clone();
                s.spawn(move || p.work(backend, key));
            }
            let out = f(self);
            self.prefetch = None;
            // Threads finish the read they are in, then stop.
            prefetch.stop();
            out
        })
    }

    fn opened_pack(&mut self, id: &ObjectId, bytes: &[u8]) -> RepoResult<Arc<OpenedPack>> {
        if let Some(o) = self.opened.get(id) {
            return Ok(o.clone());
        }
        match pack::open(bytes, self.keys.private) {
            Ok(o) => {
                let o = Arc::new(o);
                self.opened.insert(*id, o.clone());
                Ok(o)
            }
            Err(e) => {
                let name = pack_name(id);
                self.mark_bad(&name, e.to_string());
                Err(RepoError::Damaged {
                    object: name,
                    problem: e.to_string(),
                })
            }
        }
    }
}
