//! Which writes of an open file can be sealed as they arrive.
//!
//! A file opened empty (new, or `O_TRUNC`) and written front to back can be
//! handed to a [`StreamSealer`] piece by piece, instead of being sealed from its
//! staging at close. Writers are not always strictly in order — Samba serves a
//! Windows client's parallel writes on several threads — so writes a little
//! ahead of the contiguous prefix wait in the staging until the gap fills. A
//! write into the prefix already handed over (a header rewritten, `pwrite` back)
//! or too much scattered data means the file is not being streamed: the stream
//! is dropped and the file is sealed from its staging at close, as before.
//!
//! Blocks the stream has sealed into published packs are released from the
//! staging (see `readback.rs`): the writer's read-back and the fallback read them
//! back from the stream's packs, so the file is not staged a second time.

use std::collections::BTreeMap;

use std::sync::Arc;

use super::readback::{Readable, StreamReadback};
use super::sealer::StreamSealer;
use super::staging::{BLOCK, SealedSource, Staging};
use crate::repo::BlobId;

/// Bytes written beyond the contiguous prefix that may wait for a gap to fill.
const AHEAD_BYTES: u64 = 64 * 1024 * 1024;
/// Separate ranges that may wait.
const AHEAD_RANGES: usize = 256;

/// What a write did to the contiguous prefix.
#[derive(Debug, PartialEq, Eq)]
pub enum Advance {
    /// The prefix now ends here (unchanged for an empty write).
    To(u64),
    /// The write is beyond a gap; it waits.
    Gap,
    /// Not a streamed file: the write went into the prefix, or too much waits.
    Broken,
}

/// The contiguous prefix `[0, end)` written since the file was emptied, and the
/// ranges written beyond it.
#[derive(Debug, Default)]
pub struct Prefix {
    end: u64,
    /// start → end of each waiting range; ranges never touch or overlap.
    ahead: BTreeMap<u64, u64>,
}

impl Prefix {
    /// Length of the contiguous prefix.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Whether nothing waits beyond the prefix.
    pub fn is_whole(&self) -> bool {
        self.ahead.is_empty()
    }

    /// Records a write of `len` bytes at `offset`.
    pub fn write(&mut self, offset: u64, len: u64) -> Advance {
        if len == 0 {
            return Advance::To(self.end);
        }
        if offset < self.end {
            return Advance::Broken;
        }
        let (mut start, mut stop) = (offset, offset + len);
        // Merge with every waiting range it touches (rewrites of waiting data are
        // fine: the staging holds the latest bytes until they are handed over).
        let touching: Vec<(u64, u64)> = self
            .ahead
            .range(..=stop)
            .rev()
            .take_while(|(_, e)| **e >= start)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in touching {
            self.ahead.remove(&s);
            start = start.min(s);
            stop = stop.max(e);
        }
        if start > self.end {
            self.ahead.insert(start, stop);
            let waiting: u64 = self.ahead.iter().map(|(s, e)| e - s).sum();
            if waiting > AHEAD_BYTES || self.ahead.len() > AHEAD_RANGES {
                return Advance::Broken;
            }
            return Advance::Gap;
        }
        self.end = stop;
        Advance::To(self.end)
    }
}

/// A file being streamed. `[0, base_len)` is sealed already (as `base`) by an
/// earlier FLUSH; once the prefix runs more than a small file past it, a sealer
/// holds `[base_len, prefix.end())`.
#[derive(Default)]
pub struct WriteStream {
    /// Contiguous prefix bookkeeping.
    pub prefix: Prefix,
    /// Chunks (with plaintext lengths) of the part sealed by earlier FLUSHes.
    pub base: Vec<(BlobId, u32)>,
    /// Plaintext length of `base`.
    pub base_len: u64,
    /// The running pipeline (`base_len + fed() == prefix.end()` between writes).
    pub sealer: Option<StreamSealer>,
    /// What the current or last pipeline sealed, for releasing staging blocks.
    pub readback: Option<Arc<StreamReadback>>,
    /// Next staging block to consider for release.
    pub next_release: usize,
}

impl WriteStream {
    /// Whether the stream has all of a file of `size` bytes, written front to
    /// back with no hole: only then can it seal the file.
    pub fn covers(&self, size: u64) -> bool {
        self.prefix.end() == size && self.prefix.is_whole()
    }

    /// Releases the staging blocks the stream has sealed since the last call, in
    /// order, stopping at the first one not sealed yet. Blocks touching a dedup
    /// hit stay staged for good; so does a block straddling the stream's origin.
    pub fn release_sealed(&mut self, staging: &mut Staging) {
        let Some(readback) = &self.readback else {
            return;
        };
        let block = BLOCK as u64;
        let source: Arc<dyn SealedSource> = readback.clone();
        self.next_release = self
            .next_release
            .max(readback.origin().div_ceil(block) as usize);
        loop {
            let start = self.next_release as u64 * block;
            match readback.readable(start, start + block) {
                Readable::Yes => staging.release(self.next_release, &source),
                Readable::Never => {}
                Readable::NotYet => return,
            }
            self.next_release += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_writes_extend_the_prefix() {
        let mut p = Prefix::default();
        assert_eq!(p.write(0, 10), Advance::To(10));
        assert_eq!(p.write(10, 5), Advance::To(15));
        assert_eq!(p.write(15, 0), Advance::To(15));
        assert!(p.is_whole());
    }

    #[test]
    fn a_write_ahead_waits_and_the_gap_joins_it() {
        let mut p = Prefix::default();
        assert_eq!(p.write(0, 10), Advance::To(10));
        assert_eq!(p.write(20, 10), Advance::Gap);
        assert_eq!(p.write(40, 5), Advance::Gap);
        assert!(!p.is_whole());
        assert_eq!(
            p.write(10, 10),
            Advance::To(30),
            "fills 10..20, joins 20..30"
        );
        assert_eq!(p.write(30, 10), Advance::To(45), "joins 40..45");
        assert!(p.is_whole());
    }

    #[test]
    fn overlapping_waiting_writes_merge() {
        let mut p = Prefix::default();
        assert_eq!(p.write(100, 50), Advance::Gap);
        assert_eq!(p.write(120, 100), Advance::Gap);
        assert_eq!(p.write(90, 10), Advance::Gap, "touches 100..220");
        assert_eq!(p.write(0, 90), Advance::To(220));
        assert!(p.is_whole());
    }

    #[test]
    fn a_write_into_the_prefix_breaks_the_stream() {
        let mut p = Prefix::default();
        p.write(0, 100);
        assert_eq!(p.write(0, 8), Advance::Broken, "header rewrite");
        let mut q = Prefix::default();
        q.write(0, 100);
        assert_eq!(q.write(99, 2), Advance::Broken, "partial overlap");
    }

    #[test]
    fn too_much_scattered_data_breaks_the_stream() {
        let mut p = Prefix::default();
        assert_eq!(p.write(1, AHEAD_BYTES), Advance::Gap);
        assert_eq!(p.write(AHEAD_BYTES + 10, 1), Advance::Broken);
        let mut q = Prefix::default();
        let mut last = Advance::Gap;
        for i in 0..=AHEAD_RANGES as u64 {
            last = q.write(10 + i * 10, 1);
        }
        assert_eq!(last, Advance::Broken);
    }
}

#[cfg(test)]
mod model {
    use super::*;

    /// Random nearby-reordered writes against a byte map of what was written.
    #[test]
    fn matches_a_byte_map_under_reordering() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _round in 0..200 {
            let total = 2000 + next(3000);
            // Cut into pieces of random sizes, then swap neighbours at random.
            let mut pieces = Vec::new();
            let mut at = 0;
            while at < total {
                let len = (1 + next(97)).min(total - at);
                pieces.push((at, len));
                at += len;
            }
            for i in 1..pieces.len() {
                if next(3) == 0 {
                    pieces.swap(i - 1, i);
                }
            }
            let mut p = Prefix::default();
            let mut written = vec![false; total as usize];
            for (off, len) in pieces {
                let r = p.write(off, len);
                written[off as usize..(off + len) as usize].fill(true);
                let want = written.iter().position(|w| !w).unwrap_or(written.len()) as u64;
                match r {
                    Advance::To(end) => assert_eq!(end, want),
                    Advance::Gap => assert_eq!(p.end(), want),
                    Advance::Broken => panic!("no piece overlaps the prefix"),
                }
            }
            assert_eq!(p.end(), total);
            assert!(p.is_whole());
        }
    }
}
