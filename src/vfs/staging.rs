//! Staging: the plaintext of a file while it is open for writing.
//!
//! Content is kept in 64 KiB blocks. Blocks live in memory (zeroized when dropped)
//! while the mount's shared budget (`[mount] staging_memory`) allows; beyond it
//! they go to a temporary file in `<store>/staging/`, each block encrypted with
//! AES-256-GCM under a key that exists only in this process's memory (a fresh
//! random nonce per block write, nonce and tag kept in memory). Plaintext never
//! reaches the disk, and a crash leaves only ciphertext nobody can open; the
//! daemon removes the directory's leftovers at start.
//!
//! Spill file layout: block `i` at offset `i × 65,552` (65,536 ciphertext bytes +
//! 16-byte tag). Blocks never written are holes and read as zeros (sparse files).
//!
//! A block a write stream has sealed into published packs is *released*: the
//! staging forgets its bytes and reads them back through the stream's
//! [`SealedSource`] (decrypting the stream's own packs) should the writer read
//! them or the file fall back to sealing from here. So a file written front to
//! back keeps only what its stream has not sealed yet, not a second copy.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::crypto::Wiped;

use crate::crypto::{SecretKey32, aead, random_bytes};

use super::error::{VfsError, VfsResult};

/// Bytes per staging block.
pub const BLOCK: usize = 64 * 1024;
const SPILL_STRIDE: u64 = (BLOCK + 16) as u64;
const AAD: &[u8] = b"bcpvault/v1/staging";

/// Memory shared by all staged files of one mount.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    used: Arc<AtomicU64>,
    limit: u64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> MemoryBudget {
        MemoryBudget {
            used: Arc::new(AtomicU64::new(0)),
            limit,
        }
    }

    fn take(&self) -> bool {
        let block = BLOCK as u64;
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u + block <= self.limit).then_some(u + block)
            })
            .is_ok()
    }

    fn give(&self, blocks: usize) {
        self.used
            .fetch_sub((blocks * BLOCK) as u64, Ordering::AcqRel);
    }

    /// Bytes in use.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

/// Where released blocks are read back from (a write stream's sealed output).
pub trait SealedSource: Send + Sync {
    /// Exactly `len` plaintext bytes at file offset `offset`, all of them sealed.
    fn read(&self, offset: u64, len: usize) -> VfsResult<Wiped>;
}

enum Block {
    Memory(Wiped),
    Spilled([u8; 12]),
    Sealed(Arc<dyn SealedSource>),
}

struct Spill {
    file: File,
    key: SecretKey32,
}

/// One file's staged plaintext.
pub struct Staging {
    blocks: Vec<Option<Block>>,
    size: u64,
    budget: MemoryBudget,
    spill: Option<Spill>,
    spill_dir: std::path::PathBuf,
    in_memory: usize,
}

impl Staging {
    /// Empty content; spill files go to `spill_dir`.
    pub fn new(budget: MemoryBudget, spill_dir: &Path) -> Staging {
        Staging {
            blocks: Vec::new(),
            size: 0,
            budget,
            spill: None,
            spill_dir: spill_dir.to_path_buf(),
            in_memory: 0,
        }
    }

    /// Current length.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes that went to the encrypted spill file so far (a measure for tests).
    pub fn spilled_blocks(&self) -> usize {
        self.blocks
            .iter()
            .filter(|b| matches!(b, Some(Block::Spilled(_))))
            .count()
    }

    /// Blocks released to a write stream (held only in its packs).
    pub fn sealed_blocks(&self) -> usize {
        self.blocks
            .iter()
            .filter(|b| matches!(b, Some(Block::Sealed(_))))
            .count()
    }

    /// Forgets block `i`'s bytes: `source` holds them sealed. The caller
    /// guarantees that the whole block, as staged now, is what `source` sealed.
    pub fn release(&mut self, i: usize, source: &Arc<dyn SealedSource>) {
        let Some(block) = self.blocks.get_mut(i) else {
            return;
        };
        let was = block.replace(Block::Sealed(source.clone()));
        match was {
            Some(Block::Memory(_)) => {
                self.in_memory -= 1;
                self.budget.give(1);
            }
            Some(Block::Spilled(_)) => {
                if let Some(spill) = &self.spill {
                    free_spilled(&spill.file, i as u64 * SPILL_STRIDE);
                }
            }
            _ => {}
        }
    }

    fn spill_file(&mut self) -> VfsResult<&Spill> {
        if self.spill.is_none() {
            std::fs::create_dir_all(&self.spill_dir)
                .map_err(|e| VfsError::io("create the staging directory", e))?;
            // An anonymous file: unlinked at once, so it vanishes with the process.
            let file = tempfile::tempfile_in(&self.spill_dir)
                .map_err(|e| VfsError::io("create a staging file", e))?;
            self.spill = Some(Spill {
                file,
                key: SecretKey32::random(),
            });
        }
        Ok(self.spill.as_ref().expect("set above"))
    }

    fn read_block(&self, i: usize) -> VfsResult<Wiped> {
        match self.blocks.get(i).and_then(Option::as_ref) {
            None => Ok(Wiped::new(vec![0u8; BLOCK])),
            Some(Block::Memory(b)) => Ok(Wiped::new(b.to_vec())),
            Some(Block::Spilled(nonce)) => {
                let spill = self
                    .spill
                    .as_ref()
                    .ok_or(VfsError::Invalid("spilled block without a spill file"))?;
                let mut ct = vec![0u8; BLOCK + 16];
                spill
                    .file
                    .read_exact_at(&mut ct, i as u64 * SPILL_STRIDE)
                    .map_err(|e| VfsError::io("read a staging file", e))?;
                let plain = aead::open(&spill.key, nonce, AAD, &ct).map_err(|_| {
                    VfsError::Damaged("a staging block failed authentication".into())
                })?;
                Ok(Wiped::new(plain.expose().to_vec()))
            }
            Some(Block::Sealed(source)) => {
                let block = source.read(i as u64 * BLOCK as u64, BLOCK)?;
                if block.len() != BLOCK {
                    return Err(VfsError::Damaged(
                        "a released staging block came back short".into(),
                    ));
                }
                Ok(block)
            }
        }
    }

    fn store_block(&mut self, i: usize, data: Wiped) -> VfsResult<()> {
        if self.blocks.len() <= i {
            self.blocks.resize_with(i + 1, || None);
        }
        let was_memory = matches!(self.blocks[i], Some(Block::Memory(_)));
        if was_memory || self.budget.take() {
            if !was_memory {
                self.in_memory += 1;
            }
            self.blocks[i] = Some(Block::Memory(data));
            return Ok(());
        }
        let nonce: [u8; 12] = random_bytes();
        let spill = self.spill_file()?;
        let ct = aead::seal(&spill.key, &nonce, AAD, &data);
        spill
            .file
            .write_all_at(&ct, i as u64 * SPILL_STRIDE)
            .map_err(|e| VfsError::io("write a staging file", e))?;
        self.blocks[i] = Some(Block::Spilled(nonce));
        Ok(())
    }

    /// Writes `data` at `offset`, growing the file (a gap reads as zeros).
    pub fn write(&mut self, offset: u64, data: &[u8]) -> VfsResult<()> {
        let mut pos = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let i = (pos / BLOCK as u64) as usize;
            let within = (pos % BLOCK as u64) as usize;
            let n = rest.len().min(BLOCK - within);
            let block = if within == 0 && n == BLOCK {
                // A whole block: copied once, not zeroed first.
                Wiped::new(rest[..n].to_vec())
            } else {
                let mut block = self.read_block(i)?;
                block[within..within + n].copy_from_slice(&rest[..n]);
                block
            };
            self.store_block(i, block)?;
            pos += n as u64;
            rest = &rest[n..];
        }
        self.size = self.size.max(offset + data.len() as u64);
        Ok(())
    }

    /// Reads up to `len` bytes at `offset` (short at the end of the file).
    pub fn read(&self, offset: u64, len: usize) -> VfsResult<Vec<u8>> {
        if offset >= self.size {
            return Ok(Vec::new());
        }
        let end = self.size.min(offset + len as u64);
        let mut out = Vec::with_capacity((end - offset) as usize);
        let mut pos = offset;
        while pos < end {
            let i = (pos / BLOCK as u64) as usize;
            let within = (pos % BLOCK as u64) as usize;
            let n = ((end - pos) as usize).min(BLOCK - within);
            match self.blocks.get(i).and_then(Option::as_ref) {
                // Memory blocks are copied straight out; only spilled ones decrypt.
                Some(Block::Memory(b)) => out.extend_from_slice(&b[within..within + n]),
                _ => out.extend_from_slice(&self.read_block(i)?[within..within + n]),
            }
            pos += n as u64;
        }
        Ok(out)
    }

    /// Sets the length: drops blocks past it and zeroes the tail of the last one,
    /// so growing again reads zeros.
    pub fn truncate(&mut self, size: u64) -> VfsResult<()> {
        if size < self.size {
            let keep = size.div_ceil(BLOCK as u64) as usize;
            let freed = self
                .blocks
                .drain(keep.min(self.blocks.len())..)
                .filter(|b| matches!(b, Some(Block::Memory(_))))
                .count();
            self.in_memory -= freed;
            self.budget.give(freed);
            let within = (size % BLOCK as u64) as usize;
            if within != 0 && self.blocks.get(keep - 1).is_some_and(Option::is_some) {
                let mut block = self.read_block(keep - 1)?;
                block[within..].fill(0);
                self.store_block(keep - 1, block)?;
            }
        }
        self.size = size;
        Ok(())
    }

    /// A reader over the whole content (for sealing).
    pub fn reader(&self) -> StagingReader<'_> {
        StagingReader {
            staging: self,
            pos: 0,
        }
    }
}

/// Gives a released block's ciphertext back to the file system (a hole), so a
/// long streamed file's spill file does not grow with it. Best effort: where
/// holes cannot be punched the ciphertext just stays until the file goes.
fn free_spilled(file: &File, at: u64) {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{FallocateFlags, fallocate};
        let flags = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
        if let Err(e) = fallocate(file, flags, at, SPILL_STRIDE) {
            tracing::debug!(error = %e, "cannot punch a hole in a staging file");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, at);
}

impl Drop for Staging {
    fn drop(&mut self) {
        self.budget.give(self.in_memory);
    }
}

/// Sequential reader over a [`Staging`].
pub struct StagingReader<'s> {
    staging: &'s Staging,
    pos: u64,
}

impl Read for StagingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let data = self
            .staging
            .read(self.pos, buf.len())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        buf[..data.len()].copy_from_slice(&data);
        self.pos += data.len() as u64;
        Ok(data.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(budget_blocks: u64) {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(budget_blocks * BLOCK as u64);
        let mut s = Staging::new(budget.clone(), dir.path());
        let mut model = Vec::new();
        let mut seed = 7u64;
        for step in 0..300 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let offset = (seed >> 33) % (5 * BLOCK as u64);
            let len = ((seed >> 13) % (2 * BLOCK as u64)) as usize;
            if step % 17 == 0 {
                let size = (seed >> 20) % (6 * BLOCK as u64);
                s.truncate(size).unwrap();
                model.resize(size as usize, 0);
                continue;
            }
            let data: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed) as u8).collect();
            s.write(offset, &data).unwrap();
            let end = offset as usize + len;
            if model.len() < end {
                model.resize(end, 0);
            }
            model[offset as usize..end].copy_from_slice(&data);
            assert_eq!(s.size(), model.len() as u64);
        }
        let mut all = Vec::new();
        s.reader().read_to_end(&mut all).unwrap();
        assert_eq!(all, model);
        assert_eq!(s.read(3, 100).unwrap(), model[3..103.min(model.len())]);
        if budget_blocks < 4 {
            assert!(s.spilled_blocks() > 0, "nothing spilled");
        }
        drop(s);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn random_writes_and_truncates_match_a_model_in_memory() {
        check(1 << 20);
    }

    #[test]
    fn random_writes_and_truncates_match_a_model_when_spilling() {
        check(1);
    }
}
