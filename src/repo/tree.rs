//! Trees: one directory listing, stored as a blob of kind tree.
//!
//! ```text
//! "BCPT" ‖ version 1 ‖ u32 count ‖ count × entry, sorted by name bytes
//! entry: u16 name length ‖ name bytes (raw OS bytes, no '/' or NUL) ‖ kind u8
//!        (0 file, 1 dir, 2 symlink) ‖ mode u32 ‖ uid u32 ‖ gid u32 ‖
//!        mtime seconds i64 ‖ mtime nanoseconds u32 ‖ then by kind:
//!   file:    size u64 ‖ u32 chunk count ‖ chunk ids (32 each)
//!   dir:     subtree id (32)
//!   symlink: u16 target length ‖ target bytes
//! ```
//! Identical directories serialize identically, so an unchanged folder reuses its
//! tree blob and a renamed folder costs only its parent's new tree.

use super::id::BlobId;
use super::wire::{FormatError, Wire, put_bytes16};

const MAGIC: &[u8; 4] = b"BCPT";
const MAX_ENTRIES: usize = 1 << 22;
/// Most chunks one file may list (256 TiB of minimum-size chunks).
const MAX_CHUNKS: usize = 1 << 30;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A regular file: its size and chunks in order.
    File {
        /// Length in bytes.
        size: u64,
        /// Chunk blob ids, concatenated in order they give the content.
        chunks: Vec<BlobId>,
    },
    /// A directory and the tree blob listing it.
    Dir {
        /// Subtree blob id.
        subtree: BlobId,
    },
    /// A symbolic link and its target.
    Symlink {
        /// Raw target bytes.
        target: Vec<u8>,
    },
}

/// One directory entry with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Raw name bytes.
    pub name: Vec<u8>,
    /// Unix permission bits (and type bits as given by the OS).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds part of the modification time.
    pub mtime_nsec: u32,
    /// Kind and kind-specific data.
    pub kind: NodeKind,
}

/// A directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    /// Entries sorted by name.
    pub nodes: Vec<Node>,
}

/// A name that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "name of {len} bytes cannot be stored (longer than 65535 bytes, empty, or contains '/' or NUL)"
)]
pub struct BadName {
    /// Its length.
    pub len: usize,
}

impl Tree {
    /// Sorts entries into canonical order.
    pub fn sort(&mut self) {
        self.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Finds an entry by name.
    pub fn get(&self, name: &[u8]) -> Option<&Node> {
        self.nodes
            .binary_search_by(|n| n.name.as_slice().cmp(name))
            .ok()
            .map(|i| &self.nodes[i])
    }

    /// Canonical bytes (entries must be sorted, see [`Self::sort`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, BadName> {
        let mut out = Vec::with_capacity(16 + self.nodes.len() * 64);
        out.extend_from_slice(MAGIC);
        out.push(1);
        out.extend_from_slice(&(self.nodes.len() as u32).to_be_bytes());
        for n in &self.nodes {
            if !valid_name(&n.name) {
                return Err(BadName { len: n.name.len() });
            }
            put_bytes16(&mut out, &n.name).ok_or(BadName { len: n.name.len() })?;
            let kind = match n.kind {
                NodeKind::File { .. } => 0,
                NodeKind::Dir { .. } => 1,
                NodeKind::Symlink { .. } => 2,
            };
            out.push(kind);
            for v in [n.mode, n.uid, n.gid] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            out.extend_from_slice(&n.mtime.to_be_bytes());
            out.extend_from_slice(&n.mtime_nsec.to_be_bytes());
            match &n.kind {
                NodeKind::File { size, chunks } => {
                    out.extend_from_slice(&size.to_be_bytes());
                    out.extend_from_slice(&(chunks.len() as u32).to_be_bytes());
                    for c in chunks {
                        out.extend_from_slice(&c.0);
                    }
                }
                NodeKind::Dir { subtree } => out.extend_from_slice(&subtree.0),
                NodeKind::Symlink { target } => {
                    put_bytes16(&mut out, target).ok_or(BadName { len: target.len() })?
                }
            }
        }
        Ok(out)
    }

    /// Parses a tree; rejects unsorted or duplicate names.
    pub fn from_bytes(bytes: &[u8]) -> Result<Tree, FormatError> {
        let mut w = Wire::new(bytes, "tree");
        w.magic(MAGIC)?;
        w.version(1)?;
        // The smallest entry: a 1-byte name and a symlink with an empty target
        // (name length, name, kind, mode/uid/gid, mtime, nanoseconds, target length).
        let count = w.count(MAX_ENTRIES, 2 + 1 + 1 + 12 + 8 + 4 + 2)?;
        let mut nodes: Vec<Node> = Vec::with_capacity(count);
        for _ in 0..count {
            let name = w.bytes16()?.to_vec();
            if !valid_name(&name) {
                return Err(w.error("invalid entry name"));
            }
            if nodes.last().is_some_and(|prev| prev.name >= name) {
                return Err(w.error("entries not in strictly sorted order"));
            }
            let kind = w.u8()?;
            let (mode, uid, gid) = (w.u32()?, w.u32()?, w.u32()?);
            let (mtime, mtime_nsec) = (w.i64()?, w.u32()?);
            if mtime_nsec >= 1_000_000_000 {
                return Err(w.error("nanoseconds out of range"));
            }
            let kind = match kind {
                0 => {
                    let size = w.u64()?;
                    let n = w.count(MAX_CHUNKS, 32)?;
                    let mut chunks = Vec::with_capacity(n);
                    for _ in 0..n {
                        chunks.push(BlobId(w.array()?));
                    }
                    NodeKind::File { size, chunks }
                }
                1 => NodeKind::Dir {
                    subtree: BlobId(w.array()?),
                },
                2 => NodeKind::Symlink {
                    target: w.bytes16()?.to_vec(),
                },
                k => return Err(w.error(format!("entry kind {k}"))),
            };
            nodes.push(Node {
                name,
                mode,
                uid,
                gid,
                mtime,
                mtime_nsec,
                kind,
            });
        }
        w.finish()?;
        Ok(Tree { nodes })
    }
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_possible_entry_round_trips() {
        let t = Tree {
            nodes: vec![Node {
                name: b"a".to_vec(),
                mode: 0,
                uid: 0,
                gid: 0,
                mtime: 0,
                mtime_nsec: 0,
                kind: NodeKind::Symlink { target: Vec::new() },
            }],
        };
        let bytes = t.to_bytes().unwrap();
        assert_eq!(Tree::from_bytes(&bytes).unwrap(), t);
    }

    fn node(name: &str, kind: NodeKind) -> Node {
        Node {
            name: name.as_bytes().to_vec(),
            mode: 0o100644,
            uid: 1000,
            gid: 1000,
            mtime: 1_700_000_000,
            mtime_nsec: 5,
            kind,
        }
    }

    #[test]
    fn round_trip_and_order() {
        let mut t = Tree {
            nodes: vec![
                node(
                    "zeta",
                    NodeKind::Symlink {
                        target: b"../a".to_vec(),
                    },
                ),
                node(
                    "売上.xlsx",
                    NodeKind::File {
                        size: 3,
                        chunks: vec![BlobId([1; 32])],
                    },
                ),
                node(
                    "a",
                    NodeKind::Dir {
                        subtree: BlobId([2; 32]),
                    },
                ),
            ],
        };
        t.sort();
        let bytes = t.to_bytes().unwrap();
        assert_eq!(Tree::from_bytes(&bytes).unwrap(), t);
        assert!(t.get("売上.xlsx".as_bytes()).is_some());
        let mut unsorted = t.clone();
        unsorted.nodes.swap(0, 1);
        assert!(Tree::from_bytes(&unsorted.to_bytes().unwrap()).is_err());
    }

    #[test]
    fn bad_names_are_refused() {
        let t = Tree {
            nodes: vec![node(
                "a/b",
                NodeKind::Dir {
                    subtree: BlobId([0; 32]),
                },
            )],
        };
        assert!(t.to_bytes().is_err());
    }
}
