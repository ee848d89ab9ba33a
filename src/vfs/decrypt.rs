//! Reading sealed content back while the vault is unlocked: random access that
//! reads and decrypts only the chunks a request touches.
//!
//! A chunk is found through a [`BlobSource`]: the writer's index and local store
//! on the file server, or the index copies and a remote (through its cache) on a
//! recovery machine. Its pack is read whole once (a remote's through a cache that
//! checks it against its SHA-256 name); the session key is unwrapped once per
//! pack (an RSA private-key operation) and kept; every chunk is authenticated by
//! AES-GCM and checked against its keyed-hash id. Bounded caches: a few packs, a
//! few decrypted chunks. Everything is dropped on seal.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::backend::ReadBackend;
use crate::crypto::SecretBytes;
use crate::keys::UnlockedVault;
use crate::repo::id::{BlobHasher, ObjectId, pack_name};
use crate::repo::index::BlobLocation;
use crate::repo::pack::{self, OpenedPack};
use crate::repo::{BlobId, Repository};

use super::error::{VfsError, VfsResult};
use super::inode::locate_chunk;

const PACKS_KEPT: usize = 3;
const CHUNKS_KEPT: usize = 8;
const KEYS_KEPT: usize = 4096;

#[derive(Default)]
struct Caches {
    packs: VecDeque<(ObjectId, Arc<Vec<u8>>)>,
    opened: HashMap<ObjectId, Arc<OpenedPack>>,
    chunks: VecDeque<(BlobId, Arc<SecretBytes>)>,
}

/// Where a [`Decryptor`] finds blobs: which pack holds one, and the pack's bytes.
pub trait BlobSource: Send + Sync {
    /// Where blob `id` is stored, if anywhere.
    fn locate(&self, id: &BlobId) -> VfsResult<Option<BlobLocation>>;
    /// The whole bytes of a pack (`data/<2 hex>/<id>`). A source that reads from
    /// a place it does not control checks them against their name (the recovery
    /// mount's remote cache does, at every read); the local store's packs are
    /// read as stored. Either way every blob is authenticated (AES-GCM) and its
    /// plaintext checked against its id when decrypted.
    fn read_pack(&self, name: &str) -> VfsResult<Vec<u8>>;
}

impl BlobSource for Repository {
    fn locate(&self, id: &BlobId) -> VfsResult<Option<BlobLocation>> {
        Repository::locate(self, id).map_err(VfsError::from_repo)
    }

    fn read_pack(&self, name: &str) -> VfsResult<Vec<u8>> {
        self.backend()
            .read(name)
            .map_err(|e| VfsError::from_repo(e.into()))
    }
}

/// Decrypts content with an unlocked key.
pub struct Decryptor {
    source: Arc<dyn BlobSource>,
    key: Arc<UnlockedVault>,
    hasher: BlobHasher,
    caches: Mutex<Caches>,
}

impl Decryptor {
    /// A decryptor for `repo` with the unlocked `key`.
    pub fn new(repo: Arc<Repository>, key: Arc<UnlockedVault>) -> Decryptor {
        Decryptor::with_source(repo, key)
    }

    /// A decryptor reading blobs from `source` with the unlocked `key`.
    pub fn with_source(source: Arc<dyn BlobSource>, key: Arc<UnlockedVault>) -> Decryptor {
        Decryptor {
            hasher: BlobHasher::new(&key.writer.dedup_key),
            source,
            key,
            caches: Mutex::new(Caches::default()),
        }
    }

    fn caches(&self) -> std::sync::MutexGuard<'_, Caches> {
        self.caches.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pack_bytes(&self, id: &ObjectId) -> VfsResult<Arc<Vec<u8>>> {
        if let Some((_, b)) = self.caches().packs.iter().find(|(p, _)| p == id) {
            return Ok(b.clone());
        }
        let name = pack_name(id);
        let bytes = self.source.read_pack(&name)?;
        let bytes = Arc::new(bytes);
        let mut c = self.caches();
        if c.packs.len() >= PACKS_KEPT {
            c.packs.pop_front();
        }
        c.packs.push_back((*id, bytes.clone()));
        Ok(bytes)
    }

    fn opened(&self, id: &ObjectId, bytes: &[u8]) -> VfsResult<Arc<OpenedPack>> {
        if let Some(o) = self.caches().opened.get(id) {
            return Ok(o.clone());
        }
        let opened = pack::open(bytes, &self.key.private_key)
            .map_err(|e| VfsError::Damaged(format!("{}: {e}", pack_name(id))))?;
        let opened = Arc::new(opened);
        let mut c = self.caches();
        if c.opened.len() >= KEYS_KEPT {
            c.opened.clear();
        }
        c.opened.insert(*id, opened.clone());
        Ok(opened)
    }

    /// Where blob `id` is stored, if anywhere.
    pub fn locate(&self, id: &BlobId) -> VfsResult<Option<BlobLocation>> {
        self.source.locate(id)
    }

    /// The plaintext of chunk `id`, checked against its id.
    pub fn chunk(&self, id: &BlobId) -> VfsResult<Arc<SecretBytes>> {
        if let Some((_, c)) = self.caches().chunks.iter().find(|(b, _)| b == id) {
            return Ok(c.clone());
        }
        let loc = self
            .locate(id)?
            .ok_or_else(|| VfsError::Damaged(format!("chunk {} is in no pack", id.short())))?;
        let bytes = self.pack_bytes(&loc.pack)?;
        let opened = self.opened(&loc.pack, &bytes)?;
        let plain = crate::repo::source::open_located(&bytes, &opened, &loc, id, &self.hasher)
            .map_err(|problem| VfsError::Damaged(format!("{}: {problem}", pack_name(&loc.pack))))?;
        let plain = Arc::new(plain);
        let mut c = self.caches();
        if c.chunks.len() >= CHUNKS_KEPT {
            c.chunks.pop_front();
        }
        c.chunks.push_back((*id, plain.clone()));
        Ok(plain)
    }

    /// Up to `len` bytes at `offset` of content made of `chunks`.
    pub fn read(&self, chunks: &[(BlobId, u32)], offset: u64, len: usize) -> VfsResult<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut pos = offset;
        while out.len() < len {
            let Some((i, within, _)) = locate_chunk(chunks, pos) else {
                break;
            };
            let plain = self.chunk(&chunks[i].0)?;
            let data = plain.expose();
            if data.len() != chunks[i].1 as usize {
                return Err(VfsError::Damaged(format!(
                    "chunk {} has {} bytes, the file says {}",
                    chunks[i].0.short(),
                    data.len(),
                    chunks[i].1
                )));
            }
            let n = (len - out.len()).min(data.len() - within as usize);
            out.extend_from_slice(&data[within as usize..within as usize + n]);
            pos += n as u64;
        }
        Ok(out)
    }
}
