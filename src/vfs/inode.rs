//! Inode records: what the file server knows about each entry of the vault drive.
//!
//! Stored in the DB tree `vfs-inodes`, key = inode number (u64 BE), value:
//! ```text
//! kind u8 (0 file, 1 dir, 2 symlink) ‖ mode u32 ‖ uid u32 ‖ gid u32 ‖
//! mtime ns i64 ‖ ctime ns i64 ‖ parent inode u64 ‖ then by kind:
//!   file:    size u64 ‖ u32 chunk count ‖ count × (chunk id 32 ‖ plaintext length u32)
//!   dir:     nothing (entries live in `vfs-dirents`)
//!   symlink: u32 length ‖ target bytes
//! ```
//! Names, sizes and times are local metadata by design (employees browse the sealed
//! drive); contents exist only as encrypted chunks in packs. Chunk ids are keyed
//! HMACs and reveal nothing without the dedup key.

use crate::repo::BlobId;
use crate::repo::wire::{FormatError, Wire};

/// An inode number. 1 is the root directory.
pub type Ino = u64;

/// The root directory's inode.
pub const ROOT: Ino = 1;

/// What an inode is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InodeKind {
    /// A regular file and its sealed content.
    File {
        /// Length in bytes.
        size: u64,
        /// Chunks in order with their plaintext lengths (sum = size).
        chunks: Vec<(BlobId, u32)>,
    },
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink {
        /// Raw target bytes.
        target: Vec<u8>,
    },
}

/// One inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Its number.
    pub ino: Ino,
    /// Kind and content.
    pub kind: InodeKind,
    /// Permission bits (without the type bits).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Directory holding it (the root is its own parent).
    pub parent: Ino,
}

impl Inode {
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, InodeKind::Dir)
    }

    /// Content length (files), target length (symlinks), 0 for directories.
    pub fn size(&self) -> u64 {
        match &self.kind {
            InodeKind::File { size, .. } => *size,
            InodeKind::Dir => 0,
            InodeKind::Symlink { target } => target.len() as u64,
        }
    }

    /// The DB value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let kind = match self.kind {
            InodeKind::File { .. } => 0u8,
            InodeKind::Dir => 1,
            InodeKind::Symlink { .. } => 2,
        };
        out.push(kind);
        out.extend_from_slice(&self.mode.to_be_bytes());
        out.extend_from_slice(&self.uid.to_be_bytes());
        out.extend_from_slice(&self.gid.to_be_bytes());
        out.extend_from_slice(&self.mtime_ns.to_be_bytes());
        out.extend_from_slice(&self.ctime_ns.to_be_bytes());
        out.extend_from_slice(&self.parent.to_be_bytes());
        match &self.kind {
            InodeKind::File { size, chunks } => {
                out.extend_from_slice(&size.to_be_bytes());
                out.extend_from_slice(&(chunks.len() as u32).to_be_bytes());
                for (id, len) in chunks {
                    out.extend_from_slice(&id.0);
                    out.extend_from_slice(&len.to_be_bytes());
                }
            }
            InodeKind::Dir => {}
            InodeKind::Symlink { target } => {
                out.extend_from_slice(&(target.len() as u32).to_be_bytes());
                out.extend_from_slice(target);
            }
        }
        out
    }

    /// Parses a DB value.
    pub fn decode(ino: Ino, bytes: &[u8]) -> Result<Inode, FormatError> {
        let mut w = Wire::new(bytes, "inode record");
        let kind = w.u8()?;
        let mode = w.u32()?;
        let uid = w.u32()?;
        let gid = w.u32()?;
        let mtime_ns = w.i64()?;
        let ctime_ns = w.i64()?;
        let parent = w.u64()?;
        let kind = match kind {
            0 => {
                let size = w.u64()?;
                let n = w.count(1 << 30, 36)?;
                let mut chunks = Vec::with_capacity(n);
                for _ in 0..n {
                    chunks.push((BlobId(w.array()?), w.u32()?));
                }
                InodeKind::File { size, chunks }
            }
            1 => InodeKind::Dir,
            2 => InodeKind::Symlink {
                target: w.bytes32()?.to_vec(),
            },
            other => return Err(w.error(format!("inode kind {other}"))),
        };
        w.finish()?;
        Ok(Inode {
            ino,
            kind,
            mode,
            uid,
            gid,
            mtime_ns,
            ctime_ns,
            parent,
        })
    }
}

/// Where `offset` falls in a chunk list: (chunk index, offset inside it, chunk start).
/// `None` at or past the end.
pub fn locate_chunk(chunks: &[(BlobId, u32)], offset: u64) -> Option<(usize, u64, u64)> {
    let mut start = 0u64;
    for (i, (_, len)) in chunks.iter().enumerate() {
        let end = start + u64::from(*len);
        if offset < end {
            return Some((i, offset - start, start));
        }
        start = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Inode {
        Inode {
            ino: 7,
            kind: InodeKind::File {
                size: 30,
                chunks: vec![(BlobId([1; 32]), 10), (BlobId([2; 32]), 20)],
            },
            mode: 0o644,
            uid: 1000,
            gid: 100,
            mtime_ns: -5,
            ctime_ns: 1_700_000_000_000_000_000,
            parent: 1,
        }
    }

    #[test]
    fn records_round_trip_and_truncations_are_errors() {
        let mut link = file();
        link.kind = InodeKind::Symlink {
            target: b"../x".to_vec(),
        };
        let mut dir = file();
        dir.kind = InodeKind::Dir;
        for inode in [file(), link, dir] {
            let bytes = inode.encode();
            assert_eq!(Inode::decode(7, &bytes).unwrap(), inode);
            for cut in 0..bytes.len() {
                assert!(Inode::decode(7, &bytes[..cut]).is_err());
            }
        }
    }

    #[test]
    fn offsets_map_to_the_right_chunk() {
        let InodeKind::File { chunks, .. } = file().kind else {
            unreachable!()
        };
        assert_eq!(locate_chunk(&chunks, 0), Some((0, 0, 0)));
        assert_eq!(locate_chunk(&chunks, 9), Some((0, 9, 0)));
        assert_eq!(locate_chunk(&chunks, 10), Some((1, 0, 10)));
        assert_eq!(locate_chunk(&chunks, 29), Some((1, 19, 10)));
        assert_eq!(locate_chunk(&chunks, 30), None);
    }
}
