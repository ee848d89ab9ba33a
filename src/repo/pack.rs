//! Packs: many encrypted blobs in one immutable object named by its SHA-256.
//!
//! ```text
//! offset 0      "BCPK" ‖ version 1                                    5 bytes
//! 5             blob 0 ciphertext ‖ blob 1 ciphertext ‖ …             (see blob.rs)
//! H0            header ciphertext: AES-256-GCM(session key,
//!                   nonce 00000001 ‖ 0^8, aad "bcpvault/v1/pack-header",
//!                   "BCPH" ‖ u32 count ‖ count × entry)
//! E0            envelope: the session key wrapped with RSA-OAEP
//!                   (label bcpvault/v1/pack-key) to every recipient
//! end - 12      trailer: u32 header length ‖ u32 envelope length ‖ "BCPK"
//! entry (46 B): kind u8 ‖ compression u8 ‖ blob id (32) ‖ offset u32 ‖
//!               ciphertext length u32 ‖ plaintext length u32
//! ```
//! All integers are big-endian. Without a key anyone can check the pack's name
//! (its hash), magic, trailer and envelope; the blob table needs the private key.

use crate::crypto::{Envelope, SecretKey32, VaultPrivateKey, VaultPublicKey, WrapPurpose, aead};

use super::blob::{self, BlobError, Compression, PreparedBlob};
use super::id::{BlobId, BlobKind, ObjectId};
use super::keypool::WrappedKey;
use super::segpack::{self, SegmentSpan};
use super::wire::{FormatError, Wire};

/// Packs close once they reach this size (16 MiB).
pub const PACK_TARGET: usize = 16 * 1024 * 1024;
/// Bytes before the first blob.
pub const PACK_PREFIX: usize = 5;
/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 12;
/// Bytes of one header entry.
pub const ENTRY_LEN: usize = 46;
const MAGIC: &[u8; 4] = b"BCPK";
const HEADER_MAGIC: &[u8; 4] = b"BCPH";
const HEADER_AAD: &[u8] = b"bcpvault/v1/pack-header";
/// Largest number of blobs a pack may hold (a pack of minimum-size blobs is far
/// below this; a hostile header cannot claim more).
const MAX_BLOBS: usize = 1 << 20;

/// Where one blob sits in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    /// Data or tree.
    pub kind: BlobKind,
    /// How the plaintext is encoded.
    pub compression: Compression,
    /// Blob id.
    pub id: BlobId,
    /// Offset of the ciphertext from the start of the pack.
    pub offset: u32,
    /// Ciphertext length (including the 16-byte tag).
    pub length: u32,
    /// Plaintext length.
    pub raw_len: u32,
}

impl PackEntry {
    /// Appends the 46-byte encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.kind.byte());
        out.push(self.compression.byte());
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
        out.extend_from_slice(&self.raw_len.to_be_bytes());
    }

    /// Reads one entry.
    pub fn decode(w: &mut Wire<'_>) -> Result<PackEntry, FormatError> {
        let kind = w.u8()?;
        let kind = BlobKind::from_byte(kind).ok_or_else(|| w.error(format!("blob kind {kind}")))?;
        let c = w.u8()?;
        let compression =
            Compression::from_byte(c).ok_or_else(|| w.error(format!("compression {c}")))?;
        Ok(PackEntry {
            kind,
            compression,
            id: BlobId(w.array()?),
            offset: w.u32()?,
            length: w.u32()?,
            raw_len: w.u32()?,
        })
    }

    /// Position of this blob in its pack (its nonce counter).
    pub fn index_in(entries: &[PackEntry], offset: u32) -> Option<u32> {
        entries
            .iter()
            .position(|e| e.offset == offset)
            .map(|i| i as u32)
    }
}

/// A finished pack: its bytes, id and blob table.
pub struct FinishedPack {
    /// SHA-256 of `bytes`.
    pub id: ObjectId,
    /// The whole object.
    pub bytes: Vec<u8>,
    /// Blob table (also inside the encrypted header).
    pub entries: Vec<PackEntry>,
}

/// Assembles one pack; blobs are encrypted as they are added.
pub struct PackBuilder {
    key: SecretKey32,
    envelope: Vec<u8>,
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
    target: usize,
}

impl PackBuilder {
    /// A new pack whose session key is wrapped to `recipients`, closing at
    /// `target` bytes (the profile's `repository.pack_size`, default [`PACK_TARGET`]).
    ///
    /// # Errors
    /// The envelope errors of [`Envelope::seal`].
    pub fn new(
        recipients: &[&VaultPublicKey],
        target: usize,
    ) -> Result<PackBuilder, crate::crypto::CryptoError> {
        let (key, envelope) = Envelope::seal(recipients, WrapPurpose::PackKey)?;
        let envelope = envelope.to_bytes();
        Ok(PackBuilder::with_key(
            WrappedKey { key, envelope },
            target,
            None,
        ))
    }

    /// A new pack sealed with an already wrapped session key (see
    /// [`super::keypool`]), closing at `target` bytes. `expected` is the blob
    /// bytes the caller expects to add, when it knows (a small file), so the buffer
    /// is sized for the pack rather than for `target`.
    pub fn with_key(wrapped: WrappedKey, target: usize, expected: Option<usize>) -> PackBuilder {
        // Room for one maximal blob past the target plus the tail, so the buffer never
        // reallocates (a doubling would briefly hold twice the pack).
        let full = target + crate::repo::chunker::MAX_CHUNK + 256 * 1024;
        let capacity = expected.map_or(full, |n| (n + 64 * 1024).min(full));
        let mut buf = Vec::with_capacity(capacity);
        buf.extend_from_slice(MAGIC);
        buf.push(1);
        PackBuilder {
            key: wrapped.key,
            envelope: wrapped.envelope,
            buf,
            entries: Vec::new(),
            target,
        }
    }

    /// The same empty pack, built in `buf` (a written pack's buffer, holding
    /// nothing but ciphertext) instead of a fresh allocation.
    pub fn into_buffer(mut self, mut buf: Vec<u8>) -> PackBuilder {
        if !self.entries.is_empty() {
            return self;
        }
        buf.clear();
        buf.reserve(self.buf.capacity());
        buf.extend_from_slice(&self.buf);
        self.buf = buf;
        self
    }

    /// Encrypts and appends a blob.
    pub fn add(&mut self, blob: &PreparedBlob) {
        let index = self.entries.len() as u32;
        let offset = self.buf.len();
        blob::seal_into(&self.key, index, blob, &mut self.buf);
        self.entries.push(PackEntry {
            kind: blob.kind,
            compression: blob.compression,
            id: blob.id,
            offset: offset as u32,
            length: (self.buf.len() - offset) as u32,
            raw_len: blob.raw_len,
        });
    }

    /// Whether the pack has reached its target size.
    pub fn is_full(&self) -> bool {
        self.buf.len() >= self.target
    }

    /// Number of blobs so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no blob was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of blob ciphertext so far.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// A copy of the session key, for reading blobs back before the pack is
    /// indexed under the vault key (the mount's write streams; wiped on drop).
    pub(crate) fn key_copy(&self) -> SecretKey32 {
        SecretKey32::from_bytes(self.key.expose())
    }

    /// Appends header, envelope and trailer; names the pack.
    pub fn finish(mut self) -> FinishedPack {
        let mut header = Vec::with_capacity(8 + self.entries.len() * ENTRY_LEN);
        header.extend_from_slice(HEADER_MAGIC);
        header.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        for e in &self.entries {
            e.encode(&mut header);
        }
        let header_ct = aead::seal(&self.key, &header_nonce(), HEADER_AAD, &header);
        self.buf.extend_from_slice(&header_ct);
        self.buf.extend_from_slice(&self.envelope);
        self.buf
            .extend_from_slice(&(header_ct.len() as u32).to_be_bytes());
        self.buf
            .extend_from_slice(&(self.envelope.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(MAGIC);
        FinishedPack {
            id: ObjectId::of(&self.buf),
            bytes: self.buf,
            entries: self.entries,
        }
    }
}

fn header_nonce() -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3] = 1;
    n
}

/// The parts of a pack readable without a key.
#[derive(Debug, Clone)]
pub struct PackLayout {
    /// The wrapped session key.
    pub envelope: Envelope,
    tables: Tables,
}

impl PackLayout {
    /// Where a version-1 pack's blob area ends and its header starts (`None`
    /// for a segmented pack).
    pub fn header_offset(&self) -> Option<usize> {
        match self.tables {
            Tables::Header { offset, .. } => Some(offset),
            Tables::Segments(_) => None,
        }
    }

    /// The pack's segments (empty for a version-1 pack).
    pub fn segments(&self) -> &[SegmentSpan] {
        match &self.tables {
            Tables::Header { .. } => &[],
            Tables::Segments(spans) => spans,
        }
    }
}

/// Where a pack keeps its encrypted blob table(s).
#[derive(Debug, Clone)]
enum Tables {
    /// Version 1: one header after the blob area.
    Header { offset: usize, len: usize },
    /// Version 2: one table per segment (`segpack.rs`).
    Segments(Vec<SegmentSpan>),
}

/// Parses the keyless structure of a whole pack: magic, version, envelope and
/// where the encrypted tables are (version 1, or 2 in `segpack.rs`).
pub fn layout(pack: &[u8]) -> Result<PackLayout, FormatError> {
    if pack.len() > PACK_PREFIX && pack[..4] == *MAGIC && pack[4] == 2 {
        let (envelope, spans) = segpack::layout(pack)?;
        return Ok(PackLayout {
            envelope,
            tables: Tables::Segments(spans),
        });
    }
    let fmt = "pack";
    let err = |offset, problem: String| FormatError {
        format: fmt,
        offset,
        problem,
    };
    if pack.len() < PACK_PREFIX + TRAILER_LEN {
        return Err(err(
            0,
            format!("{} bytes is too short for a pack", pack.len()),
        ));
    }
    let mut w = Wire::new(pack, fmt);
    w.magic(MAGIC)?;
    w.version(1)?;
    let t = pack.len() - TRAILER_LEN;
    let mut tw = Wire::new(&pack[t..], "pack trailer");
    let header_len = tw.u32()? as usize;
    let env_len = tw.u32()? as usize;
    tw.magic(MAGIC)?;
    let tail = header_len
        .checked_add(env_len)
        .filter(|&n| n <= t - PACK_PREFIX)
        .ok_or_else(|| err(t, "header and envelope lengths exceed the pack".into()))?;
    let header_offset = t - tail;
    let envelope = Envelope::from_bytes(&pack[header_offset + header_len..t])
        .map_err(|e| err(header_offset + header_len, format!("envelope: {e}")))?;
    if header_len < 8 + 16 {
        return Err(err(header_offset, "header too short".into()));
    }
    Ok(PackLayout {
        envelope,
        tables: Tables::Header {
            offset: header_offset,
            len: header_len,
        },
    })
}

/// Errors opening a pack with the private key.
#[derive(Debug, thiserror::Error)]
pub enum PackOpenError {
    /// Structure is wrong.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The session key does not unwrap with this private key.
    #[error("the pack's session key does not open with this vault key: {0}")]
    Key(crate::crypto::CryptoError),
    /// The header fails authentication.
    #[error("the pack header failed authentication")]
    Header,
    /// A blob fails to open.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// An opened pack: session key and blob table.
pub struct OpenedPack {
    /// The session key (wiped on drop).
    pub key: SecretKey32,
    /// The blob table in blob order.
    pub entries: Vec<PackEntry>,
}

/// Unwraps the session key and decrypts the blob table.
pub fn open(pack: &[u8], sk: &VaultPrivateKey) -> Result<OpenedPack, PackOpenError> {
    let l = layout(pack)?;
    let key = l
        .envelope
        .open(sk, WrapPurpose::PackKey)
        .map_err(PackOpenError::Key)?;
    let entries = match &l.tables {
        Tables::Header { offset, len } => {
            let header_ct = &pack[*offset..offset + len];
            let header = aead::open(&key, &header_nonce(), HEADER_AAD, header_ct)
                .map_err(|_| PackOpenError::Header)?;
            parse_header(header.expose(), *offset)?
        }
        Tables::Segments(spans) => segpack::open_tables(pack, &key, spans)?,
    };
    Ok(OpenedPack { key, entries })
}

/// Parses a decrypted header and checks that entries tile the blob area.
pub fn parse_header(header: &[u8], blob_end: usize) -> Result<Vec<PackEntry>, FormatError> {
    let mut w = Wire::new(header, "pack header");
    w.magic(HEADER_MAGIC)?;
    let n = w.count(MAX_BLOBS, ENTRY_LEN)?;
    let mut entries = Vec::with_capacity(n);
    let end = decode_tiling(&mut w, n, PACK_PREFIX, &mut entries)?;
    w.finish()?;
    if end != blob_end as u64 {
        return Err(w.error("blob table does not cover the blob area"));
    }
    Ok(entries)
}

/// Reads `n` entries that lie back to back from offset `start` (each at least
/// a tag long) onto `out`; returns where the last one ends. Both pack versions
/// check their tables this way.
pub(crate) fn decode_tiling(
    w: &mut Wire<'_>,
    n: usize,
    start: usize,
    out: &mut Vec<PackEntry>,
) -> Result<u64, FormatError> {
    let mut at = start as u64;
    for _ in 0..n {
        let e = PackEntry::decode(w)?;
        if u64::from(e.offset) != at || e.length < 16 {
            return Err(w.error(format!("blob {} is not where the table says", e.id.short())));
        }
        at += u64::from(e.length);
        out.push(e);
    }
    Ok(at)
}

impl OpenedPack {
    /// Decrypts blob number `index` whose ciphertext is `ct`.
    pub fn blob(&self, index: usize, ct: &[u8]) -> Result<crate::crypto::SecretBytes, BlobError> {
        let e = &self.entries[index];
        blob::open(
            &self.key,
            index as u32,
            e.kind,
            &e.id,
            e.compression,
            e.raw_len,
            ct,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::blob::prepare;

    fn key() -> &'static VaultPrivateKey {
        static KEY: std::sync::OnceLock<VaultPrivateKey> = std::sync::OnceLock::new();
        KEY.get_or_init(|| VaultPrivateKey::generate(2048).unwrap())
    }

    #[test]
    fn build_then_open_every_blob() {
        let sk = key();
        let pk = sk.public_key();
        let mut b = PackBuilder::new(&[&pk], PACK_TARGET).unwrap();
        let blobs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 1000 * (i as usize + 1)]).collect();
        for (i, data) in blobs.iter().enumerate() {
            b.add(&prepare(
                BlobKind::Data,
                BlobId([i as u8; 32]),
                data.clone(),
                3,
            ));
        }
        let p = b.finish();
        assert_eq!(p.id, ObjectId::of(&p.bytes));
        let opened = open(&p.bytes, sk).unwrap();
        assert_eq!(opened.entries, p.entries);
        for (i, e) in opened.entries.iter().enumerate() {
            let ct = &p.bytes[e.offset as usize..(e.offset + e.length) as usize];
            assert_eq!(opened.blob(i, ct).unwrap().expose(), &blobs[i][..]);
        }
    }

    #[test]
    fn a_pack_built_in_a_reused_buffer_holds_nothing_of_the_old_bytes() {
        let sk = key();
        let pk = sk.public_key();
        let old = vec![0xAA; 4096];
        let mut b = PackBuilder::new(&[&pk], PACK_TARGET)
            .unwrap()
            .into_buffer(old);
        b.add(&prepare(
            BlobKind::Data,
            BlobId([9; 32]),
            b"memo".to_vec(),
            3,
        ));
        let p = b.finish();
        assert_eq!(&p.bytes[..5], b"BCPK\x01");
        let opened = open(&p.bytes, sk).unwrap();
        let e = opened.entries[0];
        let ct = &p.bytes[e.offset as usize..(e.offset + e.length) as usize];
        assert_eq!(opened.blob(0, ct).unwrap().expose(), b"memo");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let pk = key().public_key();
        let mut b = PackBuilder::new(&[&pk], PACK_TARGET).unwrap();
        b.add(&prepare(
            BlobKind::Tree,
            BlobId([1; 32]),
            b"tree".to_vec(),
            3,
        ));
        let p = b.finish();
        for n in 0..p.bytes.len() {
            assert!(open(&p.bytes[..n], key()).is_err());
        }
    }
}
