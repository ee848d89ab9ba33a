//! The files cache: lets an incremental backup skip reading files whose size,
//! mtime, ctime and inode are unchanged since the last backup of the same path.
//!
//! DB tree `files`: key HMAC-SHA256(dedup key, "bcpvault/v1/files" ‖ path bytes)
//! — so no file name is stored in the clear — value: size u64 ‖ mtime s i64 ‖
//! mtime ns u32 ‖ ctime s i64 ‖ ctime ns u32 ‖ inode u64 ‖ chunk ids. A hit is used
//! only if every chunk is still in the index.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::id::{BlobHasher, BlobId};

const PREFIX: &[u8] = b"bcpvault/v1/files";
const FIXED: usize = 8 + 12 + 12 + 8;

/// The stat fields that must match for a cache hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
}

impl FileStamp {
    /// The stamp of a file's metadata.
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
        }
    }
}

/// DB key of a path.
pub fn key(hasher: &BlobHasher, path: &Path) -> [u8; 32] {
    let mut buf = PREFIX.to_vec();
    buf.extend_from_slice(path.as_os_str().as_bytes());
    hasher.id(&buf).0
}

/// DB value for a stamp and chunk list.
pub fn encode(stamp: &FileStamp, chunks: &[BlobId]) -> Vec<u8> {
    let mut v = Vec::with_capacity(FIXED + chunks.len() * 32);
    v.extend_from_slice(&stamp.size.to_be_bytes());
    for (s, ns) in [stamp.mtime, stamp.ctime] {
        v.extend_from_slice(&s.to_be_bytes());
        v.extend_from_slice(&(ns as u32).to_be_bytes());
    }
    v.extend_from_slice(&stamp.ino.to_be_bytes());
    for c in chunks {
        v.extend_from_slice(&c.0);
    }
    v
}

/// The chunk list if `value` was recorded for exactly `stamp`.
pub fn lookup(value: &[u8], stamp: &FileStamp) -> Option<Vec<BlobId>> {
    if value.len() < FIXED || !(value.len() - FIXED).is_multiple_of(32) {
        return None;
    }
    let mut expect = encode(stamp, &[]);
    expect.truncate(FIXED);
    if value[..FIXED] != expect[..] {
        return None;
    }
    Some(
        value[FIXED..]
            .chunks_exact(32)
            .map(|c| BlobId(c.try_into().unwrap_or([0; 32])))
            .collect(),
    )
}
