//! The write pipeline: keeps both cores busy while memory stays bounded.
//!
//! ```text
//! caller thread ── chunk + HMAC + dedup ──▶ [jobs, 4] ──▶ workers: zstd ──▶
//!   [blobs, 4] ──▶ packer: AES-GCM into a pack ──▶ [packs, 0] ──▶ writer:
//!   quota check, publish, index (fsync)
//! ```
//! Channels are bounded (the pack hand-off is a rendezvous), so at most a few
//! chunks (≤ 4 MiB each) and two packs (one filling, one being written) are
//! in flight whatever the input size. The caller decides dedup before sending, so
//! a chunk repeated within one run is packed once.

use std::collections::HashSet;
use std::io::Read;

use crossbeam_channel::{Receiver, Sender, bounded};

use super::blob::{PreparedBlob, prepare};
use super::chunker::Chunker;
use super::error::{RepoError, RepoResult};
use super::id::{BlobId, BlobKind, ObjectId};
use super::index::IndexMap;
use super::pack::{ENTRY_LEN, FinishedPack, PackBuilder, PackEntry};
use super::progress::Progress;
use super::repository::Repository;
use super::tree::Tree;
use crate::crypto::SecretKey32;

/// Tuning of one write run.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// zstd level (profile `repository.compression_level`, default 3).
    pub compression_level: i32,
    /// Pack target size (profile `repository.pack_size`, default 16 MiB).
    pub pack_size: usize,
    /// Quota on stored bytes (profile `quota`), if any.
    pub quota: Option<u64>,
    /// Publish packs without fsync, journaled, made durable by the caller's
    /// [`Repository::group_commit`] (the mount); `false` fsyncs every pack.
    pub deferred: bool,
}

/// What a write run stored.
#[derive(Debug, Clone, Default)]
pub struct WriteStats {
    /// Blobs newly stored.
    pub new_blobs: u64,
    /// Plaintext bytes of the new blobs.
    pub new_bytes: u64,
    /// Blobs found already stored.
    pub reused_blobs: u64,
    /// Bytes of the packs written.
    pub stored_bytes: u64,
    /// Packs written, with their blob tables (for the index copy).
    pub packs: IndexMap,
}

/// Told what a write run stores while it runs. The mount's write streams use it
/// to read back what they handed over without keeping a plaintext copy: the
/// chunks in order, and each pack with its session key once it is published.
pub trait SealObserver: Send + Sync {
    /// The next chunk of content, in order: its id, plaintext length, and
    /// whether this run stores it (`false`: the store held it before the run, in
    /// a pack whose key this run never had).
    fn chunk(&self, id: &BlobId, len: u32, stored_here: bool);
    /// A pack of this run is published: its id, blob table (position = nonce
    /// counter) and session key.
    fn published(&self, pack: &ObjectId, entries: &[PackEntry], key: &SecretKey32);
}

struct Job {
    kind: BlobKind,
    id: BlobId,
    plain: Vec<u8>,
}

/// Hands blobs to the pipeline; dedups against the store and this run.
pub struct BlobWriter<'r> {
    repo: &'r Repository,
    observer: Option<&'r dyn SealObserver>,
    jobs: Option<Sender<Job>>,
    seen: HashSet<BlobId>,
    new_blobs: u64,
    new_bytes: u64,
    reused_blobs: u64,
}

/// Read size for files: large enough for few syscalls, small enough to stay in cache.
const READ_SIZE: usize = 1024 * 1024;

impl<'r> BlobWriter<'r> {
    /// Runs `f` with a writer whose blobs end up durably stored in packs when this
    /// returns `Ok`. On any error nothing half-written is referenced.
    pub fn run<T>(
        repo: &'r Repository,
        opts: &WriteOptions,
        f: impl FnOnce(&mut BlobWriter<'r>) -> RepoResult<T>,
    ) -> RepoResult<(T, WriteStats)> {
        Self::run_observed(repo, opts, None, f)
    }

    /// Like [`Self::run`], telling `observer` about every content chunk and
    /// every published pack.
    pub fn run_observed<T>(
        repo: &'r Repository,
        opts: &WriteOptions,
        observer: Option<&'r dyn SealObserver>,
        f: impl FnOnce(&mut BlobWriter<'r>) -> RepoResult<T>,
    ) -> RepoResult<(T, WriteStats)> {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 8);
        let (job_tx, job_rx) = bounded::<Job>(4);
        let (blob_tx, blob_rx) = bounded::<PreparedBlob>(4);
        let (pack_tx, pack_rx) = bounded::<(FinishedPack, SecretKey32)>(0);
        // Written packs' buffers go back to the packer (ciphertext only): a fresh
        // 20 MiB buffer per pack cost a page fault per 4 KiB.
        let (spare_tx, spare_rx) = bounded::<Vec<u8>>(1);
        std::thread::scope(|s| {
            for _ in 0..workers {
                let (rx, tx) = (job_rx.clone(), blob_tx.clone());
                let level = opts.compression_level;
                s.spawn(move || compress(rx, tx, level));
            }
            drop((job_rx, blob_tx));
            let packer = s.spawn(|| pack(repo, opts.pack_size, blob_rx, pack_tx, spare_rx));
            let writer = s.spawn(|| write(repo, opts, observer, pack_rx, spare_tx));
            let mut bw = BlobWriter {
                repo,
                observer,
                jobs: Some(job_tx),
                seen: HashSet::new(),
                new_blobs: 0,
                new_bytes: 0,
                reused_blobs: 0,
            };
            let result = f(&mut bw);
            bw.jobs = None;
            let packed = packer.join().unwrap_or(Err(RepoError::PipelineStopped));
            let written = writer.join().unwrap_or(Err(RepoError::PipelineStopped));
            // The writer's error (full disk, quota) is the cause of a stopped pipeline.
            let (written, stored) = written?;
            packed?;
            let value = result?;
            Ok((
                value,
                WriteStats {
                    new_blobs: bw.new_blobs,
                    new_bytes: bw.new_bytes,
                    reused_blobs: bw.reused_blobs,
                    stored_bytes: stored,
                    packs: written,
                },
            ))
        })
    }

    /// The repository being written.
    pub fn repo(&self) -> &'r Repository {
        self.repo
    }

    /// Whether a blob is stored already or queued in this run.
    pub fn has(&self, id: &BlobId) -> RepoResult<bool> {
        Ok(self.seen.contains(id) || self.repo.contains(id)?)
    }

    /// Stores a blob unless present; returns its id.
    pub fn store(&mut self, kind: BlobKind, plain: Vec<u8>) -> RepoResult<BlobId> {
        self.store_here(kind, plain).map(|(id, _)| id)
    }

    /// [`Self::store`], also saying whether the blob is in (or queued for) a pack
    /// of this run rather than one stored before it.
    fn store_here(&mut self, kind: BlobKind, plain: Vec<u8>) -> RepoResult<(BlobId, bool)> {
        let id = self.repo.hasher().id(&plain);
        if self.seen.contains(&id) {
            self.reused_blobs += 1;
            return Ok((id, true));
        }
        if self.repo.contains(&id)? {
            self.reused_blobs += 1;
            return Ok((id, false));
        }
        self.seen.insert(id);
        self.new_blobs += 1;
        self.new_bytes += plain.len() as u64;
        let jobs = self.jobs.as_ref().ok_or(RepoError::PipelineStopped)?;
        jobs.send(Job { kind, id, plain })
            .map_err(|_| RepoError::PipelineStopped)?;
        Ok((id, true))
    }

    /// Stores a tree blob.
    pub fn tree(&mut self, tree: &Tree) -> RepoResult<BlobId> {
        let bytes = tree.to_bytes().map_err(|e| RepoError::BadSource {
            path: "(tree)".into(),
            problem: e.to_string(),
        })?;
        self.store(BlobKind::Tree, bytes)
    }

    /// Chunks and stores everything `reader` yields; returns the chunk ids and
    /// the byte count. `what` names the source in errors.
    pub fn content(
        &mut self,
        reader: impl Read,
        what: &std::path::Path,
        progress: &dyn Progress,
    ) -> RepoResult<(Vec<BlobId>, u64)> {
        let (sized, total) = self.content_sized(reader, what, progress)?;
        Ok((sized.into_iter().map(|(id, _)| id).collect(), total))
    }

    /// Like [`Self::content`], with each chunk's plaintext length (for random
    /// access into the content without decrypting earlier chunks).
    pub fn content_sized(
        &mut self,
        mut reader: impl Read,
        what: &std::path::Path,
        progress: &dyn Progress,
    ) -> RepoResult<(Vec<(BlobId, u32)>, u64)> {
        let mut buf = vec![0u8; READ_SIZE];
        self.chunked(|push| {
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(RepoError::io(what, "read failed", e)),
                };
                progress.advance(n as u64);
                push(&buf[..n])?;
            }
        })
    }

    /// Like [`Self::content_sized`], for content that arrives as pieces (the
    /// mount's write stream), chunked straight from them.
    pub fn content_pieces<B: AsRef<[u8]>>(
        &mut self,
        pieces: impl IntoIterator<Item = RepoResult<B>>,
    ) -> RepoResult<(Vec<(BlobId, u32)>, u64)> {
        self.chunked(|push| {
            for piece in pieces {
                push(piece?.as_ref())?;
            }
            Ok(())
        })
    }

    /// Chunks and stores what `feed` pushes; returns chunk ids with lengths and
    /// the byte count.
    fn chunked(
        &mut self,
        feed: impl FnOnce(&mut dyn FnMut(&[u8]) -> RepoResult<()>) -> RepoResult<()>,
    ) -> RepoResult<(Vec<(BlobId, u32)>, u64)> {
        let mut chunker = Chunker::new(self.repo.writer().gear_seed);
        let mut ids = Vec::new();
        let mut total = 0u64;
        feed(&mut |data: &[u8]| {
            total += data.len() as u64;
            chunker.push(data, &mut |c| self.store_chunk(&mut ids, c))
        })?;
        chunker.finish(&mut |c| self.store_chunk(&mut ids, c))?;
        Ok((ids, total))
    }

    fn store_chunk(&mut self, ids: &mut Vec<(BlobId, u32)>, chunk: Vec<u8>) -> RepoResult<()> {
        let len = chunk.len() as u32;
        let (id, here) = self.store_here(BlobKind::Data, chunk)?;
        if let Some(observer) = self.observer {
            observer.chunk(&id, len, here);
        }
        ids.push((id, len));
        Ok(())
    }
}

fn compress(rx: Receiver<Job>, tx: Sender<PreparedBlob>, level: i32) {
    for job in rx {
        let blob = prepare(job.kind, job.id, job.plain, level);
        if tx.send(blob).is_err() {
            return;
        }
    }
}

fn pack(
    repo: &Repository,
    target: usize,
    rx: Receiver<PreparedBlob>,
    tx: Sender<(FinishedPack, SecretKey32)>,
    spare: Receiver<Vec<u8>>,
) -> RepoResult<()> {
    let mut current: Option<PackBuilder> = None;
    for blob in rx {
        let builder = match current.as_mut() {
            Some(b) => b,
            None => {
                let b = repo.pack_builder(target, None)?;
                current.insert(match spare.try_recv() {
                    Ok(buf) => b.into_buffer(buf),
                    Err(_) => b,
                })
            }
        };
        builder.add(&blob);
        if builder.is_full()
            && let Some(full) = current.take()
            && tx.send(finish(full)).is_err()
        {
            return Ok(());
        }
    }
    if let Some(last) = current.take().filter(|b| !b.is_empty()) {
        let _ = tx.send(finish(last));
    }
    Ok(())
}

/// The finished pack with a copy of its session key (for a [`SealObserver`];
/// wiped on drop either way).
fn finish(builder: PackBuilder) -> (FinishedPack, SecretKey32) {
    let key = builder.key_copy();
    (builder.finish(), key)
}

fn write(
    repo: &Repository,
    opts: &WriteOptions,
    observer: Option<&dyn SealObserver>,
    rx: Receiver<(FinishedPack, SecretKey32)>,
    spare: Sender<Vec<u8>>,
) -> RepoResult<(IndexMap, u64)> {
    let (quota, deferred) = (opts.quota, opts.deferred);
    let mut used = if quota.is_some() {
        repo.stored_bytes()?
    } else {
        0
    };
    let mut map = IndexMap::default();
    let mut stored = 0u64;
    for (pack, key) in rx {
        let size = pack.bytes.len() as u64;
        if let Some(q) = quota
            && used + size > q
        {
            return Err(RepoError::Quota {
                used,
                need: size,
                quota: q,
            });
        }
        if deferred {
            repo.commit_pack_deferred(&pack)?;
        } else {
            repo.commit_pack(&pack)?;
        }
        used += size;
        stored += size;
        if let Some(observer) = observer {
            observer.published(&pack.id, &pack.entries, &key);
        }
        drop(key);
        let FinishedPack { id, entries, bytes } = pack;
        map.add_pack(id, entries);
        let _ = spare.try_send(bytes);
    }
    Ok((map, stored))
}

/// Stores `data` as content without the thread pipeline, for small inputs (a
/// file sealed at close) where starting threads costs more than the work. Same
/// chunks, ids and packs as [`BlobWriter::content_sized`]; returns them and the
/// stored bytes.
pub fn store_inline(
    repo: &Repository,
    opts: &WriteOptions,
    data: &[u8],
) -> RepoResult<(Vec<(BlobId, u32)>, u64)> {
    prepare_inline(repo, opts, data)?.publish(repo, opts)
}

/// Small content made ready to store, not stored yet: its chunks and the new
/// ones compressed. Dropping it stores nothing.
pub struct Inline {
    ids: Vec<(BlobId, u32)>,
    blobs: Vec<PreparedBlob>,
    raw: usize,
}

/// The CPU half of [`store_inline`]: chunk, name, dedup against what is stored
/// now, compress. [`Inline::publish`] encrypts and stores; a blob stored by
/// someone else in between is then stored twice, which costs space, not
/// correctness.
pub fn prepare_inline(repo: &Repository, opts: &WriteOptions, data: &[u8]) -> RepoResult<Inline> {
    let mut ids = Vec::new();
    let mut blobs = Vec::new();
    let mut seen = HashSet::new();
    for chunk in super::chunker::chunk_all(repo.writer().gear_seed, data) {
        let id = repo.hasher().id(&chunk);
        let len = chunk.len() as u32;
        if !seen.contains(&id) && !repo.contains(&id)? {
            seen.insert(id);
            blobs.push(prepare(BlobKind::Data, id, chunk, opts.compression_level));
        }
        ids.push((id, len));
    }
    Ok(Inline {
        ids,
        blobs,
        raw: data.len(),
    })
}

impl Inline {
    /// Stores the new blobs (quota checked first) and returns the chunks with
    /// the bytes stored. Deferred (the mount): one segment of the drive's open
    /// pack, journaled; otherwise a pack of their own, fsynced.
    pub fn publish(
        self,
        repo: &Repository,
        opts: &WriteOptions,
    ) -> RepoResult<(Vec<(BlobId, u32)>, u64)> {
        if self.blobs.is_empty() {
            return Ok((self.ids, 0));
        }
        if let Some(q) = opts.quota {
            // Ciphertexts, tags and table; within a few bytes of what is written.
            let need: u64 = self
                .blobs
                .iter()
                .map(|b| (b.body.len() + 16 + ENTRY_LEN) as u64 + 16)
                .sum::<u64>()
                + 64;
            let used = repo.stored_bytes()?;
            if used + need > q {
                return Err(RepoError::Quota {
                    used,
                    need,
                    quota: q,
                });
            }
        }
        if opts.deferred {
            let stored = repo.append_open(&self.blobs, opts.pack_size)?;
            return Ok((self.ids, stored));
        }
        let mut builder = repo.pack_builder(opts.pack_size, Some(self.raw))?;
        for b in &self.blobs {
            builder.add(b);
        }
        let pack = builder.finish();
        repo.commit_pack(&pack)?;
        Ok((self.ids, pack.bytes.len() as u64))
    }
}

/// Blob tables of the packs a run wrote (for an index copy).
pub fn pack_tables(stats: &WriteStats) -> impl Iterator<Item = (&ObjectId, &Vec<PackEntry>)> {
    stats.packs.packs.iter()
}
