//! Reading back what a write stream has sealed, while its file is still open.
//!
//! The stream's pipeline reports each chunk in order and each pack with its
//! session key once published ([`SealObserver`]). With that, a staging block the
//! stream fully covers can be released ([`Staging::release`]) and read back later
//! by decrypting the stream's own packs — so a large file written front to back
//! is not kept twice (once sealed, once staged) until close.
//!
//! A chunk the store held before the stream (a dedup hit) sits in a pack whose
//! session key only the vault's private key opens; blocks touching one are never
//! released and stay staged. The keys held here are wiped when the last staging
//! block referring to them goes (the file's last handle is released).
//!
//! [`Staging::release`]: super::staging::Staging::release

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::crypto::Wiped;

use crate::backend::ReadBackend;
use crate::crypto::SecretKey32;
use crate::repo::blob;
use crate::repo::id::pack_name;
use crate::repo::pack::PackEntry;
use crate::repo::{BlobId, ObjectId, Repository, SealObserver};

use super::error::{VfsError, VfsResult};
use super::staging::SealedSource;

/// Whether a byte range can be read back from the stream's packs.
#[derive(Debug, PartialEq, Eq)]
pub enum Readable {
    /// Every chunk covering it is in a published pack of the stream.
    Yes,
    /// Not yet: the stream has not cut or published all of it.
    NotYet,
    /// Never: a chunk covering it is a dedup hit in a pack the stream cannot open.
    Never,
}

struct Chunk {
    /// File offset of the chunk's first byte.
    start: u64,
    len: u32,
    id: BlobId,
    stored_here: bool,
}

struct Located {
    pack: ObjectId,
    entry: PackEntry,
    /// Position in the pack: the blob's nonce counter.
    index: u32,
    key: Arc<SecretKey32>,
}

#[derive(Default)]
struct State {
    /// Chunks in file order, contiguous from the origin.
    chunks: Vec<Chunk>,
    /// File offset where the last chunk ends.
    end: u64,
    located: HashMap<BlobId, Located>,
    /// The last chunk decrypted (reads come in blocks smaller than a chunk).
    last: Option<(BlobId, Wiped)>,
}

/// One write stream's sealed output, as far as it goes.
pub struct StreamReadback {
    repo: Arc<Repository>,
    origin: u64,
    state: Mutex<State>,
}

impl StreamReadback {
    /// For a stream whose first byte is at file offset `origin`.
    pub fn new(repo: Arc<Repository>, origin: u64) -> StreamReadback {
        StreamReadback {
            repo,
            origin,
            state: Mutex::new(State {
                end: origin,
                ..State::default()
            }),
        }
    }

    /// File offset of the stream's first byte.
    pub fn origin(&self) -> u64 {
        self.origin
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `[start, end)` can be read back now.
    pub fn readable(&self, start: u64, end: u64) -> Readable {
        self.lock().readable(self.origin, start, end)
    }

    /// Makes `st.last` the plaintext of chunk `id` (decrypting it unless it is
    /// already), so block-sized reads copy out of one decryption per chunk.
    fn load(&self, st: &mut State, id: &BlobId) -> VfsResult<()> {
        if st.last.as_ref().is_some_and(|(last, _)| last == id) {
            return Ok(());
        }
        let loc = st.located.get(id).ok_or_else(|| {
            VfsError::Damaged(format!(
                "chunk {} is not in a pack of its stream",
                id.short()
            ))
        })?;
        let e = &loc.entry;
        let ct = self
            .repo
            .backend()
            .read_range(
                &pack_name(&loc.pack),
                u64::from(e.offset),
                u64::from(e.length),
            )
            .map_err(|e| VfsError::from_repo(e.into()))?;
        let plain = blob::open(
            &loc.key,
            loc.index,
            e.kind,
            id,
            e.compression,
            e.raw_len,
            &ct,
        )
        .map_err(|e| VfsError::Damaged(format!("reading back a streamed chunk: {e}")))?;
        st.last = Some((*id, Wiped::new(plain.expose().to_vec())));
        Ok(())
    }
}

impl State {
    fn readable(&self, origin: u64, start: u64, end: u64) -> Readable {
        if start < origin || end > self.end {
            return Readable::NotYet;
        }
        let mut verdict = Readable::Yes;
        for c in covering(&self.chunks, start, end) {
            if !c.stored_here {
                return Readable::Never;
            }
            if !self.located.contains_key(&c.id) {
                verdict = Readable::NotYet;
            }
        }
        verdict
    }

    fn chunk(&mut self, id: &BlobId, len: u32, stored_here: bool) {
        let start = self.end;
        self.end += u64::from(len);
        self.chunks.push(Chunk {
            start,
            len,
            id: *id,
            stored_here,
        });
    }

    fn published(&mut self, pack: &ObjectId, entries: &[PackEntry], key: &SecretKey32) {
        let key = Arc::new(SecretKey32::from_bytes(key.expose()));
        for (index, entry) in entries.iter().enumerate() {
            self.located.entry(entry.id).or_insert_with(|| Located {
                pack: *pack,
                entry: *entry,
                index: index as u32,
                key: key.clone(),
            });
        }
    }
}

/// The chunks overlapping `[start, end)`.
fn covering(chunks: &[Chunk], start: u64, end: u64) -> impl Iterator<Item = &Chunk> {
    let first = chunks.partition_point(|c| c.start + u64::from(c.len) <= start);
    chunks[first..].iter().take_while(move |c| c.start < end)
}

impl SealedSource for StreamReadback {
    fn read(&self, offset: u64, len: usize) -> VfsResult<Wiped> {
        let end = offset + len as u64;
        if self.readable(offset, end) != Readable::Yes {
            return Err(VfsError::Damaged(
                "a released staging block is not sealed".into(),
            ));
        }
        let mut st = self.lock();
        let wanted: Vec<(u64, u32, BlobId)> = covering(&st.chunks, offset, end)
            .map(|c| (c.start, c.len, c.id))
            .collect();
        let mut out = Wiped::new(Vec::with_capacity(len));
        for (start, chunk_len, id) in wanted {
            self.load(&mut st, &id)?;
            let Some((_, plain)) = &st.last else {
                return Err(VfsError::Damaged("a streamed chunk did not load".into()));
            };
            if plain.len() != chunk_len as usize {
                return Err(VfsError::Damaged(format!(
                    "streamed chunk {} decrypted to {} bytes, expected {chunk_len}",
                    id.short(),
                    plain.len()
                )));
            }
            let from = offset.max(start) - start;
            let to = end.min(start + u64::from(chunk_len)) - start;
            out.extend_from_slice(&plain[from as usize..to as usize]);
        }
        Ok(out)
    }
}

impl SealObserver for StreamReadback {
    fn chunk(&self, id: &BlobId, len: u32, stored_here: bool) {
        self.lock().chunk(id, len, stored_here);
    }

    fn published(&self, pack: &ObjectId, entries: &[PackEntry], key: &SecretKey32) {
        self.lock().published(pack, entries, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::BlobKind;
    use crate::repo::blob::Compression;

    const K: u32 = 1024;

    fn entry(id: BlobId) -> PackEntry {
        PackEntry {
            kind: BlobKind::Data,
            compression: Compression::Raw,
            id,
            offset: 5,
            length: 16,
            raw_len: 0,
        }
    }

    #[test]
    fn ranges_become_readable_as_their_chunks_are_published() {
        // A stream starting at 100 KiB: chunks of 300, 200 (stored before) and 500 KiB.
        let origin = 100 * u64::from(K);
        let mut st = State {
            end: origin,
            ..State::default()
        };
        let (a, b, c) = (BlobId([1; 32]), BlobId([2; 32]), BlobId([3; 32]));
        st.chunk(&a, 300 * K, true);
        st.chunk(&b, 200 * K, false);
        st.chunk(&c, 500 * K, true);
        let at = |kib: u64| kib * u64::from(K);

        assert_eq!(st.readable(origin, at(100), at(164)), Readable::NotYet);
        st.published(&ObjectId([9; 32]), &[entry(a)], &SecretKey32::random());
        assert_eq!(st.readable(origin, at(100), at(164)), Readable::Yes);
        assert_eq!(st.readable(origin, at(336), at(400)), Readable::Yes);
        // Straddling the origin: part of it belongs to what came before the stream.
        assert_eq!(st.readable(origin, at(64), at(128)), Readable::NotYet);
        // Touching the chunk stored before: never.
        assert_eq!(st.readable(origin, at(380), at(444)), Readable::Never);
        assert_eq!(st.readable(origin, at(600), at(664)), Readable::NotYet);
        st.published(&ObjectId([8; 32]), &[entry(c)], &SecretKey32::random());
        assert_eq!(st.readable(origin, at(600), at(664)), Readable::Yes);
        // Past the last chunk cut so far.
        assert_eq!(st.readable(origin, at(1_090), at(1_154)), Readable::NotYet);
    }

    #[test]
    fn covering_finds_exactly_the_overlapping_chunks() {
        let mut st = State::default();
        for i in 0..4u8 {
            st.chunk(&BlobId([i; 32]), 10, true);
        }
        let ids =
            |s: u64, e: u64| -> Vec<u8> { covering(&st.chunks, s, e).map(|c| c.id.0[0]).collect() };
        assert_eq!(ids(0, 10), vec![0]);
        assert_eq!(ids(9, 11), vec![0, 1]);
        assert_eq!(ids(10, 30), vec![1, 2]);
        assert_eq!(ids(35, 40), vec![3]);
        assert!(ids(40, 50).is_empty());
    }
}
