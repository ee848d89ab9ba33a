//! Blobs: one chunk or tree, compressed (zstd) and then encrypted (AES-256-GCM)
//! under its pack's session key.
//!
//! Nonce: `00 00 00 00 ‖ u64 BE blob index in the pack` (the header uses prefix
//! `00 00 00 01`), so nonces never repeat under a key — each pack has a fresh
//! random key. Associated data: `"bcpvault/v1/blob" ‖ kind ‖ blob id`, so a blob
//! cannot be swapped for another or a tree passed off as data.

use std::cell::RefCell;

use crate::crypto::{SecretBytes, SecretKey32, aead};

use super::id::{BlobId, BlobKind};

/// How a blob's plaintext is stored inside its ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is (it did not shrink).
    Raw,
    /// zstd frame.
    Zstd,
}

impl Compression {
    /// Wire byte: 0 raw, 1 zstd.
    pub fn byte(self) -> u8 {
        match self {
            Compression::Raw => 0,
            Compression::Zstd => 1,
        }
    }

    /// Inverse of [`Self::byte`].
    pub fn from_byte(b: u8) -> Option<Compression> {
        match b {
            0 => Some(Compression::Raw),
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// A blob ready to be encrypted into a pack.
pub struct PreparedBlob {
    /// Data or tree.
    pub kind: BlobKind,
    /// Keyed hash of the plaintext.
    pub id: BlobId,
    /// Plaintext length.
    pub raw_len: u32,
    /// How `body` encodes the plaintext.
    pub compression: Compression,
    /// Compressed or raw plaintext (wiped on drop: it may be the plaintext).
    pub body: SecretBytes,
}

/// Size of the prefix tried first to decide whether a large chunk compresses.
const PROBE: usize = 64 * 1024;

/// Chunks at least this long and at most `4 * PROBE` are judged by the byte
/// entropy of a sample instead of a zstd probe: a probe would cost a quarter to
/// all of the compression it tries to avoid.
const SAMPLED_MIN: usize = 4 * 1024;

/// Bytes of a small chunk whose histogram is measured (start, middle and end).
const SAMPLE: usize = 4 * 1024;

/// Byte entropy (bits per byte) from which a sample counts as incompressible.
/// Random bytes measure about 7.95 on a 4 KiB sample; text 4–5.5; executables
/// and office files with embedded images 5–7.3. zstd gains under 5 % above 7.6.
const INCOMPRESSIBLE_BITS: f64 = 7.6;

/// Compresses `plain` at `level` unless that does not help. Incompressible data
/// (media, archives, already encrypted files) costs almost nothing: large chunks
/// are probed on their first 64 KiB, smaller ones judged by byte entropy.
pub fn prepare(kind: BlobKind, id: BlobId, plain: Vec<u8>, level: i32) -> PreparedBlob {
    let raw = |plain: Vec<u8>| PreparedBlob {
        kind,
        id,
        raw_len: plain.len() as u32,
        compression: Compression::Raw,
        body: SecretBytes::new(plain),
    };
    if plain.len() > 4 * PROBE {
        match compress(&plain[..PROBE], 1) {
            Ok(probe) if probe.len() * 100 < PROBE * 97 => {}
            _ => return raw(plain),
        }
    } else if plain.len() >= SAMPLED_MIN && looks_random(&plain) {
        return raw(plain);
    }
    match compress(&plain, level) {
        Ok(packed) if packed.len() < plain.len() => PreparedBlob {
            kind,
            id,
            raw_len: plain.len() as u32,
            compression: Compression::Zstd,
            body: SecretBytes::new(packed),
        },
        _ => raw(plain),
    }
}

/// Whether samples from the start, middle and end of `data` (at least
/// [`SAMPLED_MIN`] bytes) have byte entropy of at least [`INCOMPRESSIBLE_BITS`].
fn looks_random(data: &[u8]) -> bool {
    let third = SAMPLE / 3;
    let mid = data.len() / 2 - third / 2;
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for part in [
        &data[..third],
        &data[mid..mid + third],
        &data[data.len() - third..],
    ] {
        for &b in part {
            counts[usize::from(b)] += 1;
        }
        n += part.len() as u32;
    }
    let n = f64::from(n);
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    bits >= INCOMPRESSIBLE_BITS
}

thread_local! {
    /// One zstd context per thread, reused: creating one per blob (its tables run
    /// to megabytes) cost more than compressing a small file.
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// zstd at `level`, with this thread's reused context. Same output as
/// `zstd::bulk::compress` (the frame depends only on level and input).
fn compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    ZSTD.with(|cell| {
        let mut cell = cell.borrow_mut();
        let ctx = match cell.as_mut() {
            Some(ctx) => {
                ctx.set_compression_level(level)?;
                ctx
            }
            None => cell.insert(zstd::bulk::Compressor::new(level)?),
        };
        ctx.compress(data)
    })
}

/// Nonce of blob number `index` in a pack.
pub fn blob_nonce(index: u32) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&u64::from(index).to_be_bytes());
    n
}

/// Associated data binding kind and id.
pub fn blob_aad(kind: BlobKind, id: &BlobId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + 1 + 32);
    aad.extend_from_slice(b"bcpvault/v1/blob");
    aad.push(kind.byte());
    aad.extend_from_slice(&id.0);
    aad
}

/// Encrypts a prepared blob as blob number `index` of a pack, appending the
/// ciphertext to `out` (the pack being built).
pub fn seal_into(key: &SecretKey32, index: u32, blob: &PreparedBlob, out: &mut Vec<u8>) {
    aead::seal_append(
        key,
        &blob_nonce(index),
        &blob_aad(blob.kind, &blob.id),
        blob.body.expose(),
        out,
    )
}

/// Why a blob could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// Authentication failed: wrong key, position, id or modified bytes.
    #[error("blob {0} failed authentication (modified, misplaced or wrong key)")]
    Authentication(String),
    /// The zstd frame is damaged or does not match the stated size.
    #[error("blob {0} does not decompress to its recorded size")]
    Decompress(String),
    /// The plaintext does not hash to the blob id.
    #[error("blob {0} content does not match its id")]
    WrongId(String),
}

/// Decrypts and decompresses blob number `index`; checks the length.
pub fn open(
    key: &SecretKey32,
    index: u32,
    kind: BlobKind,
    id: &BlobId,
    compression: Compression,
    raw_len: u32,
    ct: &[u8],
) -> Result<SecretBytes, BlobError> {
    let body = aead::open(key, &blob_nonce(index), &blob_aad(kind, id), ct)
        .map_err(|_| BlobError::Authentication(id.short()))?;
    let plain = match compression {
        Compression::Raw => body,
        Compression::Zstd => SecretBytes::new(
            zstd::bulk::decompress(body.expose(), raw_len as usize)
                .map_err(|_| BlobError::Decompress(id.short()))?,
        ),
    };
    if plain.len() != raw_len as usize {
        return Err(BlobError::Decompress(id.short()));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reused_context_writes_the_same_frames_as_a_fresh_one() {
        let inputs: Vec<Vec<u8>> = (0..6u8)
            .map(|i| {
                format!("row {i}; amount 1,200 JPY; ")
                    .repeat(500 + usize::from(i) * 37)
                    .into_bytes()
            })
            .collect();
        // Alternate levels as the probe does (1, then the profile's level).
        for (n, input) in inputs.iter().enumerate() {
            let level = if n % 2 == 0 { 1 } else { 19 };
            let ours = compress(input, level).unwrap();
            assert_eq!(
                ours,
                zstd::bulk::compress(input, level).unwrap(),
                "input {n}"
            );
            assert_eq!(zstd::bulk::decompress(&ours, input.len()).unwrap(), *input);
        }
    }

    #[test]
    fn compressible_shrinks_and_random_stays_raw() {
        let text = b"quarterly report ".repeat(10_000);
        let b = prepare(BlobKind::Data, BlobId([1; 32]), text.clone(), 3);
        assert_eq!(b.compression, Compression::Zstd);
        assert!(b.body.len() < text.len() / 10);
        let mut state = 88_172_645_463_325_252u64;
        let noise: Vec<u8> = (0..600_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        let r = prepare(BlobKind::Data, BlobId([2; 32]), noise, 3);
        assert_eq!(r.compression, Compression::Raw);
    }

    #[test]
    fn small_chunks_are_judged_by_byte_entropy() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..48 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        assert!(looks_random(&noise));
        let r = prepare(BlobKind::Data, BlobId([3; 32]), noise.clone(), 3);
        assert_eq!(r.compression, Compression::Raw);
        assert_eq!(r.body.expose(), &noise[..]);

        let csv: Vec<u8> = (0..2_000)
            .flat_map(|i| format!("{i},tanaka,{},JPY\n", i * 37 % 9_973).into_bytes())
            .collect();
        assert!(csv.len() > SAMPLED_MIN && csv.len() < 4 * PROBE);
        assert!(!looks_random(&csv));
        let t = prepare(BlobKind::Data, BlobId([4; 32]), csv.clone(), 3);
        assert_eq!(t.compression, Compression::Zstd);
        assert!(t.body.len() < csv.len() / 2);

        // Random bytes in the middle of text are not enough to skip compression.
        let mut mixed = csv.clone();
        let mid = mixed.len() / 2;
        mixed[mid - 2_000..mid + 2_000].copy_from_slice(&noise[..4_000]);
        assert!(!looks_random(&mixed));
    }

    #[test]
    fn seal_open_binds_position_kind_and_id() {
        let key = SecretKey32::random();
        let id = BlobId([9; 32]);
        let blob = prepare(BlobKind::Data, id, b"hello ".repeat(100), 3);
        let mut ct = Vec::new();
        seal_into(&key, 3, &blob, &mut ct);
        let open_with = |index, kind, id: &BlobId| {
            open(&key, index, kind, id, blob.compression, blob.raw_len, &ct)
        };
        assert_eq!(
            open_with(3, BlobKind::Data, &id).unwrap().expose(),
            &b"hello ".repeat(100)[..]
        );
        assert!(open_with(4, BlobKind::Data, &id).is_err());
        assert!(open_with(3, BlobKind::Tree, &id).is_err());
        assert!(open_with(3, BlobKind::Data, &BlobId([8; 32])).is_err());
    }
}
