//! A file sealed while it is being written: plaintext pieces go over a bounded
//! channel to a thread running the repository's write pipeline (chunk, keyed
//! hash, compress, encrypt, pack), so when the last byte arrives most of the file
//! is already sealed and `close()` only waits for the tail.
//!
//! Dropping a sealer without [`StreamSealer::finish`] aborts it: the pipeline
//! sees its input end without the end mark and fails; packs it already published are valid, indexed,
//! and simply not referenced by the file (later writes of the same data reuse
//! them through dedup).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use crate::crypto::Wiped;
use crossbeam_channel::{Receiver, Sender, bounded};

use crate::repo::{BlobId, BlobWriter, RepoError, Repository, SealObserver, WriteOptions};

/// Pieces in flight between the writer and the pipeline (each at most one FUSE
/// write or one 1 MiB staging read), so at most a few MiB of plaintext wait.
const IN_FLIGHT: usize = 16;

enum Piece {
    Data(Wiped),
    End,
}

/// What a finished stream stored: the chunks with their plaintext lengths, the
/// plaintext length and the bytes of packs written.
pub struct Sealed {
    /// Chunk ids with plaintext lengths, in file order.
    pub chunks: Vec<(BlobId, u32)>,
    /// Plaintext bytes.
    pub size: u64,
    /// Bytes of packs written.
    pub stored: u64,
}

type Outcome = Result<Sealed, RepoError>;

/// Files streamed at once, at most: each runs a pipeline (five threads, two pack
/// buffers), so a burst of large copies must not multiply them without bound.
/// Files beyond it wait in their staging and stream once a slot frees.
pub const MAX_STREAMS: usize = 4;

/// The count of running streams, shared by a mount.
#[derive(Clone, Default)]
pub struct StreamSlots(Arc<AtomicUsize>);

impl StreamSlots {
    /// A slot if fewer than [`MAX_STREAMS`] are taken.
    pub fn take(&self) -> Option<Slot> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_STREAMS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.0.clone()))
    }

    /// Slots taken now.
    pub fn taken(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// One running stream's place; given back on drop.
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A write pipeline fed piece by piece.
pub struct StreamSealer {
    tx: Option<Sender<Piece>>,
    worker: Option<JoinHandle<Outcome>>,
    fed: u64,
    _slot: Slot,
}

impl StreamSealer {
    /// Starts the pipeline for one file (`what` names it in errors and logs),
    /// reporting chunks and published packs to `observer`.
    pub fn start(
        repo: Arc<Repository>,
        opts: WriteOptions,
        what: PathBuf,
        slot: Slot,
        observer: Arc<dyn SealObserver>,
    ) -> std::io::Result<StreamSealer> {
        let (tx, rx) = bounded(IN_FLIGHT);
        let worker = std::thread::Builder::new()
            .name("bcpvault-seal".into())
            .spawn(move || run(&repo, &opts, &what, &*observer, rx))?;
        Ok(StreamSealer {
            tx: Some(tx),
            worker: Some(worker),
            fed: 0,
            _slot: slot,
        })
    }

    /// Bytes handed over so far.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// Hands over the next piece. `false` when the pipeline has stopped (an error
    /// it will report from [`Self::finish`]); the caller then seals another way.
    pub fn feed(&mut self, data: &[u8]) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        if tx.send(Piece::Data(Wiped::new(data.to_vec()))).is_err() {
            self.tx = None;
            return false;
        }
        self.fed += data.len() as u64;
        true
    }

    /// Ends the input and waits for the pipeline: every chunk is in a published
    /// pack when this returns `Ok`.
    pub fn finish(mut self) -> Outcome {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Piece::End);
        }
        self.join()
    }

    fn join(&mut self) -> Outcome {
        match self.worker.take() {
            Some(w) => w.join().unwrap_or(Err(RepoError::PipelineStopped)),
            None => Err(RepoError::PipelineStopped),
        }
    }
}

impl Drop for StreamSealer {
    fn drop(&mut self) {
        // No End mark: the run fails, so nothing refers to what it stored.
        self.tx = None;
        if self.worker.is_some() {
            let _ = self.join();
        }
    }
}

fn run(
    repo: &Repository,
    opts: &WriteOptions,
    what: &std::path::Path,
    observer: &dyn SealObserver,
    rx: Receiver<Piece>,
) -> Outcome {
    // A channel closed without `End` is an error, so an aborted stream never
    // looks like a short file.
    let ended = std::cell::Cell::new(false);
    let pieces = rx.iter().map_while(|p| match p {
        Piece::Data(d) => Some(Ok(d)),
        Piece::End => {
            ended.set(true);
            None
        }
    });
    let ((chunks, size), stats) = BlobWriter::run_observed(repo, opts, Some(observer), |w| {
        let sealed = w.content_pieces(pieces)?;
        if !ended.get() {
            let aborted = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "aborted");
            return Err(RepoError::io(what, "write stream", aborted));
        }
        Ok(sealed)
    })?;
    Ok(Sealed {
        chunks,
        size,
        stored: stats.stored_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_given_back() {
        let slots = StreamSlots::default();
        let held: Vec<Slot> = (0..MAX_STREAMS).map(|_| slots.take().unwrap()).collect();
        assert!(slots.take().is_none(), "one more than the bound");
        drop(held);
        assert_eq!(slots.taken(), 0);
        assert!(slots.take().is_some());
    }
}
