//! The repository `config` object: what a reader needs to know before any key.
//!
//! ```text
//! "BCPC" ‖ version 1 ‖ vault id (16) ‖ vault public key fingerprint (32)
//!   ‖ chunker min u32 ‖ avg u32 ‖ max u32 ‖ u8 length ‖ vault name
//! ```
//! The gear seed is secret (it would reveal chunk boundaries) and stays in the
//! writer secrets and the recovery bundle.

use crate::keys::RecoveryBundle;

use super::chunker::{AVG_CHUNK, MAX_CHUNK, MIN_CHUNK};
use super::wire::{FormatError, Wire};

const MAGIC: &[u8; 4] = b"BCPC";

/// The parsed `config` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfig {
    /// Vault id.
    pub vault_id: [u8; 16],
    /// SHA-256 of the vault public key.
    pub fingerprint: [u8; 32],
    /// Chunk size bounds (min, avg, max).
    pub chunk_sizes: [u32; 3],
    /// Vault name.
    pub vault_name: String,
}

impl RepoConfig {
    /// The config of the vault a bundle describes.
    pub fn for_bundle(bundle: &RecoveryBundle) -> RepoConfig {
        RepoConfig {
            vault_id: bundle.vault_id,
            fingerprint: bundle.fingerprint(),
            chunk_sizes: [MIN_CHUNK as u32, AVG_CHUNK as u32, MAX_CHUNK as u32],
            vault_name: bundle.vault_name.clone(),
        }
    }

    /// Object bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.push(1);
        out.extend_from_slice(&self.vault_id);
        out.extend_from_slice(&self.fingerprint);
        for s in self.chunk_sizes {
            out.extend_from_slice(&s.to_be_bytes());
        }
        let name = self.vault_name.as_bytes();
        out.push(name.len().min(255) as u8);
        out.extend_from_slice(&name[..name.len().min(255)]);
        out
    }

    /// Parses a `config` object.
    pub fn from_bytes(bytes: &[u8]) -> Result<RepoConfig, FormatError> {
        let mut w = Wire::new(bytes, "config");
        w.magic(MAGIC)?;
        w.version(1)?;
        let vault_id = w.array()?;
        let fingerprint = w.array()?;
        let chunk_sizes = [w.u32()?, w.u32()?, w.u32()?];
        let n = w.u8()? as usize;
        let vault_name = String::from_utf8(w.take(n)?.to_vec())
            .map_err(|_| w.error("vault name is not UTF-8"))?;
        w.finish()?;
        Ok(RepoConfig {
            vault_id,
            fingerprint,
            chunk_sizes,
            vault_name,
        })
    }
}
