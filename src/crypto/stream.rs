//! Chunked streaming AEAD (the STREAM construction, as in age), with random
//! access for reading.
//!
//! Byte format (see `docs/format.md` §3):
//!
//! | offset | size  | field                                          |
//! |--------|-------|------------------------------------------------|
//! | 0      | 4     | magic `BCPS`                                   |
//! | 4      | 1     | version `0x01`                                 |
//! | 5      | 7     | nonce prefix (random per stream)               |
//! | 12     | …     | chunks: `ct || tag(16)`, 65,536 + 16 bytes each; the last one 16..=65,552 |
//!
//! Chunk `i` is AES-256-GCM with nonce `prefix(7) || u32 BE i || flag`, where
//! `flag` is `0x01` for the final chunk and `0x00` otherwise, and associated data
//! `header(12) || object_id`. The final chunk is non-empty unless the whole
//! plaintext is empty (then it is the only chunk, 16 bytes of tag), so the
//! chunk layout follows from the ciphertext length alone.
//!
//! What each piece defends against: the counter stops reordering and dropping;
//! the final flag stops truncation at a chunk boundary and appending; the header
//! in the AAD stops splicing chunks between streams under one key (different
//! prefix); the object id in the AAD stops swapping whole streams between
//! objects. A random 56-bit prefix makes nonce reuse across streams under one
//! key unlikely (callers use a fresh key per object anyway).

use std::io::{self, Read, Seek, SeekFrom, Write};

use aes_gcm::{AeadInOut, Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::aead::{TAG_LEN, cipher};
use super::error::CryptoError;
use super::secret::{SecretKey32, random_bytes};

/// Plaintext bytes per chunk (every chunk but the last holds exactly this many).
pub const STREAM_CHUNK: usize = 64 * 1024;

/// Length of the stream header (magic, version, nonce prefix).
pub const STREAM_HEADER_LEN: usize = 12;

const MAGIC: &[u8; 4] = b"BCPS";
const VERSION: u8 = 1;
const PREFIX_LEN: usize = 7;
const FORMAT: &str = "stream header";
/// Ciphertext bytes of a full chunk.
const CT_CHUNK: u64 = (STREAM_CHUNK + TAG_LEN) as u64;
const PT_CHUNK: u64 = STREAM_CHUNK as u64;

/// Total encrypted size of a stream holding `plaintext_len` bytes.
pub fn encrypted_len(plaintext_len: u64) -> u64 {
    let chunks = plaintext_len.div_ceil(PT_CHUNK).max(1);
    STREAM_HEADER_LEN as u64 + plaintext_len + chunks * TAG_LEN as u64
}

/// Chunk layout of a stream body, derived from its length alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Number of chunks (at least 1).
    chunks: u64,
    /// Ciphertext length of the last chunk, in `1..=CT_CHUNK`; below
    /// `TAG_LEN` the stream cannot be valid.
    last_ct_len: u64,
}

impl Layout {
    /// `None` for an empty body (no final chunk at all).
    fn of_body(body_len: u64) -> Option<Layout> {
        if body_len == 0 {
            return None;
        }
        let chunks = body_len.div_ceil(CT_CHUNK);
        Some(Layout {
            chunks,
            last_ct_len: body_len - (chunks - 1) * CT_CHUNK,
        })
    }

    fn last_index(&self) -> u64 {
        self.chunks - 1
    }

    fn ct_len(&self, index: u64) -> u64 {
        if index == self.last_index() {
            self.last_ct_len
        } else {
            CT_CHUNK
        }
    }

    /// Plaintext length, valid once the last chunk is at least a tag long.
    fn plaintext_len(&self) -> u64 {
        self.last_index() * PT_CHUNK + self.last_ct_len.saturating_sub(TAG_LEN as u64)
    }

    /// Offset of chunk `index` from the start of the stream (header included).
    fn chunk_offset(index: u64) -> u64 {
        STREAM_HEADER_LEN as u64 + index * CT_CHUNK
    }
}

fn chunk_nonce(
    prefix: &[u8; PREFIX_LEN],
    index: u64,
    last: bool,
) -> Result<Nonce<aes_gcm::aead::consts::U12>, CryptoError> {
    let counter = u32::try_from(index).map_err(|_| CryptoError::StreamTooLong)?;
    let mut n = [0u8; 12];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Ok(Nonce::from(n))
}

fn header_bytes(prefix: &[u8; PREFIX_LEN]) -> [u8; STREAM_HEADER_LEN] {
    let mut h = [0u8; STREAM_HEADER_LEN];
    h[..4].copy_from_slice(MAGIC);
    h[4] = VERSION;
    h[5..].copy_from_slice(prefix);
    h
}

/// The associated data of every chunk: the header, then the object id. The
/// header has a fixed length, so the concatenation is unambiguous.
fn chunk_aad(header: &[u8; STREAM_HEADER_LEN], object_id: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(STREAM_HEADER_LEN + object_id.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(object_id);
    aad
}

/// Encrypts a byte stream into the chunked format. Buffers at most one chunk.
///
/// Call [`StreamWriter::finish`]: a writer dropped without it leaves a stream
/// without a final chunk, which readers reject as truncated.
pub struct StreamWriter<W: Write> {
    inner: W,
    cipher: Aes256Gcm,
    prefix: [u8; PREFIX_LEN],
    aad: Vec<u8>,
    /// Pending plaintext (at most one chunk); encrypted in place when flushed.
    buf: Zeroizing<Vec<u8>>,
    next_index: u64,
    /// Set after a failed chunk write; the stream can no longer be completed.
    poisoned: bool,
}

impl<W: Write> StreamWriter<W> {
    /// Starts a stream for `object_id` under `key`, writing the header to `inner`.
    ///
    /// # Errors
    /// I/O errors from writing the header.
    pub fn new(mut inner: W, key: &SecretKey32, object_id: &[u8]) -> io::Result<Self> {
        let prefix: [u8; PREFIX_LEN] = random_bytes();
        let header = header_bytes(&prefix);
        inner.write_all(&header)?;
        Ok(Self {
            inner,
            cipher: cipher(key),
            prefix,
            aad: chunk_aad(&header, object_id),
            buf: Zeroizing::new(Vec::with_capacity(STREAM_CHUNK + TAG_LEN)),
            next_index: 0,
            poisoned: false,
        })
    }

    fn check_poisoned(&self) -> io::Result<()> {
        if self.poisoned {
            return Err(io::Error::other(
                "encrypted stream writer failed earlier; the stream is incomplete",
            ));
        }
        Ok(())
    }

    /// Encrypts the buffered plaintext as chunk `next_index` and writes it.
    fn emit_chunk(&mut self, last: bool) -> io::Result<()> {
        self.poisoned = true;
        let nonce =
            chunk_nonce(&self.prefix, self.next_index, last).map_err(CryptoError::into_io)?;
        self.cipher
            .encrypt_in_place(&nonce, &self.aad, &mut *self.buf)
            .map_err(|_| CryptoError::StreamTooLong.into_io())?;
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.next_index += 1;
        self.poisoned = false;
        Ok(())
    }

    /// Writes the final chunk, flushes, and returns the inner writer.
    ///
    /// # Errors
    /// I/O errors, or a `CryptoError` inside the `io::Error` (see
    /// [`CryptoError::from_io`]).
    pub fn finish(mut self) -> io::Result<W> {
        self.check_poisoned()?;
        self.emit_chunk(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for StreamWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_poisoned()?;
        let mut rest = data;
        while !rest.is_empty() {
            // A full buffer is only known to be non-final once more data arrives.
            if self.buf.len() == STREAM_CHUNK {
                self.emit_chunk(false)?;
            }
            let take = (STREAM_CHUNK - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        Ok(data.len())
    }

    /// Flushes the inner writer. Buffered plaintext stays buffered: a partial
    /// chunk cannot be written before it is known whether it is the last.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts a stream written by [`StreamWriter`], with random access.
///
/// The stream runs from the inner reader's position at [`StreamReader::new`]
/// to its end. `new` authenticates the final chunk, so the length reported by
/// [`StreamReader::plaintext_len`] is trustworthy; every other chunk is
/// decrypted (and authenticated) when first read, one chunk at a time.
pub struct StreamReader<R: Read + Seek> {
    inner: R,
    base: u64,
    cipher: Aes256Gcm,
    prefix: [u8; PREFIX_LEN],
    aad: Vec<u8>,
    layout: Layout,
    pos: u64,
    /// Index of the chunk currently decrypted in `plain`.
    cached: Option<u64>,
    plain: Zeroizing<Vec<u8>>,
    ct: Vec<u8>,
}

impl<R: Read + Seek> StreamReader<R> {
    /// Opens the stream for `object_id` under `key`: parses the header, derives
    /// the chunk layout from the length, and authenticates the final chunk.
    ///
    /// # Errors
    /// I/O errors; or, inside the `io::Error` (see [`CryptoError::from_io`]):
    /// [`CryptoError::TooShort`], [`CryptoError::BadMagic`],
    /// [`CryptoError::UnsupportedVersion`], [`CryptoError::StreamTruncated`],
    /// [`CryptoError::StreamTrailingData`], [`CryptoError::StreamChunkAuth`],
    /// [`CryptoError::StreamTooLong`].
    pub fn new(mut inner: R, key: &SecretKey32, object_id: &[u8]) -> io::Result<Self> {
        let base = inner.stream_position()?;
        let mut header = [0u8; STREAM_HEADER_LEN];
        let got = read_up_to(&mut inner, &mut header)?;
        if got < STREAM_HEADER_LEN {
            return Err(CryptoError::TooShort {
                format: FORMAT,
                needed: STREAM_HEADER_LEN,
                found: got,
            }
            .into_io());
        }
        if &header[..4] != MAGIC {
            return Err(CryptoError::BadMagic { format: FORMAT }.into_io());
        }
        if header[4] != VERSION {
            return Err(CryptoError::UnsupportedVersion {
                format: FORMAT,
                version: header[4],
            }
            .into_io());
        }
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&header[5..]);
        let end = inner.seek(SeekFrom::End(0))?;
        let body_len = end
            .checked_sub(base + STREAM_HEADER_LEN as u64)
            .ok_or_else(|| CryptoError::StreamTruncated.into_io())?;
        let layout =
            Layout::of_body(body_len).ok_or_else(|| CryptoError::StreamTruncated.into_io())?;
        if layout.last_index() > u64::from(u32::MAX) {
            return Err(CryptoError::StreamTooLong.into_io());
        }
        let mut reader = Self {
            inner,
            base,
            cipher: cipher(key),
            prefix,
            aad: chunk_aad(&header, object_id),
            layout,
            pos: 0,
            cached: None,
            plain: Zeroizing::new(Vec::with_capacity(STREAM_CHUNK + TAG_LEN)),
            ct: Vec::with_capacity(STREAM_CHUNK + TAG_LEN),
        };
        reader.verify_final_chunk()?;
        Ok(reader)
    }

    /// Authenticates the last chunk as final; on failure, works out whether the
    /// stream was truncated, extended, or modified.
    fn verify_final_chunk(&mut self) -> io::Result<()> {
        let last = self.layout.last_index();
        if self.layout.last_ct_len >= TAG_LEN as u64 {
            self.read_ct(last, self.layout.last_ct_len)?;
            if self.try_decrypt(last, true)? {
                self.cached = Some(last);
                return Ok(());
            }
            // A whole chunk that authenticates as non-final: the final chunk was cut off.
            if self.layout.last_ct_len == CT_CHUNK && self.try_decrypt(last, false)? {
                return Err(CryptoError::StreamTruncated.into_io());
            }
        }
        // The previous (whole) chunk authenticates as final: bytes were appended.
        if last > 0 {
            self.read_ct(last - 1, CT_CHUNK)?;
            if self.try_decrypt(last - 1, true)? {
                return Err(CryptoError::StreamTrailingData.into_io());
            }
        }
        if self.layout.last_ct_len < TAG_LEN as u64 {
            return Err(CryptoError::StreamTruncated.into_io());
        }
        Err(CryptoError::StreamChunkAuth { index: last }.into_io())
    }

    /// Reads chunk `index`'s ciphertext (`len` bytes) into `self.ct`.
    fn read_ct(&mut self, index: u64, len: u64) -> io::Result<()> {
        self.cached = None;
        self.inner
            .seek(SeekFrom::Start(self.base + Layout::chunk_offset(index)))?;
        // `len` <= CT_CHUNK, so it fits in usize.
        self.ct.resize(len as usize, 0);
        match self.inner.read_exact(&mut self.ct) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                // The inner data shrank after `new` measured it.
                Err(CryptoError::StreamTruncated.into_io())
            }
            other => other,
        }
    }

    /// Decrypts `self.ct` as chunk `index` into `self.plain`; `Ok(false)` if
    /// authentication fails (then `self.plain` holds nothing usable).
    fn try_decrypt(&mut self, index: u64, last: bool) -> io::Result<bool> {
        let nonce = chunk_nonce(&self.prefix, index, last).map_err(CryptoError::into_io)?;
        self.plain.clear();
        self.plain.extend_from_slice(&self.ct);
        let ok = self
            .cipher
            .decrypt_in_place(&nonce, &self.aad, &mut *self.plain)
            .is_ok();
        if !ok {
            self.plain.clear();
        }
        Ok(ok)
    }

    /// Makes chunk `index` the decrypted chunk in `self.plain`.
    fn load(&mut self, index: u64) -> io::Result<()> {
        if self.cached == Some(index) {
            return Ok(());
        }
        self.read_ct(index, self.layout.ct_len(index))?;
        if !self.try_decrypt(index, index == self.layout.last_index())? {
            return Err(CryptoError::StreamChunkAuth { index }.into_io());
        }
        self.cached = Some(index);
        Ok(())
    }

    /// Length of the decrypted stream (authenticated by `new`).
    pub fn plaintext_len(&self) -> u64 {
        self.layout.plaintext_len()
    }

    /// Returns the inner reader (its position is unspecified).
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Reads until `buf` is full or EOF; returns the number of bytes read.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl<R: Read + Seek> Read for StreamReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        let len = self.plaintext_len();
        while written < out.len() && self.pos < len {
            let index = self.pos / PT_CHUNK;
            self.load(index)?;
            // Below PT_CHUNK, so it fits in usize.
            let offset = (self.pos % PT_CHUNK) as usize;
            let avail = &self.plain[offset..];
            let n = avail.len().min(out.len() - written);
            out[written..written + n].copy_from_slice(&avail[..n]);
            written += n;
            self.pos += n as u64;
        }
        Ok(written)
    }
}

impl<R: Read + Seek> Seek for StreamReader<R> {
    /// Moves the plaintext position; nothing is decrypted until the next read.
    /// Positions past the end are allowed (reads there return 0 bytes).
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.plaintext_len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position in an encrypted stream",
            )
        })?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_from_body_length() {
        assert_eq!(Layout::of_body(0), None);
        let l = Layout::of_body(16).unwrap();
        assert_eq!((l.chunks, l.last_ct_len, l.plaintext_len()), (1, 16, 0));
        let l = Layout::of_body(17).unwrap();
        assert_eq!((l.chunks, l.last_ct_len, l.plaintext_len()), (1, 17, 1));
        let l = Layout::of_body(CT_CHUNK).unwrap();
        assert_eq!(
            (l.chunks, l.last_ct_len, l.plaintext_len()),
            (1, CT_CHUNK, PT_CHUNK)
        );
        let l = Layout::of_body(CT_CHUNK + 17).unwrap();
        assert_eq!(
            (l.chunks, l.last_ct_len, l.plaintext_len()),
            (2, 17, PT_CHUNK + 1)
        );
        assert_eq!(l.ct_len(0), CT_CHUNK);
        assert_eq!(l.ct_len(1), 17);
        assert_eq!(Layout::chunk_offset(0), 12);
        assert_eq!(Layout::chunk_offset(2), 12 + 2 * CT_CHUNK);
        // A tail shorter than a tag cannot be a chunk.
        let l = Layout::of_body(CT_CHUNK + 5).unwrap();
        assert_eq!((l.chunks, l.last_ct_len), (2, 5));
    }

    #[test]
    fn encrypted_len_matches_layout() {
        for pt in [
            0,
            1,
            PT_CHUNK - 1,
            PT_CHUNK,
            PT_CHUNK + 1,
            3 * PT_CHUNK + 17,
        ] {
            let body = encrypted_len(pt) - STREAM_HEADER_LEN as u64;
            assert_eq!(
                Layout::of_body(body).unwrap().plaintext_len(),
                pt,
                "pt {pt}"
            );
        }
    }

    #[test]
    fn nonce_layout() {
        let prefix = [1, 2, 3, 4, 5, 6, 7];
        let n = chunk_nonce(&prefix, 0x0A0B0C0D, true).unwrap();
        assert_eq!(
            n.as_slice(),
            &[1, 2, 3, 4, 5, 6, 7, 0x0A, 0x0B, 0x0C, 0x0D, 1]
        );
        let n = chunk_nonce(&prefix, 0, false).unwrap();
        assert_eq!(n.as_slice(), &[1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0]);
        assert!(matches!(
            chunk_nonce(&prefix, 1 << 32, false),
            Err(CryptoError::StreamTooLong)
        ));
    }
}
