//! The redo journal: sled writes that must survive a crash of this process before
//! the next (costly) sled flush.
//!
//! sled buffers writes in process memory, so a `kill -9` loses whatever was not
//! flushed, and a flush costs an fsync. The mount has to promise that a file whose
//! `close()` returned survives `kill -9`, and copying thousands of small files must
//! not pay an fsync each. So every batch of sled writes is first appended to this
//! journal with one `write(2)` (in the kernel once it returns: survives the process),
//! then applied to sled. A group commit (at most every second, and on `fsync()`)
//! fsyncs the objects the batches name, flushes sled and empties the journal. At open,
//! a non-empty journal is replayed into sled.
//!
//! ```text
//! file   := record*
//! record := u32 body length ‖ first 8 bytes of SHA-256(body) ‖ body
//! body   := u16 object count ‖ object* ‖ u32 op count ‖ op*
//! object := u16 length ‖ object name        (objects the batch needs to exist)
//! op     := u8 kind (1 put, 2 delete) ‖ u8 tree length ‖ tree name ‖
//!           u32 key length ‖ key ‖ [put: u32 value length ‖ value]
//! ```
//! Replay stops at the first torn record (bad length or checksum, the tail of a power
//! loss) and at the first batch naming an object that is missing or does not hash to
//! its name: later batches may build on it, so only a consistent prefix is applied.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use sha2::{Digest, Sha256};

use super::wire::{FormatError, Wire};

/// One write to a named sled tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalOp {
    /// Insert or replace `key` with `value`.
    Put {
        /// sled tree name.
        tree: String,
        /// Key bytes.
        key: Vec<u8>,
        /// Value bytes.
        value: Vec<u8>,
    },
    /// Remove `key`.
    Delete {
        /// sled tree name.
        tree: String,
        /// Key bytes.
        key: Vec<u8>,
    },
}

/// Writes applied together: all of them after a crash, or none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Repository objects (pack names) this batch refers to.
    pub requires: Vec<String>,
    /// The writes, in order.
    pub ops: Vec<JournalOp>,
}

impl Batch {
    /// Adds a put.
    pub fn put(&mut self, tree: &str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(JournalOp::Put {
            tree: tree.to_string(),
            key: key.into(),
            value: value.into(),
        });
    }

    /// Adds a delete.
    pub fn delete(&mut self, tree: &str, key: impl Into<Vec<u8>>) {
        self.ops.push(JournalOp::Delete {
            tree: tree.to_string(),
            key: key.into(),
        });
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The record body (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.requires.len() as u16).to_be_bytes());
        for name in &self.requires {
            out.extend_from_slice(&(name.len() as u16).to_be_bytes());
            out.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(&(self.ops.len() as u32).to_be_bytes());
        for op in &self.ops {
            let (kind, tree, key, value) = match op {
                JournalOp::Put { tree, key, value } => (1u8, tree, key, Some(value)),
                JournalOp::Delete { tree, key } => (2u8, tree, key, None),
            };
            out.push(kind);
            out.push(tree.len() as u8);
            out.extend_from_slice(tree.as_bytes());
            out.extend_from_slice(&(key.len() as u32).to_be_bytes());
            out.extend_from_slice(key);
            if let Some(v) = value {
                out.extend_from_slice(&(v.len() as u32).to_be_bytes());
                out.extend_from_slice(v);
            }
        }
        out
    }

    /// Parses a record body.
    pub fn decode(body: &[u8]) -> Result<Batch, FormatError> {
        let mut w = Wire::new(body, "journal record");
        let mut batch = Batch::default();
        for _ in 0..w.u16()? {
            let name = w.bytes16()?;
            let name = std::str::from_utf8(name).map_err(|_| w.error("object name not UTF-8"))?;
            batch.requires.push(name.to_string());
        }
        let count = w.count(1 << 24, 6)?;
        for _ in 0..count {
            let kind = w.u8()?;
            let tree_len = w.u8()? as usize;
            let tree = std::str::from_utf8(w.take(tree_len)?)
                .map_err(|_| w.error("tree name not UTF-8"))?
                .to_string();
            let key = w.bytes32()?.to_vec();
            match kind {
                1 => {
                    let value = w.bytes32()?.to_vec();
                    batch.ops.push(JournalOp::Put { tree, key, value });
                }
                2 => batch.ops.push(JournalOp::Delete { tree, key }),
                other => return Err(w.error(format!("op kind {other}"))),
            }
        }
        w.finish()?;
        Ok(batch)
    }
}

/// Frames a body as a record.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&Sha256::digest(body)[..8]);
    out.extend_from_slice(body);
    out
}

/// Splits a journal file into the batches of its intact prefix.
pub fn parse(bytes: &[u8]) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 12 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(body) = rest.get(12..12 + len) else {
            break;
        };
        if Sha256::digest(body)[..8] != rest[4..12] {
            break;
        }
        match Batch::decode(body) {
            Ok(b) => out.push(b),
            Err(_) => break,
        }
        rest = &rest[12 + len..];
    }
    out
}

/// The open journal file.
///
/// Appending a batch and applying it to sled happen under a shared gate
/// ([`AppendGuard`]); a checkpoint holds the gate closed from before its flush
/// until the journal is empty, so sled never durably holds a batch whose objects
/// the checkpoint did not make durable (a pack published meanwhile), and every
/// batch in the journal is applied before the flush.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    gate: RwLock<()>,
}

/// Held from a batch's append until it is applied to sled (see [`Journal`]).
pub struct AppendGuard<'a> {
    _gate: RwLockReadGuard<'a, ()>,
}

impl Journal {
    /// Opens (creating) the journal at `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            gate: RwLock::new(()),
        })
    }

    /// The batches currently in the journal (its intact prefix).
    pub fn read_all(&self) -> std::io::Result<Vec<Batch>> {
        let mut bytes = Vec::new();
        File::open(&self.path)?.read_to_end(&mut bytes)?;
        Ok(parse(&bytes))
    }

    /// Appends one batch with a single `write(2)`; when this returns the batch
    /// survives a crash of the process (not yet a power loss). Apply it to sled
    /// before dropping the guard.
    pub fn append(&self, batch: &Batch) -> std::io::Result<AppendGuard<'_>> {
        let gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let record = frame(&batch.encode());
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&record)?;
        Ok(AppendGuard { _gate: gate })
    }

    /// Runs `checkpoint` once every appended batch is applied and while no new
    /// one can be, then empties the journal. `checkpoint` must make everything
    /// journaled so far durable elsewhere. A failure to empty the journal goes
    /// through `io_error`.
    pub fn checkpoint<E>(
        &self,
        checkpoint: impl FnOnce() -> Result<(), E>,
        io_error: impl FnOnce(std::io::Error) -> E,
    ) -> Result<(), E> {
        let _gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
        checkpoint()?;
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.set_len(0).map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Batch {
        let mut b = Batch {
            requires: vec!["data/ab/abcd".into()],
            ..Batch::default()
        };
        b.put("index", vec![1, 2, 3], vec![9; 40]);
        b.delete("vfs-dirents", b"x\0name".to_vec());
        b
    }

    #[test]
    fn batches_round_trip_through_the_file_format() {
        let a = sample();
        let mut file = frame(&a.encode());
        file.extend(frame(&Batch::default().encode()));
        assert_eq!(parse(&file), vec![a, Batch::default()]);
    }

    #[test]
    fn a_torn_or_flipped_tail_ends_replay_at_the_last_intact_record() {
        let a = sample();
        let one = frame(&a.encode());
        let mut two = one.clone();
        two.extend(frame(&a.encode()));
        for cut in one.len()..two.len() {
            assert_eq!(parse(&two[..cut]).len(), 1, "cut at {cut}");
        }
        let mut flipped = two.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(parse(&flipped).len(), 1);
    }

    fn numbered(n: u8) -> Batch {
        let mut b = Batch::default();
        b.put("t", vec![n], vec![n]);
        b
    }

    #[test]
    fn a_checkpoint_waits_for_a_batch_being_applied() {
        let dir = tempfile::tempdir().unwrap();
        let j = std::sync::Arc::new(Journal::open(&dir.path().join("journal")).unwrap());
        let applying = j.append(&numbered(1)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let j2 = j.clone();
        let t = std::thread::spawn(move || {
            j2.checkpoint(
                || -> Result<(), std::io::Error> {
                    tx.send(()).unwrap();
                    Ok(())
                },
                |e| e,
            )
            .unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            rx.try_recv().is_err(),
            "the checkpoint ran while a batch was still being applied"
        );
        drop(applying);
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        t.join().unwrap();
        assert!(j.read_all().unwrap().is_empty());
    }

    #[test]
    fn a_failed_checkpoint_keeps_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("journal")).unwrap();
        drop(j.append(&numbered(1)).unwrap());
        let failed = j.checkpoint(|| Err(std::io::Error::other("disk full")), |e| e);
        assert!(failed.is_err());
        drop(j.append(&numbered(2)).unwrap());
        assert_eq!(j.read_all().unwrap(), vec![numbered(1), numbered(2)]);
    }
}
