//! Content-defined chunking (FastCDC 2020) with the vault's secret gear seed.
//!
//! The chunker is push-based: callers hand it bytes as they arrive (a file read in
//! pieces by `backup`, or `write()` calls through the mount) and receive complete
//! chunks. It holds at most [`MAX_CHUNK`] bytes, so memory stays bounded whatever
//! the file size. Boundaries depend only on content and seed, so an insertion
//! shifts at most the chunks around it — that is what makes dedup survive edits.

use fastcdc::v2020::{FastCDC, Normalization};

/// Smallest chunk (except a file's last one): 256 KiB.
pub const MIN_CHUNK: usize = 256 * 1024;
/// Target average chunk: 1 MiB.
pub const AVG_CHUNK: usize = 1024 * 1024;
/// Largest chunk: 4 MiB.
pub const MAX_CHUNK: usize = 4 * 1024 * 1024;

/// Splits a byte stream into content-defined chunks.
pub struct Chunker {
    seed: u64,
    /// `buf[start..]` is pending (at most [`MAX_CHUNK`] after each push); the
    /// bytes before `start` are emitted chunks not yet compacted away.
    buf: Vec<u8>,
    start: usize,
}

impl Chunker {
    /// A chunker keyed with the vault's gear seed.
    pub fn new(seed: u64) -> Chunker {
        Chunker {
            seed,
            // Twice the window, so pending bytes move to the front only about
            // once per window of input instead of after every chunk.
            buf: Vec::with_capacity(2 * MAX_CHUNK),
            start: 0,
        }
    }

    /// Adds `data`; calls `emit` for every chunk that is now complete.
    pub fn push<E>(
        &mut self,
        mut data: &[u8],
        emit: &mut impl FnMut(Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        while !data.is_empty() {
            let room = MAX_CHUNK - self.pending();
            let take = room.min(data.len());
            if self.buf.len() + take > self.buf.capacity() {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            // A cut is final only once a whole maximal chunk lies ahead of it;
            // with less buffered, more data could move the cut point.
            while self.pending() >= MAX_CHUNK {
                let cut = self.cut(&self.buf[self.start..self.start + MAX_CHUNK]);
                self.emit_front(cut, emit)?;
            }
        }
        Ok(())
    }

    /// Flushes what is left as the final chunks (none for an empty stream).
    pub fn finish<E>(mut self, emit: &mut impl FnMut(Vec<u8>) -> Result<(), E>) -> Result<(), E> {
        while self.pending() > 0 {
            let pending = self.pending();
            let cut = if pending <= MIN_CHUNK {
                pending
            } else {
                let window = pending.min(MAX_CHUNK);
                self.cut(&self.buf[self.start..self.start + window])
            };
            self.emit_front(cut, emit)?;
        }
        Ok(())
    }

    /// Bytes buffered but not yet emitted.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    fn cut(&self, window: &[u8]) -> usize {
        let cdc = FastCDC::with_level_and_seed(
            window,
            MIN_CHUNK as u32,
            AVG_CHUNK as u32,
            MAX_CHUNK as u32,
            Normalization::Level1,
            self.seed,
        );
        let (_, end) = cdc.cut(0, window.len());
        end.clamp(1, window.len())
    }

    fn emit_front<E>(
        &mut self,
        cut: usize,
        emit: &mut impl FnMut(Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        // Copy out exactly the chunk and keep the one buffer: handing the buffer
        // itself on would pin MAX_CHUNK of touched memory per chunk in flight.
        let chunk = self.buf[self.start..self.start + cut].to_vec();
        self.start += cut;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        emit(chunk)
    }
}

/// Chunks a whole buffer at once (tests and small inputs).
pub fn chunk_all(seed: u64, data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunker = Chunker::new(seed);
    let mut emit = |c: Vec<u8>| -> Result<(), ()> {
        out.push(c);
        Ok(())
    };
    let _ = chunker.push(data, &mut emit);
    let _ = chunker.finish(&mut emit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, mut state: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn sizes_respect_the_bounds_and_concatenate_back() {
        let data = noise(20 * 1024 * 1024, 7);
        let chunks = chunk_all(42, &data);
        assert!(chunks.len() > 5, "{} chunks", chunks.len());
        for c in &chunks[..chunks.len() - 1] {
            assert!(c.len() >= MIN_CHUNK && c.len() <= MAX_CHUNK, "{}", c.len());
        }
        assert_eq!(chunks.concat(), data);
    }

    #[test]
    fn piecewise_pushes_give_the_same_chunks() {
        let data = noise(9 * 1024 * 1024 + 17, 3);
        let whole = chunk_all(5, &data);
        let mut pieces = Vec::new();
        let mut chunker = Chunker::new(5);
        let mut emit = |c: Vec<u8>| -> Result<(), ()> {
            pieces.push(c);
            Ok(())
        };
        for part in data.chunks(100_003) {
            chunker.push(part, &mut emit).unwrap();
        }
        chunker.finish(&mut emit).unwrap();
        assert_eq!(pieces, whole);
    }

    #[test]
    fn small_and_empty_inputs() {
        assert!(chunk_all(1, b"").is_empty());
        assert_eq!(chunk_all(1, b"tiny"), vec![b"tiny".to_vec()]);
    }

    #[test]
    fn the_seed_moves_boundaries() {
        let data = noise(16 * 1024 * 1024, 9);
        let a: Vec<usize> = chunk_all(1, &data).iter().map(Vec::len).collect();
        let b: Vec<usize> = chunk_all(2, &data).iter().map(Vec::len).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn an_insertion_changes_few_chunks() {
        let data = noise(16 * 1024 * 1024, 11);
        let mut edited = data.clone();
        edited.splice(8_000_000..8_000_000, b"inserted".iter().copied());
        let a = chunk_all(3, &data);
        let b = chunk_all(3, &edited);
        let shared = b.iter().filter(|c| a.contains(c)).count();
        assert!(shared + 3 >= b.len(), "{shared} of {} shared", b.len());
    }
}
