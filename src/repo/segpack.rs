//! Segmented packs (pack format version 2): a pack written as a log of segments,
//! each complete in itself, so the pack is valid after every segment.
//!
//! The mounted drive seals many small files into one pack this way: each FLUSH
//! appends one segment with a single `write(2)`, and if the daemon dies before the
//! pack is closed, the pack can still be finished without its session key (the
//! key lived only in memory): truncate it after the last whole segment and name
//! it. A version-1 pack cannot be: its one header is encrypted at the end.
//!
//! ```text
//! offset 0   "BCPK" ‖ version 2 ‖ u32 E ‖ envelope (E bytes)
//! 9 + E      segment 0 ‖ segment 1 ‖ … ‖ segment S-1          (S ≥ 1)
//! segment s  blob ciphertexts (as in v1: nonce 00000000 ‖ u64 position in pack)
//!            ‖ table ciphertext = AES-256-GCM(session key,
//!                  nonce 00000002 ‖ u64 s,
//!                  aad "bcpvault/v2/pack-segment" ‖ u32 s ‖ u32 B,
//!                  "BCPS" ‖ u32 first position ‖ u32 n ‖ n × entry)
//!            ‖ trailer: u32 s ‖ u32 B ‖ u32 T ‖ "BCPS"              (16 bytes)
//! ```
//! B is the segment's blob bytes, T its table ciphertext length; entries (46
//! bytes, as in v1, offsets from the pack's first byte) tile the segment's blob
//! area, and first positions count the blobs of the segments before. Without a
//! key anyone can walk the trailers back from the end to the envelope.

use std::ops::Range;

use crate::crypto::{Envelope, SecretKey32, aead};

use super::blob::{self, PreparedBlob};
use super::keypool::WrappedKey;
use super::pack::{ENTRY_LEN, PackEntry, PackOpenError, decode_tiling};
use super::wire::{FormatError, Wire};

const MAGIC: &[u8; 4] = b"BCPK";
const SEGMENT_MAGIC: &[u8; 4] = b"BCPS";
const TABLE_AAD: &[u8] = b"bcpvault/v2/pack-segment";
/// Bytes of a segment trailer.
pub const SEGMENT_TRAILER: usize = 16;
/// Smallest table ciphertext: magic, position, count, tag.
const MIN_TABLE: usize = 12 + 16;
/// Largest number of blobs one segment may list.
const MAX_SEGMENT_BLOBS: usize = 1 << 20;

fn table_nonce(segment: u32) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3] = 2;
    n[4..].copy_from_slice(&u64::from(segment).to_be_bytes());
    n
}

fn table_aad(segment: u32, blob_bytes: u32) -> Vec<u8> {
    let mut aad = TABLE_AAD.to_vec();
    aad.extend_from_slice(&segment.to_be_bytes());
    aad.extend_from_slice(&blob_bytes.to_be_bytes());
    aad
}

/// The writer of one segmented pack. It only produces bytes: where they go
/// (an append-only file) is the caller's business.
pub struct SegmentWriter {
    key: SecretKey32,
    len: usize,
    blobs: u32,
    segments: u32,
}

impl SegmentWriter {
    /// Starts a pack with an already wrapped session key; returns the writer
    /// and the pack's first bytes (magic, version, envelope).
    pub fn start(wrapped: WrappedKey) -> (SegmentWriter, Vec<u8>) {
        let mut prefix = Vec::with_capacity(9 + wrapped.envelope.len());
        prefix.extend_from_slice(MAGIC);
        prefix.push(2);
        prefix.extend_from_slice(&(wrapped.envelope.len() as u32).to_be_bytes());
        prefix.extend_from_slice(&wrapped.envelope);
        let w = SegmentWriter {
            key: wrapped.key,
            len: prefix.len(),
            blobs: 0,
            segments: 0,
        };
        (w, prefix)
    }

    /// Bytes of the pack so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no segment was written yet.
    pub fn is_empty(&self) -> bool {
        self.segments == 0
    }

    /// Encrypts `blobs` (at least one) into the next segment; returns its bytes
    /// (to append right after the pack so far) and its table.
    pub fn segment(&mut self, blobs: &[PreparedBlob]) -> (Vec<u8>, Vec<PackEntry>) {
        let body: usize = blobs.iter().map(|b| b.body.len() + 16 + 64).sum();
        let mut out = Vec::with_capacity(body + blobs.len() * ENTRY_LEN + 64);
        let mut entries = Vec::with_capacity(blobs.len());
        let first = self.blobs;
        for b in blobs {
            let at = out.len();
            blob::seal_into(&self.key, self.blobs, b, &mut out);
            entries.push(PackEntry {
                kind: b.kind,
                compression: b.compression,
                id: b.id,
                offset: (self.len + at) as u32,
                length: (out.len() - at) as u32,
                raw_len: b.raw_len,
            });
            self.blobs += 1;
        }
        let blob_bytes = out.len() as u32;
        let mut table = Vec::with_capacity(12 + entries.len() * ENTRY_LEN);
        table.extend_from_slice(SEGMENT_MAGIC);
        table.extend_from_slice(&first.to_be_bytes());
        table.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for e in &entries {
            e.encode(&mut table);
        }
        let s = self.segments;
        let aad = table_aad(s, blob_bytes);
        let before = out.len();
        aead::seal_append(&self.key, &table_nonce(s), &aad, &table, &mut out);
        let table_len = (out.len() - before) as u32;
        out.extend_from_slice(&s.to_be_bytes());
        out.extend_from_slice(&blob_bytes.to_be_bytes());
        out.extend_from_slice(&table_len.to_be_bytes());
        out.extend_from_slice(SEGMENT_MAGIC);
        self.segments += 1;
        self.len += out.len();
        (out, entries)
    }
}

/// Where one segment's parts are in the pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSpan {
    /// Segment number.
    pub number: u32,
    /// Its blob ciphertexts.
    pub blobs: Range<usize>,
    /// Its encrypted table.
    pub table: Range<usize>,
}

/// The keyless structure of a version-2 pack: envelope and segments in order.
pub fn layout(pack: &[u8]) -> Result<(Envelope, Vec<SegmentSpan>), FormatError> {
    let fmt = "pack";
    let err = |offset, problem: String| FormatError {
        format: fmt,
        offset,
        problem,
    };
    let mut w = Wire::new(pack, fmt);
    w.magic(MAGIC)?;
    w.version(2)?;
    let env_len = w.u32()? as usize;
    let start = 9usize
        .checked_add(env_len)
        .filter(|&n| n <= pack.len())
        .ok_or_else(|| err(5, format!("envelope length {env_len} exceeds the pack")))?;
    let envelope =
        Envelope::from_bytes(&pack[9..start]).map_err(|e| err(9, format!("envelope: {e}")))?;
    let mut spans = Vec::new();
    let mut end = pack.len();
    let mut expect: Option<u32> = None;
    while end > start {
        if end - start < SEGMENT_TRAILER {
            return Err(err(start, "bytes before the first segment trailer".into()));
        }
        let t = end - SEGMENT_TRAILER;
        let mut tw = Wire::new(&pack[t..end], "pack segment trailer");
        let number = tw.u32()?;
        let blob_bytes = tw.u32()? as usize;
        let table_len = tw.u32()? as usize;
        tw.magic(SEGMENT_MAGIC)?;
        if expect.is_some_and(|n| n != number) {
            return Err(err(t, format!("segment {number} where {expect:?} belongs")));
        }
        if table_len < MIN_TABLE || blob_bytes < 16 {
            return Err(err(t, format!("segment {number} is too short")));
        }
        let begin = blob_bytes
            .checked_add(table_len)
            .filter(|&n| n <= t - start)
            .map(|n| t - n)
            .ok_or_else(|| err(t, format!("segment {number} runs before the envelope")))?;
        spans.push(SegmentSpan {
            number,
            blobs: begin..begin + blob_bytes,
            table: begin + blob_bytes..t,
        });
        end = begin;
        expect = Some(number.checked_sub(1).unwrap_or(u32::MAX));
    }
    match spans.last() {
        Some(first) if first.number == 0 => {}
        Some(first) => return Err(err(start, format!("first segment is {}", first.number))),
        None => return Err(err(start, "a pack without segments".into())),
    }
    spans.reverse();
    Ok((envelope, spans))
}

/// Decrypts every segment table (with the unwrapped session key) and returns
/// the blob table of the whole pack, in position order.
pub fn open_tables(
    pack: &[u8],
    key: &SecretKey32,
    spans: &[SegmentSpan],
) -> Result<Vec<PackEntry>, PackOpenError> {
    let mut entries: Vec<PackEntry> = Vec::new();
    for s in spans {
        let aad = table_aad(s.number, s.blobs.len() as u32);
        let table = aead::open(key, &table_nonce(s.number), &aad, &pack[s.table.clone()])
            .map_err(|_| PackOpenError::Header)?;
        let mut w = Wire::new(table.expose(), "pack segment table");
        w.magic(SEGMENT_MAGIC)?;
        let first = w.u32()?;
        if first as usize != entries.len() {
            return Err(w
                .error(format!("segment {} starts at blob {first}", s.number))
                .into());
        }
        let n = w.count(MAX_SEGMENT_BLOBS, ENTRY_LEN)?;
        if n == 0 {
            return Err(w
                .error(format!("segment {} lists no blob", s.number))
                .into());
        }
        let at = decode_tiling(&mut w, n, s.blobs.start, &mut entries)?;
        w.finish()?;
        if at != s.blobs.end as u64 {
            let problem = format!("segment {} table does not cover its blob area", s.number);
            return Err(w.error(problem).into());
        }
    }
    Ok(entries)
}
